"""What a utilisation value may be, whichever source gave it (the usage API, the
status line, budget.json): one rule, so no reading can be stored that budget.json's
validation would later refuse. Pure and import-light: the status line loads it."""

from __future__ import annotations

MAX_PCT = 1000.0  # above 100 happens (overage); beyond this it is junk


def number(value, maximum: float) -> float | None:
    """A finite number in [0, maximum], also from a string ("12"); None for anything else."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:
        return None
    return value if 0 <= value <= maximum else None  # NaN fails both


def percentage(value) -> float | None:
    return number(value, MAX_PCT)
