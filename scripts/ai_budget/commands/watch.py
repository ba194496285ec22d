"""budget watch: a live view redrawn in place every few seconds (outputs/watch.py's
frame from core.live) until q, Ctrl-C or SIGTERM; --once prints one frame.

The terminal is put in cbreak mode (keys without Enter, Ctrl-C still a signal) only
when stdin is a terminal, and restored however the loop ends. Redrawing in place
(an alternate screen) only when stdout is a terminal; else frames follow each other
as plain text. Colour only on a terminal without NO_COLOR. The usage API is asked
no more often than its cache allows (a cached answer costs no request), and after
a failed attempt not again for CACHE_TTL_S."""

from __future__ import annotations

import os
import re
import select
import signal
import sys
import time
from datetime import timedelta

from .. import core
from ..errors import BudgetError
from ..outputs.watch import frame
from . import Result

MIN_INTERVAL_S, MAX_INTERVAL_S = 1.0, 3600.0
RETRY_FETCH_S = 180  # the usage API's cache life: a failing source is not asked every frame
QUIT_KEYS = (b"q", b"Q", b"\x03", b"\x04")
ENTER, LEAVE = "\x1b[?1049h\x1b[?25l", "\x1b[?25h\x1b[?1049l"  # alternate screen, cursor hidden / back


def interval(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not MIN_INTERVAL_S <= seconds <= MAX_INTERVAL_S:  # NaN fails too
        raise BudgetError(f"--interval: seconds from {MIN_INTERVAL_S:g} to {MAX_INTERVAL_S:g}, got {value!r}")
    return seconds


class _Stop(BaseException):
    """SIGTERM, raised where the loop is (as KeyboardInterrupt, past any `except Exception`)."""


def _stop(_signum, _frame):
    raise _Stop


def run(args, now) -> Result:
    every = interval(args.interval)
    if args.once:
        data = core.live(now, allow_fetch=not args.no_fetch, session_id=args.session)
        return Result(data=data, text="\n".join(frame(data, now)))
    _loop(now, every, not args.no_fetch, args.session)
    return Result(data={}, text="")


def _keys_fd():
    """stdin's descriptor when it is a terminal with termios (keys can be read), else None."""
    try:
        import termios  # noqa: F401 - POSIX only
        return sys.stdin.fileno() if sys.stdin is not None and sys.stdin.isatty() else None
    except (ImportError, OSError, ValueError):
        return None


def _wait_for_quit(fd, seconds: float) -> bool:
    """Wait `seconds`; True as soon as a quit key arrives."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if fd is None and os.name == "nt":  # select takes sockets only there
            time.sleep(left)
            return False
        # select, not sleep, with nothing to read too: under libfaketime a signal in sleep became an OSError.
        if select.select([] if fd is None else [fd], [], [], left)[0]:
            try:
                got = os.read(fd, 64)
            except OSError:  # the terminal went away (hung up): nothing left to watch on
                return True
            if not got or any(k in got for k in QUIT_KEYS):
                return True
    return False


def _loop(start, every: float, fetch: bool, session_id: str | None = None) -> None:
    out = sys.stdout
    screen = out.isatty()
    colour = screen and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    fd = _keys_fd()
    saved = None
    previous = signal.signal(signal.SIGTERM, _stop)
    resumed = None
    began, retry_at, first = time.monotonic(), 0.0, True
    try:
        if fd is not None:
            import termios
            import tty

            saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)
            if hasattr(signal, "SIGCONT"):  # back from Ctrl-Z: the shell gave the terminal back in line mode
                resumed = signal.signal(signal.SIGCONT, lambda *_: tty.setcbreak(fd))
        if screen:
            out.write(ENTER)
        while True:
            now = start + timedelta(seconds=time.monotonic() - began)
            allow = fetch and time.monotonic() >= retry_at
            try:
                data = core.live(now, allow_fetch=allow, session_id=session_id)
                lines = frame(data, now, colour)
                if allow and data["problem"]:
                    retry_at = time.monotonic() + RETRY_FETCH_S
            except BudgetError as exc:
                if first:
                    raise
                lines = [f"ai-budget watch: could not refresh: {exc}", "(q or Ctrl-C to leave)"]
            first = False
            _draw(out, lines, screen)
            if _wait_for_quit(fd, every):
                break
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if resumed is not None:
            signal.signal(signal.SIGCONT, resumed)
        if saved is not None:
            import termios

            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        if screen:
            out.write(LEAVE)
            out.flush()


ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def fit(line: str, cols: int) -> str:
    """The line cut to the terminal's width (a wrapped line would shift the redraw);
    a line that must be cut loses its colour, not its words."""
    plain = ESCAPE.sub("", line)
    return line if len(plain) <= cols else plain[:max(cols - 1, 0)] + "…"


def _draw(out, lines: list[str], screen: bool) -> None:
    if not screen:
        out.write("\n".join(lines) + "\n\n")
    else:
        import shutil

        cols = shutil.get_terminal_size().columns
        out.write("\x1b[H" + "".join(f"{fit(line, cols)}\x1b[K\n" for line in lines) + "\x1b[J")
    out.flush()
