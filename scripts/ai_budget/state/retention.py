"""Retention: how long the index keeps per-response rows (budget.json `retention.days`).

The cutoff is a UTC midnight, `days` whole UTC days before today's, so a pruned
UTC day is gone whole and the committed history (`history/<machine>.tsv`, one row
per UTC day and model) stands in for it in reports. Pruning runs when the setting
is made (after the history is brought up to date) and on the index's sync, once a
day, where it only drops what the history already holds (a read writes no history)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from . import history_file, index


def cutoff_ms(days: int, now: datetime) -> int:
    day = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days)
    return int(day.timestamp() * 1000)


def prune(budget: dict, now: datetime, home, machine: str, force: bool = False) -> dict | None:
    """None when everything is kept; else index.prune's counts. Forced (the setting
    just made) the index file also shrinks; the daily prune leaves the space for reuse."""
    days = budget["retention"]["days"]
    if not days:
        return None
    path = history_file.path_for(home, machine)
    return index.prune(cutoff_ms(days, now), lambda: history_file.read(path), force, vacuum=force)
