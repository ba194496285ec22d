"""Sum de-duplicated entries into token totals. Pure."""

from __future__ import annotations

from ..timefmt import ms_to_iso

def _zero() -> dict:
    return {
        "exchanges": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_creation_5m_tokens": 0,
        "cache_creation_1h_tokens": 0,
        "cache_read_input_tokens": 0,
        "web_search_requests": 0,
        "web_fetch_requests": 0,
        "total_tokens": 0,
    }


def _add(bucket: dict, e) -> None:
    bucket["exchanges"] += 1
    bucket["input_tokens"] += e.input
    bucket["output_tokens"] += e.output
    bucket["cache_creation_input_tokens"] += e.cache_create
    bucket["cache_creation_5m_tokens"] += e.cache_5m
    bucket["cache_creation_1h_tokens"] += e.cache_1h
    bucket["cache_read_input_tokens"] += e.cache_read
    bucket["web_search_requests"] += e.web_search
    bucket["web_fetch_requests"] += e.web_fetch
    bucket["total_tokens"] += e.total


def summarize(entries) -> dict:
    """Totals plus per-model totals and first/last timestamps.
    <synthetic> lines count toward totals (always 0 tokens) but not toward any model."""
    totals = _zero()
    models: dict[str, dict] = {}
    first = last = None
    for e in entries:
        _add(totals, e)
        name = e.model_name
        if name:
            _add(models.setdefault(name, _zero()), e)
        first = e.ts_ms if first is None or e.ts_ms < first else first
        last = e.ts_ms if last is None or e.ts_ms > last else last
    totals["models"] = dict(sorted(models.items()))
    totals["first_timestamp"] = ms_to_iso(first) if first is not None else None
    totals["last_timestamp"] = ms_to_iso(last) if last is not None else None
    return totals
