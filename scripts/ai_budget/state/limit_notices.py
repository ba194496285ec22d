"""Which status each spend-limit period was last announced at, so the UserPromptSubmit
hook says each crossing once (a new period re-arms it). A small cache file
(`limits-announced.json` in the cache folder): {period: {"since": start ms, "status": …}};
read-modify-write under its lock, written only when it changes. Import-light (the hook)."""

from __future__ import annotations

import json
import os

from .. import paths
from ..atomic import dump_json, locked, write_atomic


def path() -> str:
    return os.path.join(paths.cache_dir_str(), "limits-announced.json")


def read() -> dict:
    """The announced statuses as they are (no lock: to see whether anything changes)."""
    return _read(path())


def _read(name: str) -> dict:
    try:
        with open(name, encoding="utf-8") as handle:
            data = json.loads(handle.read())
    except (OSError, ValueError):  # none yet, or damaged: a cache, so start again
        return {}
    return {p: v for p, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def update(change):
    """`change(data)` on the announced statuses as they are under the lock; written
    (atomically) if it changed them. Returns what `change` returns."""
    name = path()
    with locked(name):
        data = _read(name)
        before = json.dumps(data, sort_keys=True)
        result = change(data)
        if json.dumps(data, sort_keys=True) != before:
            write_atomic(name, dump_json(data), durable=False)
    return result
