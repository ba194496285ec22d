"""budget set: the balances that have no API (Copilot, Gemini, Anthropic API credits)
and the alert thresholds. Validation and writes are shared with the dashboard's
forms (`commands.apply_balance`, `state/balances.py`)."""

from __future__ import annotations

from ..state.balances import FIELDS
from . import Result, apply_balance


def run(args, now) -> Result:
    return apply_balance(args.what, {key: getattr(args, key) for key in FIELDS[args.what]}, now)
