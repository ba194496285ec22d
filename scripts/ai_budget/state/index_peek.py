"""The transcript index read without the parser: where it is, and a session's cost
when the index holds every one of its transcripts as they are on disk now. The
status line runs this on every message (sqlite3 and os only); when it answers
None, the caller syncs through state/index.py, which keeps the index's layout."""

from __future__ import annotations

import os
import sqlite3
import stat

from .. import notices, paths

# PRAGMA user_version once schema, version and derived structures are in place (state/index.py). It
# follows index.VERSION (tests/test_fast_path.py checks): at 5 it would have let a version-5 index,
# already set up, skip the version check, and so the rebuild version 6 needs.
SETUP = 6
SESSION_COST = "SELECT total(cost) FROM entries WHERE project = ? AND session = ?"  # unpriced rows count 0
PEEK_TIMEOUT_S = 0.05  # a writer checkpointing: the caller's sync waits its turn instead

_located: dict[str, str] = {}  # cache folder → where its index is, decided once per process


def db_path_str() -> str:
    """The index in the cache folder; a temporary one when that cannot be written
    (still every answer, just a fuller read each time)."""
    cache = paths.cache_dir_str()
    if cache not in _located:
        path = os.path.join(cache, "index.sqlite")
        if not _writable(path):
            import tempfile

            user = os.getuid() if hasattr(os, "getuid") else "user"
            fallback = os.path.join(tempfile.gettempdir(), f"ai-budget-{user}", "index.sqlite")
            notices.add(f"{cache} is not writable: using a temporary index in {os.path.dirname(fallback)}")
            os.makedirs(os.path.dirname(fallback), exist_ok=True)
            path = fallback
        _located[cache] = path
    return _located[cache]


def _writable(path: str) -> bool:
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK) and (not os.path.exists(path) or os.access(path, os.R_OK | os.W_OK))


def session_cost(files: list[str], project: str, session: str, prices_fingerprint: str,
                 as_is: bool = False) -> float | None:
    """The session's API-equivalent cost as indexed, if the index is set up, priced with
    this table and holds each of `files` (index keys: str(Path)) at its current inode,
    size and mtime; else None (nothing to read, or something to sync first). as_is: what
    the index holds, whatever the files and prices are now. Writes nothing."""
    path = db_path_str()
    if not os.path.isfile(path):
        return None
    now = {}
    for name in files:
        try:
            st = os.stat(name)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        now[name] = (st.st_ino, st.st_size, st.st_mtime_ns)
    try:
        con = sqlite3.connect(path, timeout=PEEK_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        con.execute("BEGIN")  # one snapshot for the checks and the sum
        if con.execute("PRAGMA user_version").fetchone()[0] != SETUP:
            return None
        if not as_is:
            if con.execute("SELECT value FROM meta WHERE key = 'prices'").fetchone() != (prices_fingerprint,):
                return None
            rows = con.execute(f"SELECT path, inode, size, mtime_ns FROM files WHERE path IN ({','.join('?' * len(now))})",
                               list(now)).fetchall()
            if len(rows) != len(now) or any(now[p] != (ino, size, mtime) for p, ino, size, mtime in rows):
                return None
        return con.execute(SESSION_COST, (project, session)).fetchone()[0]
    except sqlite3.Error:  # missing tables, damage, busy: the sync decides what to do
        return None
    finally:
        con.close()


# ---------------------------------------------------------------- the first build, in the background
# A first build reads the whole history (minutes for gigabytes): the SessionStart hook
# starts it detached and answers at once; the process holds the build lock while it runs.

BUILD_POLL_S = 0.05


def _build_lock() -> str:
    folder = os.path.join(paths.cache_dir_str(), "locks")
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, "index-build.lock")


def building() -> bool:
    """Whether a background build holds the build lock now."""
    import fcntl

    try:
        with open(_build_lock(), "a+b") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    except (OSError, ImportError):  # no cache folder, no flock (Windows): no background builds either
        return False
    return False


def cold() -> bool:
    """No index yet, one of another version (after an upgrade: rebuilt), or one that holds
    no transcript: the next sync is a whole build."""
    path = db_path_str()
    if not os.path.isfile(path):
        return True
    try:
        con = sqlite3.connect(path, timeout=PEEK_TIMEOUT_S)
        try:
            if con.execute("PRAGMA user_version").fetchone()[0] != SETUP:
                return True
            return con.execute("SELECT 1 FROM files LIMIT 1").fetchone() is None
        finally:
            con.close()
    except sqlite3.Error:  # not set up, damaged or busy: the sync sorts it out
        return False


def build_in_background(command: list[str], wait_s: float) -> bool:
    """Run `command` (a CLI run that syncs the whole index) detached, holding the build
    lock until it exits (once: a build already running is not started twice); wait up to
    `wait_s` for it. True when no build is running any more on return."""
    import fcntl
    import subprocess
    import time

    try:
        handle = open(_build_lock(), "a+b")
    except OSError:
        return True  # nowhere to keep the lock: the caller syncs in the foreground
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # another build runs already
        else:
            # The child inherits the locked file: the lock is released when it (and its workers) exit.
            try:
                subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 pass_fds=(handle.fileno(),), start_new_session=True, close_fds=True)
            except OSError:
                return True  # could not start it: the caller syncs in the foreground
    deadline = time.monotonic() + wait_s
    while building():
        if time.monotonic() >= deadline:
            return False
        time.sleep(BUILD_POLL_S)
    return True


# ---------------------------------------------------------------- spend per period, in one query

QUARTER_MS = 900_000  # the slots table's bucket (state/index.py)


def period_spend(starts_ms: dict[str, int], con: sqlite3.Connection | None = None) -> dict[str, dict] | None:
    """{period: {cost_usd, tokens, unpriced}} of the transcript lines since each start (epoch
    ms), in one query over the quarter-hour slots (a start off the quarter hour, which no
    time zone's midnight is today, reads the entries instead). None without an index
    to read (`con`: an open one, else the index file is opened here)."""
    if not starts_ms:
        return {}
    parts, params = [], []
    for period, start in starts_ms.items():
        if start % QUARTER_MS == 0:
            parts.append("SELECT ?, total(cost), total(input + output + cache_create + cache_read), total(unpriced) "
                         "FROM slots WHERE slot >= ? AND n > 0")
        else:
            parts.append("SELECT ?, total(cost), total(input + output + cache_5m + cache_1h + cache_read), "
                         "count(*) - count(cost) FROM entries WHERE ts_ms >= ?")
        params += [period, start]
    own = con is None
    if own:
        path = db_path_str()
        if not os.path.isfile(path):
            return None
        try:
            con = sqlite3.connect(path, timeout=PEEK_TIMEOUT_S)
        except sqlite3.Error:
            return None
    try:
        rows = con.execute(" UNION ALL ".join(parts), params).fetchall()
    except sqlite3.Error:
        if own:
            return None
        raise
    finally:
        if own:
            con.close()
    return {period: {"cost_usd": round(cost, 4), "tokens": int(tokens), "unpriced": int(unpriced)}
            for period, cost, tokens, unpriced in rows}
