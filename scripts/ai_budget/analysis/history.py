"""Committed usage history as report rows: what it adds to the index. Pure.

Each machine writes only its own file, so two machines committing to one repo
never conflict, and rows of other machines are simply added. For this machine
the index is the live source; its history rows only fill what the index has
lost (transcripts deleted before they were indexed, or a rebuilt index)."""

from __future__ import annotations

from datetime import datetime, timezone

from ..state.history_file import tokens
from ..tokens import Usage


def missing(own: dict, indexed: dict) -> dict:
    """What this machine's history holds beyond the index, per key (the difference)."""
    out = {}
    for key, row in own.items():
        have = indexed.get(key)
        if have is None:
            out[key] = row
        elif tokens(row).total > tokens(have).total:
            out[key] = tuple(a - b for a, b in zip(row, have))
    return out


def as_usage(rows: dict, machine: str) -> list[Usage]:
    """History rows as report rows, placed at noon UTC so every zone within ±12 h
    keeps the day. The project is the machine: history has no per-project detail."""
    out = []
    for (date, model), row in rows.items():
        noon = int(datetime.fromisoformat(date).replace(hour=12, tzinfo=timezone.utc).timestamp() * 1000)
        fast = model.endswith("-fast")
        t = tokens(row)
        out.append(Usage(noon, model[:-5] if fast else model, fast, f"(history: {machine})", "", t.responses, t.input,
                         t.output, t.cache_create, t.cache_read, *row[5:], noon, noon))
    return out
