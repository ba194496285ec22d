"""Per-session start snapshots (disposable cache): what `check` saw when the
session began, so `log` can measure the session. Keyed by Claude session id."""

from __future__ import annotations

import json
import re

from .. import paths
from .atomic import dump_json, locked, write_atomic


def _path(session_id: str):
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", session_id or "unknown")
    return paths.cache_dir() / "sessions" / f"{safe}.json"


def read(session_id: str) -> dict | None:
    try:
        data = json.loads(_path(session_id).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def record_start(session_id: str, snapshot: dict) -> dict:
    """First check of a session stores the snapshot; a later check keeps the
    original start unless that start had no trustworthy reading and this one has."""
    path = _path(session_id)
    with locked(path):
        old = read(session_id)
        if old and not old.get("logged_at") and (old.get("trusted") or not snapshot.get("trusted")):
            old["checks"] = old.get("checks", 1) + 1
            old["last_check_at"] = snapshot["started_at"]
            data = old
        else:
            data = {**snapshot, "checks": 1}
        write_atomic(path, dump_json(data))
    return data


def mark_logged(session_id: str, when: str) -> None:
    path = _path(session_id)
    with locked(path):
        data = read(session_id) or {"session_id": session_id}
        data["logged_at"] = when
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
    for p in (paths.cache_dir() / "sessions").glob("*.json"):
        try:
            data = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("ended_unlogged") and not data.get("logged_at") \
                and data.get("session_id") != exclude and (best is None or data["ended_unlogged"] > best["ended_unlogged"]):
            best = data
    return best
