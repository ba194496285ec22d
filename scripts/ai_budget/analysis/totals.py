"""Sum de-duplicated entries into token totals, written in the plan's field names. Pure."""

from __future__ import annotations

from ..timefmt import ms_to_iso
from ..tokens import Totals

# The plan's names (`tokens`, parse_session_tokens.py, log records), in output order.
PLAN_NAMES = (("exchanges", "responses"), ("input_tokens", "input"), ("output_tokens", "output"),
              ("cache_creation_input_tokens", "cache_create"), ("cache_creation_5m_tokens", "cache_5m"),
              ("cache_creation_1h_tokens", "cache_1h"), ("cache_read_input_tokens", "cache_read"),
              ("web_search_requests", "web_search"), ("web_fetch_requests", "web_fetch"), ("total_tokens", "total"))


def plan_names(t: Totals, names: tuple[str, ...] | None = None) -> dict:
    """`t` in the plan's field names: all of them, or `names` in that order."""
    ours = dict(PLAN_NAMES)
    return {name: getattr(t, ours[name]) for name in names or ours}


def summarize(entries) -> dict:
    """Totals plus per-model totals and first/last timestamps.
    <synthetic> lines count toward totals (always 0 tokens) but not toward any model."""
    totals = Totals()
    models: dict[str, Totals] = {}
    first = last = None
    for e in entries:
        totals.add_entry(e)
        name = e.model_name
        if name:
            models.setdefault(name, Totals()).add_entry(e)
        first = e.ts_ms if first is None or e.ts_ms < first else first
        last = e.ts_ms if last is None or e.ts_ms > last else last
    return {**plan_names(totals), "models": {name: plan_names(t) for name, t in sorted(models.items())},
            "first_timestamp": ms_to_iso(first) if first is not None else None,
            "last_timestamp": ms_to_iso(last) if last is not None else None}
