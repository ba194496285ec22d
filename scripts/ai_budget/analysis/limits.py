"""Spend limits per calendar period: ok, warning, critical, exceeded. Pure.

Import-light on purpose (the status line's fast path imports it): `time` and
`datetime` only.

Limits are API-equivalent dollars by default: what the tokens would cost at API
list prices. A Pro/Max subscriber has no per-token bill, so a limit is a budget
on use, not on money spent. `unit` "tokens" counts all tokens instead (input,
output, cache writes and reads), for one unit across all periods.

Periods are local calendar periods in the machine's time zone: the day from
local midnight, the week from Monday 00:00 local (ISO weeks, as `report weekly`
with its default), the month from the 1st at 00:00 local. Midnight is found with
`time.mktime`, so a DST change earlier that day gives the right offset (and a
midnight a DST jump skips becomes the first instant of the day).

Statuses, by % of the limit: warning from `warn_at`, critical from `critical_at`,
exceeded from 100 %; below `warn_at` it is ok.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

PERIODS = ("daily", "weekly", "monthly")
LABELS = {"daily": "day", "weekly": "week", "monthly": "month"}
UNITS = ("usd", "tokens")
STATUSES = ("ok", "warning", "critical", "exceeded")  # in rising order
EXIT_CODES = {"ok": 0, "warning": 10, "critical": 11, "exceeded": 12}  # `budget status --exit-code`
MARKERS = {"ok": "", "warning": " !", "critical": " !!", "exceeded": " OVER"}  # readable without colour


def _local_midnight(year: int, month: int, day: int) -> datetime:
    """00:00 local on that date (mktime normalises a day before the 1st into the month before)."""
    return datetime.fromtimestamp(time.mktime((year, month, day, 0, 0, 0, 0, 0, -1))).astimezone()


def period_starts(now: datetime) -> dict[str, datetime]:
    """Where each period began, as aware local times, for an aware `now` (any zone:
    it is read in the machine's local zone)."""
    local = datetime.fromtimestamp(now.timestamp())
    return {"daily": _local_midnight(local.year, local.month, local.day),
            "weekly": _local_midnight(local.year, local.month, local.day - local.weekday()),
            "monthly": _local_midnight(local.year, local.month, 1)}


def period_ends(now: datetime) -> dict[str, datetime]:
    """When each period resets (the next one's start)."""
    starts = period_starts(now)
    day, week, month = starts["daily"], starts["weekly"], starts["monthly"]
    next_month = (month.year + 1, 1) if month.month == 12 else (month.year, month.month + 1)
    # Noon plus whole days never lands on the wrong date across a DST change.
    return {"daily": period_starts(day.replace(hour=12) + timedelta(days=1))["daily"],
            "weekly": period_starts(week.replace(hour=12) + timedelta(days=7))["daily"],
            "monthly": _local_midnight(*next_month, 1)}


def amount(limits: dict, cost_usd: float, tokens: int) -> float:
    """What counts against the limits, in their unit."""
    return tokens if limits.get("unit") == "tokens" else cost_usd


def starts_ms(limits: dict, now: datetime) -> dict[str, int]:
    """Epoch ms where each period with a limit set began (what to sum spend from)."""
    starts = period_starts(now)
    return {p: int(starts[p].timestamp() * 1000) for p in PERIODS if limits.get(p)}


def spent_of(limits: dict, got: dict[str, dict]) -> dict[str, float]:
    """{period: amount} from {period: {cost_usd, tokens}} (the index's sums since each start)."""
    return {p: amount(limits, g["cost_usd"], g["tokens"]) for p, g in got.items()}


def status_of(pct: float, warn_at: float, critical_at: float) -> str:
    if pct >= 100:
        return "exceeded"
    if pct >= critical_at:
        return "critical"
    return "warning" if pct >= warn_at else "ok"


def evaluate(limits: dict, spent: dict[str, float]) -> dict[str, dict]:
    """{period: {limit, spent, pct, status, unit}} for each period with a limit set
    (a limit ≤ 0 or None is no limit); `spent` in the limits' unit (see `amount`)."""
    warn_at, critical_at = limits.get("warn_at", 80), limits.get("critical_at", 95)
    unit = limits.get("unit") or "usd"
    out = {}
    for period in PERIODS:
        limit = limits.get(period)
        if not limit or limit <= 0:
            continue
        used = spent.get(period) or 0
        pct = used / limit * 100
        # Floored, so a shown share never reaches a threshold the status has not (79.96 % is 79.9, ok).
        out[period] = {"limit": limit, "spent": round(used, 4), "pct": int(pct * 10) / 10,
                       "status": status_of(pct, warn_at, critical_at), "unit": unit}
    return out


def worst(evaluated: dict[str, dict]) -> str:
    """The most severe status ("ok" when no limit is set)."""
    return max((e["status"] for e in evaluated.values()), key=STATUSES.index, default="ok")


def crossed(before: dict[str, str], evaluated: dict[str, dict]) -> list[str]:
    """Periods whose status rose above `before` ({period: status}, e.g. the last one
    announced): a hook says each crossing once."""
    return [p for p, e in evaluated.items()
            if STATUSES.index(e["status"]) > STATUSES.index(before.get(p, "ok")) and e["status"] != "ok"]


def money(value: float) -> str:
    return f"${value:,.0f}" if float(value).is_integer() else f"${value:,.2f}"


def quantity(value: float, unit: str) -> str:
    if unit != "tokens":
        return money(value)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:.0f}"


def _spent(value: float, unit: str) -> str:
    return f"${value:,.2f}" if unit != "tokens" else quantity(value, unit)


def describe(period: str, e: dict) -> str:
    """One period for a line of text: "day $4.10/$10 (41%)"."""
    unit = e.get("unit", "usd")
    tail = " tokens" if unit == "tokens" else ""
    return f"{LABELS[period]} {_spent(e['spent'], unit)}/{quantity(e['limit'], unit)}{tail} ({int(e['pct'])}%)"


def compact(evaluated: dict[str, dict]) -> str:
    """The status-line fragment: every period at warning or above, most severe first,
    as "day $8.40/$10 !" (! warning, !! critical, OVER exceeded); empty when no limit
    is set or all are ok (the status line stays quiet until a limit needs attention)."""
    hot = sorted((p for p, e in evaluated.items() if e["status"] != "ok"),
                 key=lambda p: -STATUSES.index(evaluated[p]["status"]))
    parts = []
    for period in hot:
        e = evaluated[period]
        unit = e.get("unit", "usd")
        parts.append(f"{LABELS[period]} {_spent(e['spent'], unit)}/{quantity(e['limit'], unit)}{MARKERS[e['status']]}")
    return " · ".join(parts)
