"""budget set: the balances that have no API (Copilot, Gemini, Anthropic API credits),
the alert thresholds, the spend limits and the index's retention. The balances'
validation and writes are shared with the dashboard's forms (`commands.apply_balance`,
`state/balances.py`); limits and retention are settings of budget.json, committed."""

from __future__ import annotations

from .. import paths
from ..errors import BudgetError
from ..state import budget_file
from ..state.balances import FIELDS
from . import Result, apply_balance, save_history


SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9}


def limit_value(value: str, flag: str, unit: str) -> float | None:
    """A limit: a number above 0 ('5M', '200k' for tokens), or 'off' (None)."""
    text = value.strip().lower()
    if text == "off":
        return None
    scale = SUFFIXES.get(text[-1:], 1) if unit == "tokens" else 1
    number = budget_file.parse_count(value.strip()[:-1] if scale != 1 else value.strip(), flag)
    if not number:
        raise BudgetError(f"{flag}: must be a number above 0 or 'off', got {value!r}")
    number *= scale
    if number > budget_file.MAX_NUMBER:
        raise BudgetError(f"{flag}: {value!r} is too large")
    return int(number) if float(number).is_integer() else round(number, 2)


def set_limits(args, now, budget, warnings) -> str:
    from ..analysis.limits import LABELS, PERIODS, quantity

    lim = budget["limits"]
    if args.unit is not None:
        if args.unit not in budget_file.LIMIT_UNITS:
            raise BudgetError(f"--unit: must be one of {', '.join(budget_file.LIMIT_UNITS)}, got {args.unit!r}")
        kept = [p for p in PERIODS if lim[p] is not None and getattr(args, p) is None]
        if args.unit != lim["unit"] and kept:
            raise BudgetError(f"--unit {args.unit}: give the {', '.join(kept)} limit(s) in {args.unit} too, or 'off'")
        lim["unit"] = args.unit
    for period in PERIODS:
        value = getattr(args, period)
        if value is not None:
            lim[period] = limit_value(value, f"--{period}", lim["unit"])
    for key in ("warn_at", "critical_at"):
        value = budget_file.parse_count(getattr(args, key), "--" + key.replace("_", "-"))
        if value is not None:
            lim[key] = value
    if not 0 < lim["warn_at"] < lim["critical_at"] <= 100:
        raise BudgetError("limits: need 0 < --warn-at < --critical-at ≤ 100")
    set_ = [f"{LABELS[p]} {quantity(lim[p], lim['unit'])}" for p in PERIODS if lim[p] is not None]
    if not set_:
        return "Spend limits: none set"
    what = "API-equivalent dollars (an estimate; a subscription has no per-token bill)" if lim["unit"] == "usd" \
        else "tokens (all kinds)"
    return (f"Spend limits in {what}: {', '.join(set_)}; warning at {lim['warn_at']}%, "
            f"critical at {lim['critical_at']}%")


def retention_days(value: str) -> int | None:
    text = value.strip().lower()
    if text == "off":
        return None
    try:
        days = int(text)
    except ValueError:
        raise BudgetError(f"--days: must be a whole number of days or 'off', got {value!r}") from None
    if not budget_file.MIN_RETENTION_DAYS <= days <= budget_file.MAX_RETENTION_DAYS:
        raise BudgetError(f"--days: must be from {budget_file.MIN_RETENTION_DAYS} (this month's and this week's "
                          f"days stay whole for the limits) to {budget_file.MAX_RETENTION_DAYS}, got {value!r}")
    return days


def set_retention(args, now, budget, warnings) -> str:
    days = budget["retention"]["days"] = retention_days(args.days)
    if days is None:
        return "Retention: the index keeps every response"
    return f"Retention: the index keeps per-response rows of the last {days} UTC days; history/ keeps every day"


SETTINGS = {"limits": set_limits, "retention": set_retention}


def run(args, now) -> Result:
    if args.what not in SETTINGS:
        return apply_balance(args.what, {key: getattr(args, key) for key in FIELDS[args.what]}, now)
    from ..outputs import gitrepo

    warnings: list[str] = []
    # Retention: the history first, so it holds every day about to go (a malformed one stops here, nothing changed).
    pruning = args.what == "retention" and retention_days(args.days) is not None
    if pruning:
        _save_history(now, warnings)
    with budget_file.update(paths.budget_file()) as budget:
        text = SETTINGS[args.what](args, now, budget, warnings)
        section = dict(budget[args.what])
    data = {args.what: section}
    git = data["commit"] = gitrepo.commit(paths.budget_home(), [paths.budget_file()], f"settings: {text}")
    warnings += [] if git["committed"] else [n for n in git["notes"] if "nothing to commit" not in n]
    if pruning:
        from ..state import retention

        pruned = data["pruned"] = retention.prune(budget, now, paths.budget_home(), paths.machine_id(), force=True)
        text += f"\nPruned {pruned['rows']:,} response row(s) of {pruned['sessions']:,} session(s)"
        if pruned["kept_uncovered"]:
            text += f"; kept {pruned['kept_uncovered']:,} old session(s) whose days the history does not hold in full"
    return Result(data=data, text=text, warnings=warnings)


def _save_history(now, warnings: list) -> None:
    """The index up to date, then merged into this machine's history file and committed (as `report --save`)."""
    from .. import core

    core.synced_prices(budget_file.load(paths.budget_file()))
    saved = save_history(paths.budget_home(), paths.machine_id(), now)
    warnings += [n for n in saved["commit"]["notes"] if saved["changed"] and not saved["commit"]["committed"]]
