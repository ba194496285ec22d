"""The token model every layer shares: how responses are summed, whatever names a
report gives the fields when it writes them."""

from __future__ import annotations

from .records import record

SYNTHETIC = "<synthetic>"  # Claude Code's model name for lines it made up itself (no API call)


def model_label(model: str | None, fast: bool) -> str | None:
    """Model as reported: fast mode gets ccusage's '-fast' suffix; <synthetic> is None."""
    if not model or model == SYNTHETIC:
        return None
    return model + "-fast" if fast else model


class TokenFields:
    """What follows from the token fields, for an Entry (one response) and Totals alike."""

    __slots__ = ()

    @property
    def cache_create(self) -> int:
        return self.cache_5m + self.cache_1h

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_5m + self.cache_1h + self.cache_read


@record(slots=True)
class Totals(TokenFields):
    """Token counts summed over API responses. Where a source keeps only the sum of
    cache writes, the sum is in cache_5m (as an Entry without a breakdown)."""

    input: int = 0
    output: int = 0
    cache_5m: int = 0
    cache_1h: int = 0
    cache_read: int = 0
    web_search: int = 0
    web_fetch: int = 0
    responses: int = 0

    def add_entry(self, e) -> None:
        """One usage line (a transcript Entry): one response."""
        self.input += e.input
        self.output += e.output
        self.cache_5m += e.cache_5m
        self.cache_1h += e.cache_1h
        self.cache_read += e.cache_read
        self.web_search += e.web_search
        self.web_fetch += e.web_fetch
        self.responses += 1

    def add(self, other: Totals, sign: int = 1) -> None:
        """Add `other` (sign=-1: take it out). Field by field, not a loop over __slots__: reports
        call this for every slot row, and getattr/setattr made it a tenth of a warm report daily."""
        self.input += sign * other.input
        self.output += sign * other.output
        self.cache_5m += sign * other.cache_5m
        self.cache_1h += sign * other.cache_1h
        self.cache_read += sign * other.cache_read
        self.web_search += sign * other.web_search
        self.web_fetch += sign * other.web_fetch
        self.responses += sign * other.responses

    @classmethod
    def of(cls, entries) -> Totals:
        out = cls()
        for e in entries:
            out.add_entry(e)
        return out


@record(slots=True)
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
    def tokens(self) -> Totals:
        return Totals(self.input, self.output, self.cache_create, 0, self.cache_read, responses=self.count)

    @property
    def model_name(self) -> str | None:
        return model_label(self.model, self.fast)
