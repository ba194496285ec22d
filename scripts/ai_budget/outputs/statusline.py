"""The one-line status line: 5h bar and countdown, 7d, pace mark, session cost. Pure."""

from __future__ import annotations

from ..timefmt import duration

COLOURS = {"normal": "\033[32m", "warning": "\033[33m", "critical": "\033[31m"}
RESET = "\033[0m"
PACE_MARKS = {"ahead": "▲", "behind": "▼", "on track": "●"}


def level(util: float | None, alerts: dict) -> str:
    if util is None:
        return "normal"
    if util >= alerts["critical_at"]:
        return "critical"
    return "warning" if util >= alerts["warn_at"] else "normal"


def bar(util: float, width: int = 8) -> str:
    filled = max(0, min(width, round(util / 100 * width)))
    return "▰" * filled + "▱" * (width - filled)


def pace_mark(p: dict | None) -> str:
    if not p:
        return ""
    word = "on track" if p["stage"] == "on track" else p["stage"].split()[-1]
    return f"{PACE_MARKS[word]} {p['stage']}"


def render(five: dict | None, seven: dict | None, pace: dict | None, cost: float | None, alerts: dict, now,
           colour: bool, stale_note: str = "", limits: str = "") -> str:
    """`limits`: analysis/limits.compact's fragment, shown after the cost (empty: nothing)."""
    parts = []
    if five and five.get("util") is not None:
        util = five["util"]
        resets = five.get("resets_at_dt")
        left = (resets - now).total_seconds() if resets else None
        text = f"5h {bar(util)} {util:.0f}%" + (f" ↻{duration(left)}" if left and left > 0 else "")
        state = level(util, alerts)
        parts.append(f"{COLOURS[state]}{text}{RESET}" if colour else text + (" !" if state == "critical" else ""))
    else:
        parts.append("5h –")
    if seven and seven.get("util") is not None:
        parts.append(f"7d {seven['util']:.0f}%")
    mark = pace_mark(pace)
    if mark:
        parts.append(mark)
    if cost is not None:
        parts.append(f"${cost:.2f} API-eq")
    if limits:
        parts.append(limits)
    return " · ".join(parts) + stale_note
