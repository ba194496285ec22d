"""The token model every layer shares: how responses are summed, whatever names a
report gives the fields when it writes them."""

from __future__ import annotations

from dataclasses import dataclass

SYNTHETIC = "<synthetic>"  # Claude Code's model name for lines it made up itself (no API call)


def model_label(model: str | None, fast: bool) -> str | None:
    """Model as reported: fast mode gets ccusage's '-fast' suffix; <synthetic> is None."""
    if not model or model == SYNTHETIC:
        return None
    return model + "-fast" if fast else model


@dataclass(slots=True)
class Usage:
    """Responses summed over a time slot (a quarter hour from the index, a day from history)."""

    ts_ms: int
    model: str | None
    fast: bool
    project: str
    session: str
    count: int
    input: int
    output: int
    cache_create: int
    cache_read: int
    cost: float  # of the priced responses
    unpriced: int  # responses with no known price
    first_ms: int
    last_ms: int
    cost_state: str = ""  # "cost-state" or "unattributed": calls only a cost-state record holds, reported apart

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_create + self.cache_read

    @property
    def model_name(self) -> str | None:
        return model_label(self.model, self.fast)
