"""One module per CLI command: gather from sources, compute, write state, render.

Each `run(args, now)` returns a Result; cli.py prints it as text or JSON.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

STDIN_LIMIT = 1 << 20
STDIN_WAIT_S = 1.0  # Claude Code writes its JSON at once; a parent that never closes stdin must not hang us


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


def read_stdin(limit: int = STDIN_LIMIT, wait_s: float = STDIN_WAIT_S) -> str:
    """What Claude Code wrote on stdin, read for at most `wait_s` seconds and `limit`
    bytes; whatever arrived by then is the input. A terminal is empty input."""
    import os
    import select
    import time

    stream = sys.stdin
    try:
        if stream is None or stream.isatty():
            return ""
        fd = stream.fileno()
    except (OSError, ValueError):  # closed, or an in-memory stream (tests): nothing can block
        return stream.read(limit) if stream is not None and not stream.closed else ""
    chunks, size, deadline = [], 0, time.monotonic() + wait_s
    while size < limit and (left := deadline - time.monotonic()) > 0:
        try:
            ready = select.select([fd], [], [], left)[0]
        except (OSError, ValueError):  # Windows: select works on sockets only
            return stream.read(limit)
        chunk = os.read(fd, min(1 << 16, limit - size)) if ready else b""
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace")
