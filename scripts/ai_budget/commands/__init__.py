"""One module per CLI command: gather from sources, compute, write state, render.

Each `run(args, now)` returns a Result; cli.py prints it as text or JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Result:
    data: dict
    text: str
    code: int = 0
    warnings: list[str] = field(default_factory=list)


def synced_prices(budget: dict):
    """The price table, after bringing the transcript index up to date."""
    from ..analysis import pricing
    from ..outputs import progress
    from ..state import index

    from .. import notices

    prices = pricing.load(budget.get("pricing_overrides"))
    index.sync(prices, progress=progress.on_tty())
    skipped = index.skipped_lines()
    if skipped:
        notices.add(f"{skipped:,} transcript line(s) with usage skipped: they cannot be represented "
                    "(JSON nested too deep, a token count or a time out of range)")
    return prices
