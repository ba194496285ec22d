"""Dated ledgers of the accounts that have no usage API: `ledgers/<name>.jsonl` in the
budget repo, one JSON object a line, oldest first, each stamped `at` (UTC ISO-8601).

    ledgers/api.jsonl      {"at": …, "balance_usd": 127.45, "topup_usd": 50}   (topup optional)
    ledgers/copilot.jsonl  {"at": …, "used": 285, "limit": 1500, "unit": "credits", "resets_at": …, "plan": "pro"}
    ledgers/gemini.jsonl   {"at": …, "status": "active", "used": 40, "limit": 1000, "unit": "requests"}

Appends are locked and atomic (the whole file rewritten through a temp file); a
malformed file is reported with its line and never rewritten."""

from __future__ import annotations

import json
from pathlib import Path

from ..atomic import locked, read_text, write_atomic
from ..errors import BudgetError
from ..timefmt import parse_iso

NAMES = ("api", "copilot", "gemini")
MAX_ENTRIES = 100_000  # a hand-kept ledger never gets near this; a bigger file is not ours
MAX_NUMBER = 1e15
# The numbers each ledger's entries hold: (field, required). A NaN or a negative would poison every sum.
NUMBERS = {"api": (("balance_usd", True), ("topup_usd", False)),
           "copilot": (("used", False), ("limit", False)), "gemini": (("used", False), ("limit", False))}


def path_for(home: Path, name: str) -> Path:
    return home / "ledgers" / f"{name}.jsonl"


def _parse(path: Path, text: str) -> list[dict]:
    entries = []
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
        except (ValueError, RecursionError):
            raise BudgetError(f"{path}: line {n} is not JSON; left untouched") from None
        if not isinstance(entry, dict) or parse_iso(entry.get("at")) is None:
            raise BudgetError(f"{path}: line {n} needs an object with an 'at' time; left untouched")
        for key, required in NUMBERS.get(path.stem, ()):
            value = entry.get(key)
            if (value is None and required) or (value is not None and (
                    isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_NUMBER)):
                raise BudgetError(f"{path}: line {n}: '{key}' must be a number from 0 to {MAX_NUMBER:g}, "
                                  f"got {repr(value)[:40]}; left untouched")
        entries.append(entry)
        if len(entries) > MAX_ENTRIES:
            raise BudgetError(f"{path}: more than {MAX_ENTRIES:,} entries; left untouched")
    return entries


def read(home: Path, name: str) -> list[dict]:
    """The ledger's entries, oldest first (by `at`); [] when there is none yet."""
    path = path_for(home, name)
    try:
        text = read_text(path)
    except FileNotFoundError:
        return []
    return sorted(_parse(path, text), key=lambda e: parse_iso(e["at"]))


def append(home: Path, name: str, entry: dict) -> Path:
    """Add one entry under the file's lock; an existing malformed file stops it unchanged."""
    path = path_for(home, name)
    with locked(path):
        try:
            text = read_text(path)
        except FileNotFoundError:
            text = ""
        _parse(path, text)
        if text and not text.endswith("\n"):
            text += "\n"
        write_atomic(path, text + json.dumps(entry, separators=(", ", ": "), allow_nan=False) + "\n")
    return path
