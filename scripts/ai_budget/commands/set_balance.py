"""budget set: the manual balances that have no API (Copilot, Gemini), alerts, spend
limits and the index's retention."""

from __future__ import annotations

from datetime import datetime, timezone

from .. import paths
from ..errors import BudgetError
from ..state import budget_file
from ..timefmt import iso, parse_iso
from . import Result, save_history

# GitHub Copilot's monthly allowances per plan: AI Credits since 2026-06-01, premium
# requests for legacy annual subscribers.
COPILOT_ALLOWANCES = {
    ("free", "premium_requests"): 50,
    ("pro", "premium_requests"): 300,
    ("pro+", "premium_requests"): 1500,
    ("pro", "credits"): 1500,
    ("pro+", "credits"): 7000,
    ("max", "credits"): 20000,
}


def next_month_start(now: datetime) -> datetime:
    """Copilot allowances reset on the 1st at 00:00 UTC."""
    now = now.astimezone(timezone.utc)
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return datetime(year, month, 1, tzinfo=timezone.utc)


def _date(value: str | None, flag: str) -> str | None:
    if value is None:
        return None
    parsed = parse_iso(value if "T" in value else value + "T00:00:00+00:00")
    if parsed is None:
        raise BudgetError(f"{flag}: expected a date like 2026-12-01, got {value!r}")
    return iso(parsed)


def _used_vs_limit(section: dict, name: str, warnings: list) -> None:
    used, limit = section.get("used"), section.get("limit")
    if used is not None and limit is not None and used > limit:
        warnings.append(f"{name}: used ({used}) exceeds limit ({limit}); overage may be billed")


def set_copilot(args, now, budget, warnings) -> str:
    c = budget["copilot"]
    if args.plan:
        c["plan"] = args.plan.lower()
    if args.unit:
        if args.unit not in budget_file.COPILOT_UNITS:
            raise BudgetError(f"--unit: must be one of {', '.join(budget_file.COPILOT_UNITS)}")
        c["unit"] = args.unit
    limit = budget_file.parse_count(args.limit, "--limit")
    if limit is not None:
        c["limit"] = limit
    elif args.plan or args.unit:
        allowance = COPILOT_ALLOWANCES.get((c["plan"], c["unit"]))
        if allowance is not None:
            c["limit"] = allowance
    used = budget_file.parse_count(args.used, "--used")
    if used is not None:
        c["used"] = used
    resets = _date(args.resets_at, "--resets-at")
    if resets:
        c["resets_at"] = resets
    elif c.get("resets_at") is None or (parse_iso(c["resets_at"]) and parse_iso(c["resets_at"]) <= now):
        c["resets_at"] = iso(next_month_start(now))
    c["last_updated"] = iso(now)
    _used_vs_limit(c, "copilot", warnings)
    return f"Copilot: {c['used']} of {c['limit']} {c['unit']} used, resets {c['resets_at'][:10]}"


def set_gemini(args, now, budget, warnings) -> str:
    g = budget["gemini"]
    if args.status:
        g["status"] = args.status.strip()
    for key in ("used", "limit"):
        value = budget_file.parse_count(getattr(args, key), f"--{key}")
        if value is not None:
            g[key] = value
    if args.unit:
        g["unit"] = args.unit
    g["last_updated"] = iso(now)
    _used_vs_limit(g, "gemini", warnings)
    usage = f", {g['used']} of {g['limit']} {g['unit']}" if g.get("used") is not None else ""
    return f"Gemini: {g['status']}{usage}"


def set_alerts(args, now, budget, warnings) -> str:
    a = budget["alerts"]
    for key in ("warn_at", "critical_at"):
        value = budget_file.parse_count(getattr(args, key), "--" + key.replace("_", "-"))
        if value is not None:
            a[key] = value
    if args.block_at is not None:
        a["block_at"] = None if args.block_at.lower() == "off" else budget_file.parse_count(args.block_at, "--block-at")
    if not 0 < a["warn_at"] < a["critical_at"] <= 100:
        raise BudgetError("alerts: need 0 < --warn-at < --critical-at ≤ 100")
    if a["block_at"] is not None and not 0 < a["block_at"] <= 200:
        raise BudgetError("--block-at: must be between 0 and 200 (or 'off')")
    block = f", block prompts at {a['block_at']}%" if a["block_at"] is not None else ", never block"
    return f"Alerts: warn at {a['warn_at']}%, critical at {a['critical_at']}%{block}"


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


HANDLERS = {"copilot": set_copilot, "gemini": set_gemini, "alerts": set_alerts, "limits": set_limits,
            "retention": set_retention}


def run(args, now) -> Result:
    warnings: list[str] = []
    # Retention: the history first, so it holds every day about to go (a malformed one stops here, nothing changed).
    pruning = args.what == "retention" and retention_days(args.days) is not None
    if pruning:
        _save_history(now, warnings)
    with budget_file.update(paths.budget_file()) as budget:
        text = HANDLERS[args.what](args, now, budget, warnings)
        section = dict(budget[args.what])
    data = {args.what: section}
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
