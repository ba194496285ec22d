"""Progress for a long index build: on stderr, only when it is a terminal and
only once the build has taken more than a second."""

from __future__ import annotations

import sys
import time

DELAY_S = 1.0


def on_tty(stream=None):
    """A progress(done_bytes, total_bytes) callable, or None when stderr is not a TTY."""
    stream = stream or sys.stderr
    if not stream.isatty():
        return None
    started = time.monotonic()
    state = {"shown": False, "last": 0.0}

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total:
            if state["shown"]:
                stream.write("\r\033[K")
                stream.flush()
            return
        if now - started < DELAY_S or now - state["last"] < 0.1:
            return
        state.update(shown=True, last=now)
        stream.write(f"\rindexing Claude Code transcripts: {done >> 20}/{total >> 20} MB ({100 * done // max(total, 1)}%)")
        stream.flush()

    return progress
