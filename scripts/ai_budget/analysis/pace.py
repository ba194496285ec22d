"""Pace within a usage window (CodexBar's formula). Pure.

expected = share of the window elapsed; delta = used − expected (> 0: burning
faster than an even pace); at the current rate the window runs out after
(100 − used) / (used / elapsed).
"""

from __future__ import annotations

from datetime import datetime, timedelta

WINDOW_MINUTES = {"five_hour": 300, "seven_day": 10080}


def stage(delta: float) -> str:
    size = abs(delta)
    if size <= 2:
        return "on track"
    direction = "ahead" if delta > 0 else "behind"
    if size <= 6:
        return f"slightly {direction}"
    if size <= 12:
        return direction
    return f"far {direction}"


def pace(used: float | None, resets_at: datetime | None, now: datetime, window: str = "five_hour") -> dict | None:
    """None when there is no running window to measure against."""
    duration = WINDOW_MINUTES[window]
    if used is None or resets_at is None:
        return None
    until = (resets_at - now).total_seconds() / 60
    if not 0 < until <= duration:
        return None
    elapsed = duration - until
    actual = max(0.0, min(float(used), 100.0))
    if elapsed <= 0:
        return None
    expected = elapsed / duration * 100
    delta = actual - expected
    result = {
        "expected_pct": round(expected, 1),
        "delta_pct": round(delta, 1),
        "stage": stage(delta),
        "runs_out_at": None,
        "lasts_to_reset": True,
        "minutes_to_reset": round(until),
    }
    if actual >= 100:
        result.update(runs_out_at=now, lasts_to_reset=False)
    elif actual > 0:
        eta = (100 - actual) / (actual / elapsed)
        if eta < until:
            result.update(runs_out_at=now + timedelta(minutes=eta), lasts_to_reset=False)
    return result


def burn(amount: float, start: datetime, end: datetime, now: datetime) -> dict | None:
    """The rate of `amount` since `start` and where it lands at `end` at that rate
    (None before a minute has passed or once `end` is reached)."""
    elapsed_h = (now - start).total_seconds() / 3600
    left_h = (end - now).total_seconds() / 3600
    if elapsed_h < 1 / 60 or left_h <= 0:
        return None
    per_hour = amount / elapsed_h
    return {"per_hour": round(per_hour, 4), "at_end": round(amount + per_hour * left_h, 4)}
