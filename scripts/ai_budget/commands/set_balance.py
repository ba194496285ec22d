"""budget set: the manual balances that have no API (Copilot, Gemini) and alerts."""

from __future__ import annotations

from datetime import datetime, timezone

from .. import paths
from ..errors import BudgetError
from ..state import budget_file
from ..timefmt import iso, parse_iso
from . import Result

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


HANDLERS = {"copilot": set_copilot, "gemini": set_gemini, "alerts": set_alerts}


def run(args, now) -> Result:
    warnings: list[str] = []
    with budget_file.update(paths.budget_file()) as budget:
        text = HANDLERS[args.what](args, now, budget, warnings)
        section = dict(budget[args.what])
    return Result(data={args.what: section}, text=text, warnings=warnings)
