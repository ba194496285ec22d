"""Small text formatting helpers shared by the commands. Pure."""

from __future__ import annotations

from datetime import datetime

from ..timefmt import age, countdown, parse_iso

WINDOW_LABELS = {"five_hour": "5h", "seven_day": "7d"}


def pct(value) -> str:
    return "  n/a" if value is None else f"{value:.1f}%"


def window_line(name: str, win: dict | None, now: datetime) -> str:
    """'Claude 5h:  12.0%  (resets 14:05 (in 2h 14m))', the plan's two lines."""
    label = f"Claude {WINDOW_LABELS.get(name, name)}:"
    win = win or {}
    if win.get("util") is None:
        return f"{label:<11} no data"
    resets = parse_iso(win.get("resets_at"))
    if win.get("reset_since"):
        return f"{label:<11} {pct(win['util'])}  (window reset at {countdown(resets, now)}; now unknown)"
    when = countdown(resets, now) if resets else "not started"
    return f"{label:<11} {pct(win['util'])}  (resets {when})"


SOURCE_NAMES = {"api": "the usage API", "api (cached)": "the usage API", "statusline": "the status line"}


def source_note(util: dict, now: datetime) -> str | None:
    """'source: api, 12s ago', or 'STALE — last reading from the usage API at 14:05 (3h 10m ago) (reason)'."""
    if util["source"] == "none":
        return f"no Claude utilisation yet ({util['problem']})" if util.get("problem") else "no Claude utilisation yet"
    observed = parse_iso(util.get("observed_at"))
    note = f"source: {util['source']}, {age(observed, now)}"
    if util.get("stale") or util.get("problem"):
        origin = SOURCE_NAMES.get(util["source"])
        fmt = "%H:%M" if observed and (now - observed).total_seconds() < 20 * 3600 else "%a %d %b %H:%M"
        when = f" at {observed.astimezone().strftime(fmt)}" if observed else ""
        note = f"STALE — last reading{f' from {origin}' if origin else ''}{when} ({age(observed, now)})"
    if util.get("problem"):
        note += f" ({util['problem']})"
    return note


def table(headers: list[str], rows: list[list], align: str | None = None) -> str:
    """Aligned plain-text table; `align` is one char per column, 'l' or 'r'."""
    cells = [[str(c) for c in headers]] + [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    align = align or "l" + "r" * (len(headers) - 1)
    lines = []
    for n, row in enumerate(cells):
        parts = [c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align)]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def num(value: int | float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if isinstance(value, int) or float(value).is_integer() else f"{value:,.2f}"
