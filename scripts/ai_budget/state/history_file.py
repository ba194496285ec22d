"""history/<machine>.tsv in the budget repo: the committed per-day, per-model
usage that outlives Claude Code's 30-day transcript cleanup. Tab-separated, one
sorted row per UTC day and model, so git diffs and merges stay line-based."""

from __future__ import annotations

from pathlib import Path

from ..atomic import locked, read_text, write_atomic
from ..errors import BudgetError
from ..tokens import Totals

FIELDS = ("responses", "input", "output", "cache_create", "cache_read", "cost_usd", "unpriced")


def tokens(row: tuple) -> Totals:
    """A row's token counts (the file keeps cache writes summed)."""
    responses, inp, out, cache_create, cache_read = row[:5]
    return Totals(inp, out, cache_create, 0, cache_read, responses=responses)


def merge(old: dict, new: dict) -> dict:
    """{(date, model): row}. Keep, per key, the row with more tokens: both count
    the same transcripts, and the index only grows until files are deleted."""
    merged = dict(old)
    for key, row in new.items():
        if key not in merged or tokens(row).total > tokens(merged[key]).total:
            merged[key] = row
    return merged


HEADER = "# ai-budget usage history: UTC day, model, responses, tokens, API-equivalent USD (estimate)\n"
COLUMNS = ("date", "model") + FIELDS


def folder(home: Path) -> Path:
    return home / "history"


def path_for(home: Path, machine: str) -> Path:
    return folder(home) / f"{machine}.tsv"


def read(path: Path) -> dict:
    """{(date, model): (responses, input, output, cache_create, cache_read, cost, unpriced)}; {} if absent."""
    try:
        text = read_text(path)
    except FileNotFoundError:
        return {}
    rows = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("#") or line.startswith("date\t"):
            continue
        parts = line.split("\t")
        try:
            if len(parts) != len(COLUMNS):
                raise ValueError
            ints = [int(x) for x in parts[2:7]]
            cost = float(parts[7])
            if not 0 <= cost < 1e15:  # "nan" parses, and a NaN cost made report --json invalid
                raise ValueError
            rows[(parts[0], parts[1])] = (*ints, cost, int(parts[8]))
        except ValueError:
            raise BudgetError(f"{path}: line {n} is not a history row ({len(COLUMNS)} tab-separated fields); "
                              "file left untouched") from None
    return rows


def write(path: Path, rows: dict) -> None:
    body = "".join("\t".join([date, model, *map(str, row[:5]), f"{row[5]:.6f}", str(row[6])]) + "\n"
                   for (date, model), row in sorted(rows.items()))
    write_atomic(path, HEADER + "\t".join(COLUMNS) + "\n" + body)


def update(path: Path, fresh: dict) -> bool:
    """Merge `fresh` into the file under its lock; True when the file changed."""
    with locked(path):
        old = read(path)
        rows = merge(old, fresh)
        if rows == old and path.exists():
            return False
        write(path, rows)
        return True


def save(home: Path, machine: str) -> tuple[Path, bool]:
    """Merge the index's per-day rows into this machine's file; (path, changed)."""
    from . import index

    path = path_for(home, machine)
    return path, update(path, index.daily_by_model())


def others(home: Path, machine: str) -> list[tuple[str, Path]]:
    own = path_for(home, machine)
    return [(p.stem, p) for p in sorted(folder(home).glob("*.tsv")) if p != own]
