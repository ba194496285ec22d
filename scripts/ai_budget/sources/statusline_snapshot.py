"""The rate_limits Claude Code hands its status line (v2.1.80+), kept as the
freshest, free utilisation source. Written atomically on every status line run."""

from __future__ import annotations

import json
import os

from .. import paths
from ..atomic import dump_json, write_atomic
from ..timefmt import iso, parse_epoch_seconds
from .readings import percentage


def path() -> str:
    return os.path.join(paths.cache_dir_str(), "statusline-snapshot.json")  # str: the status line runs without pathlib


def from_rate_limits(rate_limits) -> dict | None:
    """Normalise stdin's rate_limits; None when there is nothing usable
    (first message of a session, API-key users). Values above 100 are kept;
    negative, non-finite and absurd ones are dropped, as from the API."""
    if not isinstance(rate_limits, dict):
        return None
    out = {}
    for key in ("five_hour", "seven_day"):
        win = rate_limits.get(key)
        pct = percentage(win.get("used_percentage")) if isinstance(win, dict) else None
        if pct is not None and not isinstance(win.get("used_percentage"), (str, bool)):
            out[key] = {"util": pct, "resets_at": iso(parse_epoch_seconds(win.get("resets_at")))}
    return out or None


def write(windows: dict, now, session_id: str | None = None) -> None:
    # A cache rewritten every few seconds: a crash may lose it (never half-written); no fsync.
    write_atomic(path(), dump_json({"observed_at": iso(now), "session_id": session_id, **windows}), durable=False)


def read() -> dict | None:
    """The last snapshot; a window whose value is not a usable percentage (a file written
    by an older version, or by hand) is left out."""
    try:
        with open(path(), encoding="utf-8") as handle:
            data = json.loads(handle.read())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    for key in ("five_hour", "seven_day"):
        win = data.get(key)
        if win is not None and not (isinstance(win, dict) and percentage(win.get("util")) is not None
                                    and not isinstance(win.get("util"), str)):
            data[key] = None
    return data
