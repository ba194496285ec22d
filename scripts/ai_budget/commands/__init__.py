"""One module per CLI command: read through core (or sources and state), write state, render.

Each `run(args, now)` returns a Result; cli.py prints it as text or JSON. A command
never imports another: what two share lives here or below.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta

from ..errors import BudgetError

STDIN_LIMIT = 1 << 20
STDIN_WAIT_S = 1.0  # Claude Code writes its JSON at once; a parent that never closes stdin must not hang us


class Result:
    """What a command hands cli.py. A plain class: importing dataclasses costs a
    status line run more than everything else it does."""

    __slots__ = ("data", "text", "code", "warnings")

    def __init__(self, data: dict, text: str, code: int = 0, warnings: list[str] | None = None):
        self.data, self.text, self.code, self.warnings = data, text, code, [] if warnings is None else warnings

    def __eq__(self, other):
        return isinstance(other, Result) and all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __repr__(self):
        return f"Result({', '.join(f'{k}={getattr(self, k)!r}' for k in self.__slots__)})"


def record_check(brief: dict, now, session_id: str | None) -> dict:
    """A check's writes, after core.brief: a reading newer than budget.json's goes
    into it, and the reading becomes the session's start (a session id given) or a
    terminal check that a session started later adopts, with the backlog's estimates
    (type, units, %, output tokens, basis, samples). Fills in `brief["session"]`."""
    from .. import core, paths
    from ..analysis.accuracy import check_estimates
    from ..sources import utilisation
    from ..state import budget_file, session_state
    from ..timefmt import iso

    util, session = brief["claude"], brief["session"]
    path = paths.budget_file()
    if util["observed_at"] and util["observed_at"] != budget_file.load(path)["claude"].get("last_fetched"):
        with budget_file.update(path) as fresh:
            utilisation.record(fresh["claude"], util)
    trusted = util["source"] != "none" and not util["stale"] and core.used_5h(util) is not None
    # The brief's estimates, so the log can set them beside what the session measured.
    reading = {**session_state.snapshot(iso(now), util, trusted), "estimates": check_estimates(brief["backlog"]["estimates"])}
    if session_id:
        snapshot = session_state.record_start(session_id, {"session_id": session_id, "transcript": session["transcript"],
                                                           **reading})
    else:
        snapshot = session_state.record_terminal(reading)
    session.update(started_at=snapshot["started_at"], checks=snapshot.get("checks", 1),
                   start_trusted=snapshot.get("trusted", False))
    return brief


def save_history(home, machine: str, now) -> dict:
    """Merge the index's per-day rows into this machine's history file and commit it
    when it changed: {file, changed, commit}."""
    from ..outputs import gitrepo
    from ..state import history_file

    path, changed = history_file.save(home, machine)
    git = gitrepo.commit(home, [path], f"history: {machine} usage through {now.strftime('%Y-%m-%d')}") if changed \
        else {"committed": False, "sha": None, "notes": ["history already up to date"]}
    return {"file": str(path), "changed": changed, "commit": git}


def apply_balance(what: str, fields: dict, now) -> Result:
    """`budget set` and the dashboard's forms: validate (state/balances), then the writes in
    order: the ledger entry (the dated record), budget.json (the current values check reads;
    not for API credits, which live in their ledger only), and a commit of both. Alerts
    have no ledger and are not committed, as before."""
    from .. import paths
    from ..outputs import gitrepo
    from ..state import balances, budget_file, ledgers

    fields = balances.check_fields(what, fields)
    home, warnings = paths.budget_home(), []
    if what == "api":
        entry = balances.api_entry(fields, now)
        files, text, data = [ledgers.append(home, "api", entry)], balances.api_text(entry), {"api": entry}
    else:
        with budget_file.update(paths.budget_file()) as budget:
            text = balances.HANDLERS[what](fields, now, budget, warnings)
            section = dict(budget[what])
            budget_file.validate(budget)  # before the ledger: a value budget.json refuses must not land in it
            files = [] if what == "alerts" else [ledgers.append(home, what, balances.ledger_entry(what, section, now))]
        data = {what: section}
        if files:
            files.append(paths.budget_file())
    if files:
        git = gitrepo.commit(home, files, f"balance: {text}")
        data["commit"] = git
        # "nothing to commit": a concurrent set committed our line with its own (commits are locked, writes first).
        warnings += [] if git["committed"] else [n for n in git["notes"] if n != "nothing to commit"]
    return Result(data=data, text=text, warnings=warnings)


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


# ---------------------------------------------------------------- --since, --until, --tz

def parse_day(value: str | None, flag: str) -> str | None:
    """A --since/--until day as YYYY-MM-DD (YYYYMMDD accepted); bad input is a BudgetError."""
    if value is None:
        return None
    digits = value.replace("-", "")
    if not re.fullmatch(r"\d{8}", digits):
        raise BudgetError(f"{flag}: expected YYYY-MM-DD or YYYYMMDD, got {value!r}")
    try:
        datetime.strptime(digits, "%Y%m%d")
    except ValueError:
        raise BudgetError(f"{flag}: {value!r} is not a calendar date") from None
    return f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"


def zone(name: str | None):
    if not name:
        return datetime.now().astimezone().tzinfo
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # here: the status line and hooks never need it

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BudgetError(f"--tz: unknown time zone {name!r} (use an IANA name like Europe/Berlin or UTC)") from None


def day_ms(day: str | None, tz, shift_days: int = 0) -> int | None:
    """Epoch ms of local midnight starting `day`, moved by whole days; None for no day."""
    if day is None:
        return None
    return int((datetime.fromisoformat(day).replace(tzinfo=tz) + timedelta(days=shift_days)).timestamp() * 1000)
