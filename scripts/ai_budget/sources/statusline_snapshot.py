"""The rate_limits Claude Code hands its status line (v2.1.80+), kept as the
freshest, free utilisation source. Written atomically on every status line run."""

from __future__ import annotations

import json

from .. import paths
from ..atomic import dump_json, write_atomic
from ..timefmt import iso, parse_epoch_seconds


def path():
    return paths.cache_dir() / "statusline-snapshot.json"


def from_rate_limits(rate_limits) -> dict | None:
    """Normalise stdin's rate_limits; None when there is nothing usable
    (first message of a session, API-key users). Values above 100 are kept."""
    if not isinstance(rate_limits, dict):
        return None
    out = {}
    for key in ("five_hour", "seven_day"):
        win = rate_limits.get(key)
        if isinstance(win, dict):
            pct = win.get("used_percentage")
            if isinstance(pct, (int, float)) and not isinstance(pct, bool):
                out[key] = {"util": float(pct), "resets_at": iso(parse_epoch_seconds(win.get("resets_at")))}
    return out or None


def write(windows: dict, now, session_id: str | None = None) -> None:
    write_atomic(path(), dump_json({"observed_at": iso(now), "session_id": session_id, **windows}))


def read() -> dict | None:
    try:
        data = json.loads(path().read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
