"""Incremental index of all Claude Code transcripts (SQLite, in the cache dir).

Per file it remembers inode, size, mtime and the byte offset after the last
complete line, so a run reads only appended bytes; a truncated or replaced
file is re-read. It stores de-duplicated usage rows only (ids, model, times,
token counts, cost): never message content. Rows of transcripts Claude Code
has deleted stay. It is a cache: delete it and the next run rebuilds it from
the transcripts still present.
"""

from __future__ import annotations

import gc
import os
import sqlite3
import stat
import sys
from pathlib import Path

from .. import paths
from ..analysis.dedup import Deduper
from ..analysis.reports import Usage
from ..sources import transcripts
from ..sources.transcripts import Entry, model_label
from .atomic import locked

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, inode INTEGER, size INTEGER, mtime_ns INTEGER,
                                  offset INTEGER, project TEXT, session TEXT);
CREATE TABLE IF NOT EXISTS entries (rowid INTEGER PRIMARY KEY, message_id TEXT, request_id TEXT, ts_ms INTEGER,
    model TEXT, fast INTEGER, sidechain INTEGER, input INTEGER, output INTEGER, cache_5m INTEGER, cache_1h INTEGER,
    cache_read INTEGER, web_search INTEGER, web_fetch INTEGER, project TEXT, session TEXT, cost REAL, file TEXT);
CREATE INDEX IF NOT EXISTS entries_mid ON entries(message_id);
CREATE TABLE IF NOT EXISTS slots (slot INTEGER, model TEXT, fast INTEGER, n INTEGER, input INTEGER, output INTEGER,
    cache_create INTEGER, cache_read INTEGER, cost REAL, unpriced INTEGER, PRIMARY KEY (slot, model, fast)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""
# `slots` sums entries per quarter hour and model, so time reports read a few
# thousand rows instead of every response; triggers keep it exact through
# inserts, de-duplication replacements and re-reads.
_SLOT = "(({r}.ts_ms / 900000) * 900000, coalesce({r}.model, ''), {r}.fast)"
_SLOT_VALUES = ("{r}.input, {r}.output, {r}.cache_5m + {r}.cache_1h, {r}.cache_read, coalesce({r}.cost, 0), "
                "{r}.cost IS NULL")
_ADD = (f"INSERT INTO slots VALUES ({_SLOT[1:-1]}, 1, {_SLOT_VALUES}) ON CONFLICT (slot, model, fast) DO UPDATE SET "
        "n = n + 1, input = input + excluded.input, output = output + excluded.output, "
        "cache_create = cache_create + excluded.cache_create, cache_read = cache_read + excluded.cache_read, "
        "cost = cost + excluded.cost, unpriced = unpriced + excluded.unpriced")
_SUB = ("UPDATE slots SET n = n - 1, input = input - OLD.input, output = output - OLD.output, "
        "cache_create = cache_create - OLD.cache_5m - OLD.cache_1h, cache_read = cache_read - OLD.cache_read, "
        "cost = cost - coalesce(OLD.cost, 0), unpriced = unpriced - (OLD.cost IS NULL) "
        f"WHERE (slot, model, fast) = {_SLOT.format(r='OLD')}")
# Derived from entries. A cold build or a repricing drops them and rebuilds them
# in one pass afterwards, rather than maintaining them row by row.
DERIVED = [
    "CREATE INDEX IF NOT EXISTS entries_ts ON entries(ts_ms)",
    "CREATE INDEX IF NOT EXISTS entries_session ON entries(session)",
    f"CREATE TRIGGER IF NOT EXISTS slots_add AFTER INSERT ON entries BEGIN {_ADD.format(r='NEW')}; END",
    f"CREATE TRIGGER IF NOT EXISTS slots_sub AFTER DELETE ON entries BEGIN {_SUB}; END",
    f"CREATE TRIGGER IF NOT EXISTS slots_upd AFTER UPDATE ON entries BEGIN {_SUB}; {_ADD.format(r='NEW')}; END",
]
VERSION = "2"
SETUP = 2  # PRAGMA user_version once schema, version and derived structures are in place
BATCH = 20_000  # entries merged per step: memory stays flat whatever the history size
PARALLEL_BYTES = 32 << 20  # below this, starting workers costs more than it saves
PARALLEL_MAX = 4
QUARTER_MS = 900_000
HOUR_MS = 3_600_000
_COLS = ("message_id", "request_id", "ts_ms", "model", "fast", "sidechain", "input", "output", "cache_5m",
         "cache_1h", "cache_read", "web_search", "web_fetch", "project", "session")


def db_path() -> Path:
    return paths.cache_dir() / "index.sqlite"


def connect() -> sqlite3.Connection:
    path = db_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=30)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    if con.execute("PRAGMA user_version").fetchone()[0] == SETUP:
        return con  # set up already: skip the schema statements on every status line run
    con.executescript(SCHEMA)
    with con:
        if _meta(con, "version") != VERSION:
            con.execute("DROP TABLE IF EXISTS slots")
            con.executescript(SCHEMA)
            con.execute("DELETE FROM files")
            con.execute("DELETE FROM entries")
            _set_meta(con, "version", VERSION)
        _create_derived(con)
        con.execute(f"PRAGMA user_version = {SETUP}")
    return con


def _create_derived(con) -> None:
    for statement in DERIVED:
        con.execute(statement)


def _drop_derived(con) -> None:
    for kind, name in (("INDEX", "entries_ts"), ("INDEX", "entries_session"), ("TRIGGER", "slots_add"),
                       ("TRIGGER", "slots_sub"), ("TRIGGER", "slots_upd")):
        con.execute(f"DROP {kind} IF EXISTS {name}")


def _rebuild_derived(con) -> None:
    con.execute("DELETE FROM slots")
    con.execute(f"INSERT INTO slots SELECT {_SLOT[1:-1].format(r='entries')}, count(*), sum(input), sum(output), "
                "sum(cache_5m + cache_1h), sum(cache_read), total(cost), count(*) - count(cost) FROM entries GROUP BY 1, 2, 3")
    _create_derived(con)


def _meta(con, key):
    row = con.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    return row[0] if row else None


def _set_meta(con, key, value):
    con.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))


def _to_entry(row) -> Entry:
    (mid, rid, ts, model, fast, side, inp, out, c5, c1, cr, ws, wf, project, session) = row
    return Entry(ts, mid, rid, model, bool(side), inp, out, c5, c1, cr, ws, wf, bool(fast), project, session)


def _row(e: Entry) -> tuple:
    return (e.message_id, e.request_id, e.ts_ms, e.model, int(e.fast), int(e.sidechain), e.input, e.output,
            e.cache_5m, e.cache_1h, e.cache_read, e.web_search, e.web_fetch, e.project, e.session)


def _pending(con, found, only=None):
    """(path, project, session, start offset, stat, replaced) for every file with new bytes."""
    sql = "SELECT path, inode, size, mtime_ns, offset FROM files"
    params = [str(p) for p in only or ()]
    if only is not None:
        sql += f" WHERE path IN ({','.join('?' * len(params))})"
    known = {row[0]: row[1:] for row in con.execute(sql, params)}
    for root, key, st in found:
        old = known.get(key)
        if old and (old[0], old[1], old[2]) == (st.st_ino, st.st_size, st.st_mtime_ns):
            continue
        replaced = old is not None and (old[0] != st.st_ino or st.st_size < old[3])
        start = 0 if old is None or replaced else old[3]
        project, session = transcripts.session_of(Path(key), root)
        yield key, project, session, start, st, replaced


_prices = None  # the price table, set in the parent before workers fork or in each spawned worker


def _init_worker(prices) -> None:
    global _prices
    _prices = prices
    gc.disable()  # see sync(); spawned workers do not inherit it


def _read(job):
    """One file's new entries, de-duplicated within the file and priced (runs in a worker)."""
    key, project, session, start = job
    reader = transcripts.UsageLines(Path(key), start)
    dedup = Deduper()
    try:
        dedup.extend(transcripts.read_entries(Path(key), project, session, reader))
    except OSError:
        pass
    # Plain tuples: they cross the process boundary far cheaper than objects.
    return [(*_row(e), _prices.entry_cost(e)) for e in dedup.kept], reader.end


def _results(jobs, pending: int, prices):
    """Read the jobs in order; both cores when there are `pending` bytes enough."""
    _init_worker(prices)
    todo = [(key, project, session, start) for key, project, session, start, _st, _r in jobs]
    workers = min(os.cpu_count() or 1, PARALLEL_MAX)
    if workers < 2 or pending < PARALLEL_BYTES or len(todo) < 2:
        yield from map(_read, todo)
        return
    import multiprocessing

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() and sys.platform == "linux" else "spawn"
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(workers, initializer=_init_worker, initargs=(prices,)) as pool:
        yield from pool.imap(_read, todo, chunksize=4)


def sync(prices, roots: list[Path] | None = None, only: list[Path] | None = None, progress=None) -> dict:
    """Bring the index up to date (or just the files in `only`); returns counts.
    Safe with concurrent runs. `progress(done_bytes, total_bytes)` is called as files are read."""
    roots = paths.projects_roots() if roots is None else roots
    # Parsed lines hold no reference cycles; the cyclic collector would only
    # re-walk the growing heap of kept entries, over and over.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _sync(prices, roots, only, progress)
    finally:
        if collecting:
            gc.enable()


def _sync(prices, roots, only, progress) -> dict:
    found = transcripts.iter_transcripts(roots) if only is None else _stat_only(roots, only)
    with locked(db_path()):
        con = connect()
        try:
            with con:
                if _meta(con, "prices") != prices.fingerprint:
                    _reprice(con, prices)
                jobs = list(_pending(con, found, only))
                # Only a build with something to read: else every run would rebuild the derived tables.
                empty = bool(jobs) and con.execute("SELECT 1 FROM entries LIMIT 1").fetchone() is None
                if empty:
                    _drop_derived(con)
                total = sum(st.st_size - start for _k, _p, _s, start, st, _r in jobs)
                done = read = written = 0
                stored = set() if empty else None
                batch = _Batch(con, stored)
                for job, (rows, end) in zip(jobs, _results(jobs, total, prices)):
                    key, project, session, start, st, replaced = job
                    if replaced:
                        con.execute("DELETE FROM entries WHERE file=?", (key,))
                    batch.add(rows, key)
                    read += len(rows)
                    if len(batch.dedup.kept) >= BATCH:
                        written += batch.flush()
                        batch = _Batch(con, stored)
                    con.execute("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?)",
                                (key, st.st_ino, st.st_size, st.st_mtime_ns, end, project, session))
                    done += st.st_size - start
                    if progress:
                        progress(done, total)
                written += batch.flush()
                if empty:
                    _rebuild_derived(con)
        finally:
            con.close()
    return {"files_read": len(jobs), "entries_read": read, "rows_written": written}


def _stat_only(roots, files):
    for path in files:
        root = transcripts.root_of(path, roots)
        try:
            st = os.stat(path)
        except OSError:
            continue
        if root is not None and stat.S_ISREG(st.st_mode):  # opening a FIFO blocks for ever
            yield root, str(path), st


class _Batch:
    """New rows de-duplicated against each other and against kept rows, merged
    file by file as workers deliver them (so it overlaps their reading) and
    written in one go. Kept rows are looked up by message id. In a build that
    started from an empty table, `stored` holds the hashes of the ids written
    so far, and only those are looked up."""

    def __init__(self, con, stored: set | None):
        self.con, self.stored = con, stored
        self.dedup = Deduper()
        self.rowids: dict[int, int] = {}  # kept index → rowid of a row already stored
        self.extra: dict[int, tuple] = {}  # id(entry) → (cost, file)
        self.looked_up: set[str] = set()

    def add(self, rows: list, key: str) -> None:
        entries = [_to_entry(row[:-1]) for row in rows]
        mids = {e.message_id for e in entries if e.message_id} - self.looked_up
        if self.stored is not None:
            mids = {m for m in mids if hash(m) in self.stored}
        if mids:
            mids = sorted(mids)
            self.looked_up.update(mids)
            for i in range(0, len(mids), 500):
                chunk = mids[i:i + 500]
                q = f"SELECT rowid, {', '.join(_COLS)} FROM entries WHERE message_id IN ({','.join('?' * len(chunk))}) ORDER BY rowid"
                for row in self.con.execute(q, chunk):
                    self.rowids[self.dedup.preload(_to_entry(row[1:]))] = row[0]
        for e, row in zip(entries, rows):
            self.dedup.add(e)
            self.extra[id(e)] = (row[-1], key)

    def flush(self) -> int:
        updates, inserts = [], []
        for index in sorted(self.dedup.changed):
            e = self.dedup.kept[index]
            values = _row(e) + self.extra[id(e)]
            if index in self.rowids:
                updates.append(values + (self.rowids[index],))
            else:
                inserts.append(values)
        self.con.executemany(f"UPDATE entries SET {', '.join(c + '=?' for c in _COLS)}, cost=?, file=? WHERE rowid=?", updates)
        if self.stored is not None:
            self.stored.update(hash(values[0]) for values in inserts if values[0])
        self.con.executemany(f"INSERT INTO entries ({', '.join(_COLS)}, cost, file) VALUES ({','.join('?' * (len(_COLS) + 2))})", inserts)
        return len(updates) + len(inserts)


def _reprice(con, prices) -> None:
    rows = con.execute(f"SELECT rowid, {', '.join(_COLS)} FROM entries").fetchall()
    _drop_derived(con)
    con.executemany("UPDATE entries SET cost=? WHERE rowid=?",
                    [(prices.entry_cost(_to_entry(r[1:])), r[0]) for r in rows])
    _rebuild_derived(con)
    _set_meta(con, "prices", prices.fingerprint)


def _query(sql: str, params: tuple = ()) -> list:
    con = connect()
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def _where(since_ms, until_ms, project, session=None, column="ts_ms") -> tuple[str, tuple]:
    terms, params = [], []
    for term, value in ((f"{column} >= ?", since_ms), (f"{column} < ?", until_ms), ("project = ?", project),
                        ("session = ?", session)):
        if value is not None:
            terms.append(term)
            params.append(value)
    return ("WHERE " + " AND ".join(terms)) if terms else "", tuple(params)


def entries(since_ms: int | None = None, until_ms: int | None = None, project: str | None = None,
            session: str | None = None) -> list[tuple[Entry, float | None]]:
    """Kept rows with their API-equivalent cost (None: unpriced), oldest first."""
    where, params = _where(since_ms, until_ms, project, session)
    rows = _query(f"SELECT {', '.join(_COLS)}, cost FROM entries {where} ORDER BY ts_ms", params)
    return [(_to_entry(r[:-1]), r[-1]) for r in rows]


def usage(since_ms: int | None = None, until_ms: int | None = None, project: str | None = None,
          per_session: bool = True, slot_ms: int = QUARTER_MS) -> list[Usage]:
    """Rows summed per time slot and model (and project and session when asked).
    A report buckets these instead of entries: every time zone's day starts on
    a quarter hour, most on the hour."""
    if per_session or project is not None:
        where, params = _where(since_ms, until_ms, project)
        keys = "project, session" if per_session else "'', ''"
        sql = (f"SELECT (ts_ms / {slot_ms}) * {slot_ms}, model, fast, {keys}, count(*), sum(input), sum(output), "
               f"sum(cache_5m + cache_1h), sum(cache_read), total(cost), count(*) - count(cost), min(ts_ms), max(ts_ms) "
               f"FROM entries {where} GROUP BY 1, 2, 3" + (", 4, 5" if per_session else ""))
    else:
        where, params = _where(since_ms, until_ms, None, column="slot")
        sql = (f"SELECT (slot / {slot_ms}) * {slot_ms}, nullif(model, ''), fast, '', '', sum(n), sum(input), sum(output), "
               f"sum(cache_create), sum(cache_read), total(cost), sum(unpriced), min(slot), max(slot) "
               f"FROM slots {where} {'AND' if where else 'WHERE'} n > 0 GROUP BY 1, 2, 3")
    return [Usage(r[0], r[1], bool(r[2]), *r[3:]) for r in _query(sql, params)]


def totals_since(since_ms: int) -> dict:
    """Responses, tokens and API-equivalent cost since a time (uses the time index)."""
    n, tokens, output, cost, unpriced = _query(
        "SELECT count(*), total(input + output + cache_5m + cache_1h + cache_read), total(output), total(cost), "
        "count(*) - count(cost) FROM entries WHERE ts_ms >= ?", (since_ms,))[0]
    return {"responses": n, "tokens": int(tokens), "output_tokens": int(output), "cost_usd": round(cost, 4),
            "unpriced": unpriced}


def session_cost(project: str, session: str) -> float:
    return _query("SELECT total(cost) FROM entries WHERE project = ? AND session = ?", (project, session))[0][0]


def cost_by_session(since_ms: int) -> dict[str, float]:
    """API-equivalent cost per session since a time (unpriced rows count 0)."""
    return {session: cost for session, cost in
            _query("SELECT session, total(cost) FROM entries WHERE ts_ms >= ? GROUP BY session", (since_ms,))}


def daily_by_model() -> dict:
    """{(UTC day, model label): (responses, input, output, cache_create, cache_read, cost, unpriced)}."""
    rows = _query("SELECT strftime('%Y-%m-%d', ts_ms / 1000, 'unixepoch'), model, fast, count(*), sum(input), sum(output), "
                  "sum(cache_5m + cache_1h), sum(cache_read), total(cost), count(*) - count(cost) "
                  "FROM entries GROUP BY 1, 2, 3")
    out = {}
    for day, model, fast, *values in rows:
        label = model_label(model, bool(fast))
        if label:
            out[(day, label)] = (*values[:5], round(values[5], 6), values[6])
    return out
