"""Anthropic API credits from the hand-kept ledger (state/ledgers.py). Pure.

Spend between two entries is what the balance fell by, counting the later entry's
top-up as money added: previous + top-up − balance (a rise without a top-up is
taken as an unrecorded top-up, not negative spend). Each such decline is spread
evenly over the time between its entries, so this month's spend and the last 30
days' burn rate count only the part inside their span."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..timefmt import iso, parse_iso

BURN_DAYS = 30
STALE_AFTER = timedelta(days=7)


def declines(entries: list[dict]) -> list[tuple[datetime, datetime, float]]:
    """(from, to, dollars spent) between consecutive entries, oldest first."""
    out = []
    for before, after in zip(entries, entries[1:]):
        spent = before["balance_usd"] + (after.get("topup_usd") or 0) - after["balance_usd"]
        out.append((parse_iso(before["at"]), parse_iso(after["at"]), max(0.0, spent)))
    return out


def _spent_between(spans, start: datetime, end: datetime) -> float:
    total = 0.0
    for lo, hi, spent in spans:
        if hi <= lo:  # two entries at one instant: the whole decline lands there
            total += spent if start <= hi <= end else 0.0
            continue
        overlap = (min(hi, end) - max(lo, start)).total_seconds()
        if overlap > 0:
            total += spent * overlap / (hi - lo).total_seconds()
    return total


def summary(entries: list[dict], now: datetime, month_start: datetime) -> dict:
    """Balance (as of the last entry), this month's spend, the burn rate over the last
    30 days of entries and the runway it gives; None where the ledger cannot say."""
    if not entries:  # state/ledgers.py checked every entry's numbers
        return {"entries": 0, "balance_usd": None, "as_of": None, "age_days": None, "stale": True,
                "month_spend_usd": None, "burn_usd_per_day": None, "burn_days": None,
                "runway_days": None, "runs_out_at": None}
    last = entries[-1]
    as_of = parse_iso(last["at"])
    spans = declines(entries)
    start = max(parse_iso(entries[0]["at"]), as_of - timedelta(days=BURN_DAYS))
    covered = (as_of - start).total_seconds() / 86400
    burn = _spent_between(spans, start, as_of) / covered if covered >= 1 else None
    runway = last["balance_usd"] / burn if burn else None
    month = _spent_between(spans, month_start, now) if len(entries) > 1 else None
    return {"entries": len(entries), "balance_usd": round(last["balance_usd"], 2), "as_of": last["at"],
            "age_days": round((now - as_of).total_seconds() / 86400, 1), "stale": now - as_of > STALE_AFTER,
            "month_spend_usd": None if month is None else round(month, 2),
            "burn_usd_per_day": None if burn is None else round(burn, 2),
            "burn_days": round(covered, 1) if burn is not None else None,
            "runway_days": None if runway is None else round(runway, 1),
            "runs_out_at": _runs_out(as_of, runway)}


def _runs_out(as_of: datetime, runway: float | None) -> str | None:
    """When the runway ends; None past a century, or past year 9999 (a ledger dated far ahead)."""
    if runway is None or runway >= 36500:
        return None
    try:
        return iso(as_of + timedelta(days=runway))
    except OverflowError:
        return None
