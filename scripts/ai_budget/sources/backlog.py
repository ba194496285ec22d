"""tasks/backlog.md: one task a line, grouped under '## ' headings.

    [H] Flashcards SMA101 (flashcard x15)

A tag [L] [M] [H] [X], the text, and optionally a trailing '(TYPE xN)' naming a
calibration task type and its units ('x15', '×15' or '15'). Lines without the
suffix stay valid: they are estimated from their tag. A leading '- ' is allowed.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..records import record

TAG_DEFAULT_PCT = {"L": 5.0, "M": 15.0, "H": 35.0, "X": 70.0}
_TASK = re.compile(r"^\s*(?:[-*]\s+)?\[([LMHXlmhx])\]\s+(.+?)\s*$")
_SUFFIX = re.compile(r"\s*\(([A-Za-z][A-Za-z0-9_]*)\s*(?:[x×]\s*)?(\d+)\)\s*$")


@record
class Task:
    section: str
    tag: str
    text: str
    task_type: str | None
    units: int | None
    line_no: int
    raw: str


def parse(text: str) -> list[Task]:
    tasks, section = [], ""
    for no, raw in enumerate(text.splitlines(), 1):
        if raw.startswith("## "):
            section = raw[3:].strip()
            continue
        m = _TASK.match(raw)
        if not m:
            continue
        tag, body = m.group(1).upper(), m.group(2)
        task_type = units = None
        s = _SUFFIX.search(body)
        if s and int(s.group(2)) > 0:
            task_type, units = s.group(1).lower(), int(s.group(2))
            body = body[: s.start()].rstrip()
        tasks.append(Task(section, tag, body, task_type, units, no, raw))
    return tasks


def read(path: Path) -> list[Task]:
    """utf-8-sig: a byte-order mark would hide the first task."""
    from ..atomic import read_text

    try:
        return parse(read_text(path, encoding="utf-8-sig"))
    except FileNotFoundError:
        return []


def find(tasks: list[Task], needle: str) -> Task:
    """The one task whose text contains `needle` (case-insensitive)."""
    from ..errors import BudgetError

    hits = [t for t in tasks if needle.lower() in t.raw.lower()]
    if not hits:
        raise BudgetError(f"--complete: no backlog line matches '{needle}'")
    if len(hits) > 1:
        lines = ", ".join(str(t.line_no) for t in hits)
        raise BudgetError(f"--complete: '{needle}' matches {len(hits)} backlog lines ({lines}); be more specific")
    return hits[0]
