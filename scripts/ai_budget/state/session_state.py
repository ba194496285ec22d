"""Per-session start snapshots (disposable cache): what `check` saw when the
session began, so `log` can measure the session. Keyed by Claude session id.

A `check` run without a session id (in a terminal) is filed under its own key,
`terminal-<time>`, and marked `terminal`, never merged into a session's start:
the session whose first line comes next after it, in the same 5-hour window,
may adopt it as its start. The first log that does so claims it (`claimed_by`),
so no reading is measured from twice."""

from __future__ import annotations

import json
import os
import re

from .. import paths
from ..atomic import dump_json, locked, write_atomic
from ..timefmt import iso_ms

FIVE_HOURS_MS = 5 * 3600 * 1000
TERMINAL_KEEP_MS = 24 * 3600 * 1000  # a terminal check older than this by a newer one is deleted
# Start fields that describe how a snapshot was taken, not what it read.
_ORIGIN_KEYS = ("terminal", "claimed_by", "checks", "last_check_at")


def _path(session_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", session_id or "unknown")
    return os.path.join(paths.cache_dir_str(), "sessions", f"{safe}.json")  # str: the hooks run without pathlib


def read(session_id: str) -> dict | None:
    try:
        with open(_path(session_id), encoding="utf-8") as handle:
            data = json.loads(handle.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _all():
    for p in (paths.cache_dir() / "sessions").glob("*.json"):
        try:
            data = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            yield data


def snapshot(when: str, util: dict, trusted: bool) -> dict:
    """The start fields of one utilisation reading (a check, or a log's end)."""
    five, seven = util.get("five_hour") or {}, util.get("seven_day") or {}
    return {"started_at": when, "five_hour": {"util": five.get("util"), "resets_at": five.get("resets_at")},
            "seven_day": {"util": seven.get("util"), "resets_at": seven.get("resets_at")},
            "source": util["source"], "observed_at": util["observed_at"], "trusted": trusted}


def is_start(data: dict | None) -> bool:
    """A file can hold only hook flags (alert level, reminder) and no start."""
    return bool(data) and iso_ms(data.get("started_at")) is not None and isinstance(data.get("five_hour"), dict)


def covers(start: dict, ms: int) -> bool:
    """Was `ms` in the 5-hour window the start was read in? By its resets_at
    when known, and never 5 h or more after it."""
    started = iso_ms(start.get("started_at"))
    resets = iso_ms(start["five_hour"].get("resets_at"))
    return started is not None and started <= ms < started + FIVE_HOURS_MS and (resets is None or ms < resets)


def record_start(session_id: str, snapshot: dict) -> dict:
    """First check of a session stores the snapshot; a later check keeps the
    original start unless that start had no trustworthy reading and this one has,
    or was claimed by another session's log (or is a terminal check an older
    version filed under a guessed session)."""
    path = _path(session_id)
    with locked(path):
        old = read(session_id)
        if is_start(old) and not old.get("logged_at") and not old.get("claimed_by") and not old.get("terminal") \
                and (old.get("trusted") or not snapshot.get("trusted")):
            old["checks"] = old.get("checks", 1) + 1
            old["last_check_at"] = snapshot["started_at"]
            data = old
        else:
            data = {**snapshot, "checks": 1}
        write_atomic(path, dump_json(data))
    return data


def record_terminal(snapshot: dict) -> dict:
    """A check without a session id: its own file; terminal checks more than a day
    older than it are deleted (no session adopts them any more)."""
    key = "terminal-" + snapshot["started_at"]
    data = {**snapshot, "session_id": key, "terminal": True, "checks": 1}
    path = _path(key)
    with locked(path):
        write_atomic(path, dump_json(data))
    now_ms = iso_ms(snapshot["started_at"])
    for old in (paths.cache_dir() / "sessions").glob("terminal-*.json"):
        started = iso_ms((read(old.stem) or {}).get("started_at"))
        if started is not None and started < now_ms - TERMINAL_KEEP_MS:
            old.unlink(missing_ok=True)
    return data


def start_for(session_id: str, first_ms: int | None) -> dict | None:
    """What a log of this session measures from: its own start (a check in it,
    or its previous log's end), else the latest terminal check taken before its
    first response and in the same 5-hour window, unless another log claimed it
    (an earlier check would measure that session's work too)."""
    own = read(session_id)
    if is_start(own) and own.get("claimed_by") in (None, session_id):
        return own
    if first_ms is None:
        return None
    found = [d for d in _all() if d.get("terminal") and is_start(d) and not d.get("logged_at")
             and d.get("session_id") != session_id and covers(d, first_ms)]
    latest = max(found, key=lambda d: iso_ms(d["started_at"]), default=None)
    return latest if latest and latest.get("claimed_by") in (None, session_id) else None


def claim(start: dict, by: str) -> bool:
    """Mark a terminal check as the start of `by`'s log; False when another log
    took it since it was read."""
    key = start["session_id"]
    path = _path(key)
    with locked(path):
        data = read(key)
        if not data or data.get("started_at") != start["started_at"] or data.get("claimed_by") not in (None, by):
            return False
        data["claimed_by"] = by
        write_atomic(path, dump_json(data))
    return True


def mark_logged(session_id: str, end: dict) -> None:
    """The log's end (snapshot() of its reading) becomes the session's start, so
    a second log measures only what happened since this one."""
    path = _path(session_id)
    with locked(path):
        data = {k: v for k, v in (read(session_id) or {"session_id": session_id}).items() if k not in _ORIGIN_KEYS}
        data.update(end, logged_at=end["started_at"])
        write_atomic(path, dump_json(data))


def note(session_id: str, **fields) -> dict:
    """Merge small flags (alert level shown, reminder given) into the session's file."""
    path = _path(session_id)
    with locked(path):
        data = {**(read(session_id) or {"session_id": session_id}), **fields}
        write_atomic(path, dump_json(data))
    return data


def latest_unlogged(exclude: str | None = None) -> dict | None:
    """The most recent session that ended without /budget-log, if any."""
    best = None
    for data in _all():
        if data.get("ended_unlogged") and not data.get("logged_at") and data.get("session_id") != exclude \
                and (best is None or data["ended_unlogged"] > best["ended_unlogged"]):
            best = data
    return best
