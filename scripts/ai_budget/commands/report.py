"""budget report daily|weekly|monthly|session|models|projects: usage history."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .. import paths
from ..analysis import pricing, reports
from ..errors import BudgetError
from ..outputs.text import num, table
from ..state import budget_file, index
from . import Result


def _date(value: str | None, flag: str) -> str | None:
    if value is None:
        return None
    digits = value.replace("-", "")
    if not re.fullmatch(r"\d{8}", digits):
        raise BudgetError(f"{flag}: expected YYYY-MM-DD or YYYYMMDD, got {value!r}")
    return f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"


def _zone(name: str | None):
    if not name:
        from datetime import datetime
        return datetime.now().astimezone().tzinfo
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BudgetError(f"--tz: unknown time zone {name!r} (use an IANA name like Europe/Berlin or UTC)") from None


def run(args, now) -> Result:
    tz = _zone(args.tz)
    since, until = _date(args.since, "--since"), _date(args.until, "--until")
    prices = pricing.load(budget_file.load(paths.budget_file()).get("pricing_overrides"))
    index.sync(prices)
    data = reports.build(args.kind, index.entries(), tz, since, until, args.project)
    return Result(data=data, text=render(args.kind, data, args.breakdown))


def render(kind: str, data: dict, breakdown: bool) -> str:
    list_key, field = reports.KINDS[kind]
    headers = [field, "input", "output", "cache write", "cache read", "total tokens", "cost (API-eq.)"]
    rows = []
    for r in data[list_key]:
        label = r[field] if kind != "session" else f"{r['sessionId'][:8]} {r['projectPath'][-28:]}"
        rows.append([label, num(r["inputTokens"]), num(r["outputTokens"]), num(r["cacheCreationTokens"]),
                     num(r["cacheReadTokens"]), num(r["totalTokens"]), f"${r['totalCost']:.2f}"])
        if breakdown and kind != "models":
            for m in r.get("modelBreakdowns", []):
                rows.append([f"  {m['modelName']}", num(m["inputTokens"]), num(m["outputTokens"]),
                             num(m["cacheCreationTokens"]), num(m["cacheReadTokens"]), "", f"${m['cost']:.2f}"])
    t = data["totals"]
    rows.append(["total", num(t["inputTokens"]), num(t["outputTokens"]), num(t["cacheCreationTokens"]),
                 num(t["cacheReadTokens"]), num(t["totalTokens"]), f"${t['totalCost']:.2f}"])
    lines = [table(headers, rows), "Costs are API-equivalent estimates at list prices; your subscription is billed by plan."]
    if t.get("unpricedModels"):
        lines.append(f"Unpriced (no price known, not counted as $0): {', '.join(t['unpricedModels'])}")
    return "\n".join(lines)
