"""Incremental index of all Claude Code transcripts (SQLite, in the cache dir).

Per file it remembers inode, size, mtime and the byte offset after the last
complete line, so a run reads only appended bytes; a truncated or replaced
file is re-read. It stores de-duplicated usage rows only (ids, model, times,
token counts, cost, and the names of the tools, skill and subagent type that
used them): never message content or tool input. Rows of transcripts Claude Code
has deleted stay. It is a cache: delete it and the next run rebuilds it from
the transcripts still present.
"""

from __future__ import annotations

import gc
import os
import sqlite3
import stat
import sys
import time

from .. import notices, paths
from ..paths import Path  # pathlib when first called: a status line's sync of a session runs on strings
from ..atomic import locked
from ..errors import SourceUnavailable
from ..sources import cost_state, transcript_paths, transcripts
from ..sources.dedup import Deduper
from ..sources.transcripts import Entry
from ..tokens import SYNTHETIC, Totals, Usage, model_label
from .index_peek import SESSION_COST, SETUP, db_path_str
from .index_peek import period_spend as period_spend_on

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, inode INTEGER, size INTEGER, mtime_ns INTEGER,
                                  offset INTEGER, project TEXT, session TEXT, skipped INTEGER, print BLOB);
CREATE TABLE IF NOT EXISTS entries (rowid INTEGER PRIMARY KEY, message_id TEXT, request_id TEXT, ts_ms INTEGER,
    model TEXT, fast INTEGER, sidechain INTEGER, input INTEGER, output INTEGER, cache_5m INTEGER, cache_1h INTEGER,
    cache_read INTEGER, web_search INTEGER, web_fetch INTEGER, project TEXT, session TEXT, cost REAL, file TEXT,
    copied INTEGER, tools TEXT, skill TEXT, agent TEXT, agent_ref TEXT);
CREATE INDEX IF NOT EXISTS entries_mid ON entries(message_id);
CREATE TABLE IF NOT EXISTS slots (slot INTEGER, model TEXT, fast INTEGER, n INTEGER, input INTEGER, output INTEGER,
    cache_create INTEGER, cache_read INTEGER, cost REAL, unpriced INTEGER, PRIMARY KEY (slot, model, fast)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS cost_states (file TEXT, pos INTEGER, model TEXT, project TEXT, session TEXT, ts_ms INTEGER,
    start_ms INTEGER, api_ms INTEGER, duration_ms INTEGER, input INTEGER, output INTEGER, cache_5m INTEGER,
    cache_1h INTEGER, cache_read INTEGER, web_search INTEGER, PRIMARY KEY (file, pos, model)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS cost_states_session ON cost_states(session);
CREATE TABLE IF NOT EXISTS extras (project TEXT, session TEXT, ts_ms INTEGER, model TEXT, input INTEGER,
    output INTEGER, cache_5m INTEGER, cache_1h INTEGER, cache_read INTEGER, web_search INTEGER, cost REAL,
    attributed INTEGER);
CREATE INDEX IF NOT EXISTS extras_session ON extras(session);
CREATE TABLE IF NOT EXISTS agent_links (session TEXT, ref TEXT, type TEXT, via TEXT, PRIMARY KEY (session, ref)) WITHOUT ROWID;
"""
# `agent_links` ties a subagent's rows to its type when their lines do not say it
# (before Claude Code 2.1.3xx): a Task/Agent call id → the type it asked for; an
# agent id → its type and/or the call that started it (transcripts.read_entries).
# `cost_states` keeps each cost-state record as read; `extras` is derived from it
# and the entries (sources/cost_state.py), recomputed for the sessions a sync touched.
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
VERSION = "6"  # 3: cost-state records (files are re-read to find them); 4: skipped lines, file prints; 5: unattributed extras, copied lines; 6: tool, skill and agent names
BATCH = 20_000  # entries merged per step: memory stays flat whatever the history size
PARALLEL_BYTES = 32 << 20  # below this, starting workers costs more than it saves
PARALLEL_MAX = 4
QUARTER_MS = 900_000
HOUR_MS = 3_600_000
SLOT_SIZES = (HOUR_MS, QUARTER_MS, 60_000, 1_000, 1)


def slot_ms_for(tz, at) -> int:
    """The largest slot that buckets days exactly in `tz`: one that divides its offsets
    (summer and winter) around `at`. Most zones: an hour; +05:45 and the like: a quarter;
    anything finer reads the entries instead of the quarter-hour sums."""
    from datetime import timedelta

    offsets = [int(tz.utcoffset(at.replace(tzinfo=None) + timedelta(days=d)).total_seconds() * 1000)
               for d in range(0, 366, 61)]
    return next(size for size in SLOT_SIZES if all(o % size == 0 for o in offsets))
_COLS = ("message_id", "request_id", "ts_ms", "model", "fast", "sidechain", "input", "output", "cache_5m",
         "cache_1h", "cache_read", "web_search", "web_fetch", "project", "session", "copied", "tools", "skill", "agent",
         "agent_ref")


def db_path() -> Path:
    """The index file (state/index_peek.py decides where)."""
    return Path(db_path_str())


def connect() -> sqlite3.Connection:
    """An open, set-up index. A corrupt file is set aside (one notice) and rebuilt."""
    try:
        return _connect(db_path_str())
    except sqlite3.DatabaseError as exc:
        _set_aside(exc)
        return _connect(db_path_str())


def _set_aside(exc: sqlite3.DatabaseError) -> None:
    """A locked index is another run's: say so. Anything else means the file is damaged:
    move it (and its journal) aside, so the next connect rebuilds it from the transcripts."""
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        raise SourceUnavailable("the transcript index is busy (another ai-budget run holds it); try again") from None
    path = db_path()
    aside, n = path.with_name(f"{path.name}.corrupt-{int(time.time())}"), 0
    while os.path.lexists(aside):  # a second one this second: a rename over the first would fail or destroy it
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}-{n}")
    for suffix in ("", "-wal", "-shm"):
        try:
            os.replace(f"{path}{suffix}", f"{aside}{suffix}")
        except FileNotFoundError:
            pass
    notices.add(f"{path} was not a readable index ({exc}); set aside as {aside.name} and rebuilt")


def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, timeout=30)
    try:
        con.execute("PRAGMA journal_mode=WAL")  # kept by the file; set again, as one reset by hand comes back
        con.execute("PRAGMA synchronous=NORMAL")
        if con.execute("PRAGMA user_version").fetchone()[0] == SETUP:
            return con  # set up already: skip the schema statements on every status line run
        con.executescript(SCHEMA)
        with con:
            if _meta(con, "version") != VERSION:  # a cache: rebuilt from the transcripts
                for table in ("slots", "files", "entries", "cost_states", "extras", "agent_links"):
                    con.execute(f"DROP TABLE IF EXISTS {table}")
                con.executescript(SCHEMA)
                _set_meta(con, "version", VERSION)
            _create_derived(con)
            con.execute(f"PRAGMA user_version = {SETUP}")
    except BaseException:
        con.close()
        raise
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
    (mid, rid, ts, model, fast, side, inp, out, c5, c1, cr, ws, wf, project, session, copied, *names) = row
    return Entry(ts, mid, rid, model, bool(side), inp, out, c5, c1, cr, ws, wf, bool(fast), project, session, bool(copied),
                 *names)


def _row(e: Entry) -> tuple:
    return (e.message_id, e.request_id, e.ts_ms, e.model, int(e.fast), int(e.sidechain), e.input, e.output,
            e.cache_5m, e.cache_1h, e.cache_read, e.web_search, e.web_fetch, e.project, e.session, int(e.copied),
            e.tools, e.skill, e.agent, e.agent_ref)


PRINT_BYTES = 64


def file_print(path: str, offset: int) -> bytes | None:
    """The first and the last bytes before `offset`: if they changed, the file was rewritten
    in place (same inode, not only appended) and must be read again from the start."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(min(PRINT_BYTES, offset))
            handle.seek(max(0, offset - PRINT_BYTES))
            return head + handle.read(min(PRINT_BYTES, offset))
    except OSError:
        return None


def _pending(con, found, only=None):
    """(path, project, session, start offset, stat, replaced) for every file with new bytes."""
    # Every run compares every file: its stat only (offset and print are read for the few that changed).
    sql = "SELECT path, inode, size, mtime_ns FROM files"
    params = [p for p in map(str, only or ()) if transcript_paths.storable(p)]
    if only is not None:
        sql += f" WHERE path IN ({','.join('?' * len(params))})"
    known = {row[0]: row[1:] for row in con.execute(sql, params)}
    unstorable = []
    for root, key, st in found:
        if not transcript_paths.storable(key):  # never a name Claude Code writes; SQLite holds UTF-8 only
            unstorable.append(key.encode("utf-8", "backslashreplace").decode())
            continue
        old = known.get(key)
        if old == (st.st_ino, st.st_size, st.st_mtime_ns):
            continue
        if old is not None:
            rest = con.execute("SELECT offset, print FROM files WHERE path = ?", (key,)).fetchone()
            old = old + rest if rest else None  # gone since (no writer runs without the lock): read it whole
        replaced = old is not None and (old[0] != st.st_ino or st.st_size < old[3]
                                        or file_print(key, old[3]) != old[4])
        start = 0 if old is None or replaced else old[3]
        project, session = transcript_paths.session_of(key, str(root))
        yield key, project, session, start, st, replaced
    if unstorable:
        notices.add(f"{len(unstorable)} transcript(s) not indexed: the path is not valid UTF-8 ({unstorable[0]})")


_prices = None  # the price table, set in the parent before workers fork or in each spawned worker


def _init_worker(prices) -> None:
    global _prices
    _prices = prices
    gc.disable()  # see sync(); spawned workers do not inherit it


def _read(job):
    """One file's new entries, de-duplicated within the file and priced (runs in a worker)."""
    key, project, session, start = job
    states: list = []
    links = [meta] if (meta := transcripts.agent_meta(key)) else []
    reader = transcripts.UsageLines(key, start, states)
    dedup = Deduper()
    try:
        dedup.extend(transcripts.read_entries(key, project, session, reader, links))
    except OSError as exc:  # unreadable now (permissions, vanished): not recorded, so tried again next run
        return None, exc.strerror or type(exc).__name__, None, 0, None, None
    # Plain tuples: they cross the process boundary far cheaper than objects.
    return [(*_row(e), _prices.entry_cost(e)) for e in dedup.kept], reader.end, \
        [(s.pos, s.ts_ms, s.start_ms, s.api_ms, s.duration_ms, s.models) for s in states], reader.skipped, links, \
        file_print(key, reader.end)


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
        yield from pool.imap(_read, todo, chunksize=16)


def sync(prices, roots: list[Path] | None = None, only: list[Path] | None = None, progress=None,
         wait: bool | float = True, cost_of: tuple[str, str] | None = None) -> dict:
    """Bring the index up to date (or just the files in `only`); returns counts (skipped_lines:
    None after a sync of `only`).
    Safe with concurrent runs. `progress(done_bytes, total_bytes)` is called as files are read.
    wait: seconds at most for another run's sync to finish, then BlockingIOError (the status line).
    cost_of: (project, session) whose API-equivalent cost is returned too, as `session_cost`
    (read on the sync's own connection: the status line opens no second one)."""
    roots = paths.projects_roots() if roots is None else roots
    # Parsed lines hold no reference cycles; the cyclic collector would only
    # re-walk the growing heap of kept entries, over and over.
    collecting = gc.isenabled()
    gc.disable()
    try:
        try:
            return _sync(prices, roots, only, progress, wait, cost_of)
        except sqlite3.DatabaseError as exc:  # damage found past the first statements
            _set_aside(exc)
            return _sync(prices, roots, only, progress, wait, cost_of)
    finally:
        if collecting:
            gc.enable()


def _sync(prices, roots, only, progress, wait=True, cost_of=None) -> dict:
    found = transcripts.iter_transcripts(roots) if only is None else _stat_only(roots, only)
    with locked(db_path_str(), wait=wait):
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
                touched = set()
                unreadable = []
                file_rows = []  # written after the loop, in one statement
                for job, (rows, end, states, skipped, links, fprint) in zip(jobs, _results(jobs, total, prices)):
                    key, project, session, start, st, replaced = job
                    if rows is None:
                        unreadable.append(f"{key} ({end})")
                        continue
                    if replaced:
                        con.execute("DELETE FROM entries WHERE file=?", (key,))
                        con.execute("DELETE FROM cost_states WHERE file=?", (key,))
                    touched.add(session)
                    mtime_ms = st.st_mtime_ns // 1_000_000  # a record with no timestamped line before it in this read
                    if states:  # most files have none: an empty statement per file still costs
                        con.executemany("INSERT OR REPLACE INTO cost_states VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                                        [(key, pos, model, project, session, mtime_ms if ts is None else ts, start_ms, api,
                                          wall, *values) for pos, ts, start_ms, api, wall, models in states
                                         for model, values in models.items()])
                    if links:
                        con.executemany(_LINK, [(session, *link) for link in links])
                    batch.add(rows, key)
                    read += len(rows)
                    if batch.size >= BATCH:
                        written += batch.flush()
                        batch = _Batch(con, stored)
                    skipped += 0 if replaced or start == 0 else _skipped(con, key)
                    file_rows.append((key, st.st_ino, st.st_size, st.st_mtime_ns, end, project, session, skipped, fprint))
                    done += st.st_size - start
                    if progress:
                        progress(done, total)
                written += batch.flush()
                con.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?,?)", file_rows)
                if unreadable:
                    notices.add(f"could not read {len(unreadable)} transcript(s), tried again next run: "
                                + "; ".join(unreadable[:3]) + (" …" if len(unreadable) > 3 else ""))
                if empty:
                    _rebuild_derived(con)
                _update_extras(con, prices, touched)
                # Usage lines held as no row because they cannot be represented, over the whole index: read
                # on the open connection by a full sync (a sync of a few files, the status line's, needs none).
                skipped_total = None if only is not None else \
                    con.execute("SELECT coalesce(sum(skipped), 0) FROM files").fetchone()[0]
                cost = con.execute(SESSION_COST, cost_of).fetchone()[0] if cost_of else None
        finally:
            con.close()
    return {"files_read": len(jobs), "entries_read": read, "rows_written": written, "skipped_lines": skipped_total,
            "session_cost": cost}


_LINK = ("INSERT INTO agent_links VALUES (?,?,?,?) ON CONFLICT (session, ref) DO UPDATE SET "
         "type = coalesce(excluded.type, type), via = coalesce(excluded.via, via)")


def _skipped(con, key: str) -> int:
    row = con.execute("SELECT skipped FROM files WHERE path=?", (key,)).fetchone()
    return row[0] or 0 if row else 0


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
    so far, and only those are looked up; there, a file whose ids neither an
    earlier file nor this batch had (most) is kept as the worker returned it (it
    de-duplicated the file), without entries or de-duplication here, until a later
    file of the batch shares an id: then its rows of that id join the de-duplication
    as if they had been added when read. Rows are written in the order they were
    read, and batches end where they always did: the result is what one
    de-duplication of every row gives (a flush forgets the keys a kept row
    answered besides its own, so where it falls matters)."""

    def __init__(self, con, stored: set | None):
        self.con, self.stored = con, stored
        self.dedup = Deduper()
        self.rowids: dict[int, int] = {}  # kept index → rowid of a row already stored
        self.extra: dict[int, tuple] = {}  # id(entry) → (cost, file)
        self.looked_up: set[str] = set()
        self.read = 0  # rows added: each row's place in the reading order
        self.order: dict[int, int] = {}  # kept index → its row's place
        self.fresh: dict[int, tuple] = {}  # place → row (with its file) kept as it came
        self.fresh_ids: dict[str, list[int]] = {}  # message id → places of its fresh rows
        self.ids: set[str] = set()  # message ids this batch holds

    @property
    def size(self) -> int:
        return len(self.dedup.kept) + len(self.fresh)

    def add(self, rows: list, key: str) -> None:
        mids = {row[0] for row in rows if row[0]}
        stored = self.stored
        if stored is not None and self.ids.isdisjoint(mids) and not any(hash(m) in stored for m in mids):
            for row in rows:
                self.fresh[self.read] = row + (key,)
                if row[0]:
                    self.fresh_ids.setdefault(row[0], []).append(self.read)
                self.read += 1
            self.ids |= mids
            return
        for mid in sorted(mids & self.fresh_ids.keys(), key=lambda m: self.fresh_ids[m][0]):
            for place in self.fresh_ids.pop(mid):  # in the order they were read, before this file's rows
                row = self.fresh.pop(place)
                self._add(_to_entry(row[:-2]), place, row[-2:])
        self.ids |= mids
        entries = [_to_entry(row[:-1]) for row in rows]
        mids -= self.looked_up
        if stored is not None:
            mids = {m for m in mids if hash(m) in stored}
        if mids:
            mids = sorted(mids)
            self.looked_up.update(mids)
            for i in range(0, len(mids), 500):
                chunk = mids[i:i + 500]
                q = (f"SELECT rowid, {', '.join(_COLS)}, cost, file FROM entries "
                     f"WHERE message_id IN ({','.join('?' * len(chunk))}) ORDER BY rowid")
                for row in self.con.execute(q, chunk):
                    entry = _to_entry(row[1:-2])
                    self.rowids[self.dedup.preload(entry)] = row[0]
                    self.extra[id(entry)] = row[-2:]  # a later line of its response may add names to it
        for e, row in zip(entries, rows):
            self._add(e, self.read, (row[-1], key))
            self.read += 1

    def _add(self, entry, place: int, extra: tuple) -> None:
        kept = len(self.dedup.kept)
        self.dedup.add(entry)
        self.extra[id(entry)] = extra
        if len(self.dedup.kept) > kept:  # a new response: written at its row's place
            self.order[kept] = place

    def flush(self) -> int:
        updates, inserts = [], list(self.fresh.items())
        for index in sorted(self.dedup.changed):
            e = self.dedup.kept[index]
            values = _row(e) + self.extra[id(e)]
            if index in self.rowids:
                updates.append(values + (self.rowids[index],))
            else:
                inserts.append((self.order[index], values))
        inserts = [values for _place, values in sorted(inserts, key=lambda item: item[0])]
        self.con.executemany(f"UPDATE entries SET {', '.join(c + '=?' for c in _COLS)}, cost=?, file=? WHERE rowid=?", updates)
        if self.stored is not None:
            self.stored.update(hash(values[0]) for values in inserts if values[0])
        self.con.executemany(f"INSERT INTO entries ({', '.join(_COLS)}, cost, file) VALUES ({','.join('?' * (len(_COLS) + 2))})", inserts)
        return len(updates) + len(inserts)


_STATE_COLS = "session, pos, ts_ms, start_ms, api_ms, duration_ms, model, input, output, cache_5m, cache_1h, cache_read, web_search"


def _in(con, sql: str, values, tail: str = "") -> list:
    """Rows of `sql … IN (values)`, in chunks that stay under SQLite's parameter limit."""
    values, out = sorted(values), []
    for i in range(0, len(values), 500):
        chunk = values[i:i + 500]
        out += con.execute(f"{sql} IN ({','.join('?' * len(chunk))}) {tail}", chunk).fetchall()
    return out


def _update_extras(con, prices, sessions: set) -> None:
    """Recompute the cost-state extras of every session related to `sessions`
    (sharing a startTime: resumed and forked sessions)."""
    if not sessions:
        return
    starts = {r[0] for r in _in(con, "SELECT DISTINCT start_ms FROM cost_states WHERE session", sessions)}
    family = set(sessions) | {r[0] for r in _in(con, "SELECT DISTINCT session FROM cost_states WHERE start_ms",
                                                 starts - {None})}
    records: dict = {}
    for session, pos, ts, start, api, wall, model, *values in _in(
            con, f"SELECT {_STATE_COLS} FROM cost_states WHERE session", family, "ORDER BY file, pos"):
        recs = records.setdefault(session, [])
        if not recs or recs[-1].pos != pos:
            recs.append(transcripts.CostState(pos, ts, start, api, wall, {}))
        recs[-1].models[model] = tuple(values)
    rows: dict = {}
    for session, ts, model, *values in _in(con, "SELECT session, ts_ms, model, input, output, cache_5m, cache_1h, "
                                                "cache_read, web_search FROM entries WHERE session", records):
        rows.setdefault(session, []).append((ts, model, tuple(values)))
    projects = dict(_in(con, "SELECT DISTINCT session, project FROM cost_states WHERE session", records))
    _in(con, "DELETE FROM extras WHERE session", family)
    con.executemany("INSERT INTO extras VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    [(projects[s], s, ts, model, *v, prices.cost(model, ts, v[0], v[1], v[2], v[3], v[4]), attributed)
                     for s, ts, model, v, attributed in cost_state.extras(records, rows)])


def _reprice(con, prices) -> None:
    rows = con.execute(f"SELECT rowid, {', '.join(_COLS)} FROM entries").fetchall()
    _drop_derived(con)
    con.executemany("UPDATE entries SET cost=? WHERE rowid=?",
                    [(prices.entry_cost(_to_entry(r[1:])), r[0]) for r in rows])
    con.executemany("UPDATE extras SET cost=? WHERE rowid=?",
                    [(prices.cost(r[1], r[2], *r[3:]), r[0]) for r in
                     con.execute("SELECT rowid, model, ts_ms, input, output, cache_5m, cache_1h, cache_read FROM extras").fetchall()])
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
    if per_session or project is not None or slot_ms < QUARTER_MS:  # the slots table sums quarter hours
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
    out = [Usage(r[0], r[1], bool(r[2]), *r[3:]) for r in _query(sql, params)]
    for proj, session, ts, model, inp, output, c5, c1, cread, _web, cost, attributed in extra_rows(since_ms, until_ms, project):
        keys = (proj, session) if per_session else ("", "")
        out.append(Usage(ts // slot_ms * slot_ms, model, False, *keys, 0, inp, output, c5 + c1, cread, cost or 0.0,
                         int(cost is None), ts, ts, cost_state="cost-state" if attributed else "unattributed"))
    return out


def attributed(since_ms: int | None = None, until_ms: int | None = None, project: str | None = None) -> list[tuple]:
    """Every kept row with what used it, oldest first: (ts_ms, model, fast, project, session, input, output,
    cache_5m, cache_1h, cache_read, cost, tools, skill, agent type, subagent, agent ref). The type is the row's
    own or found through agent_links (None when unknown); subagent: made by a subagent (or a side chain);
    agent ref: which subagent (the call that started it when known, else its id), None for the session's own agent."""
    where, params = _where(since_ms, until_ms, project)
    return _query("SELECT e.ts_ms, e.model, e.fast, e.project, e.session, e.input, e.output, e.cache_5m, e.cache_1h, "
                  "e.cache_read, e.cost, e.tools, e.skill, coalesce(e.agent, a.type, t.type), "
                  "e.sidechain OR e.agent IS NOT NULL OR e.agent_ref IS NOT NULL, coalesce(a.via, e.agent_ref) "
                  f"FROM (SELECT * FROM entries {where}) e "
                  "LEFT JOIN agent_links a ON a.session = e.session AND a.ref = e.agent_ref "
                  "LEFT JOIN agent_links t ON t.session = e.session AND t.ref = a.via ORDER BY e.ts_ms", params)


def extra_rows(since_ms: int | None = None, until_ms: int | None = None, project: str | None = None,
               session: str | None = None) -> list[tuple]:
    """Usage only cost-state records hold: (project, session, ts_ms, model, input, output,
    cache_5m, cache_1h, cache_read, web_search, cost, attributed), oldest first; not attributed: a fork
    whose inherited base is ambiguous (sources/cost_state.py)."""
    where, params = _where(since_ms, until_ms, project, session)
    return _query(f"SELECT project, session, ts_ms, model, input, output, cache_5m, cache_1h, cache_read, web_search, cost, "
                  f"attributed "
                  f"FROM extras {where} ORDER BY ts_ms", params)


def totals_since(since_ms: int) -> tuple[Totals, float, int]:
    """Token totals, API-equivalent cost and unpriced responses since a time (uses the time index)."""
    *sums, cost, unpriced = _query(
        "SELECT total(input), total(output), total(cache_5m), total(cache_1h), total(cache_read), total(web_search), "
        "total(web_fetch), count(*), total(cost), count(*) - count(cost) FROM entries WHERE ts_ms >= ?", (since_ms,))[0]
    return Totals(*map(int, sums)), cost, unpriced


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



def prune(cutoff_ms: int, history, force: bool = False, vacuum: bool = False) -> dict:
    """Drop the per-response rows of sessions whose last activity is before `cutoff_ms`
    (a UTC midnight), inside the index lock. Only rows the committed history holds
    go: a session with a (UTC day, model) that `history()` ({(day, label): row} as
    history_file.read gives; called only when there is something to prune) does not
    cover in full is kept, so reports lose nothing.
    Whole session families (sharing a cost-state startTime) go together with their
    cost-state records, so no extra is recomputed against missing lines; the extras
    derived from them stay (a few rows per session), so reports keep what no line holds.
    The triggers keep `slots` equal to what is left. Runs once per cutoff unless `force`;
    `vacuum` gives the freed pages back to the file system (SQLite only reuses them)."""
    with locked(db_path()):
        con = connect()
        try:
            with con:
                if not force and _meta(con, "retention_cutoff") == str(cutoff_ms):
                    return {"sessions": 0, "rows": 0, "kept_uncovered": 0}
                out = _prune(con, cutoff_ms, history)
                _set_meta(con, "retention_cutoff", str(cutoff_ms))
            if vacuum and out["rows"]:
                con.execute("VACUUM")
        finally:
            con.close()
    return out


def _prune(con, cutoff_ms: int, history) -> dict:
    last = {s: ts for s, ts in con.execute("SELECT session, max(ts_ms) FROM entries GROUP BY session")}
    for s, ts in con.execute("SELECT session, max(ts_ms) FROM cost_states GROUP BY session"):
        last[s] = max(ts, last.get(s, ts))
    old = {s for s, ts in last.items() if ts < cutoff_ms}
    if not old:
        return {"sessions": 0, "rows": 0, "kept_uncovered": 0}
    families: dict = {}
    for s, start in con.execute("SELECT DISTINCT session, start_ms FROM cost_states WHERE start_ms IS NOT NULL"):
        families.setdefault(start, set()).add(s)
    for members in families.values():
        if not members <= old:  # one member still active: the family stays whole
            old -= members
    # (day, label) keys whose index rows the history holds at least in full.
    history, covered = history(), set()
    for day, model, fast, total in con.execute(
            "SELECT strftime('%Y-%m-%d', ts_ms / 1000, 'unixepoch'), model, fast, "
            "sum(input + output + cache_5m + cache_1h + cache_read) FROM entries WHERE ts_ms < ? GROUP BY 1, 2, 3",
            (cutoff_ms,)):
        label = model_label(model, bool(fast))
        row = history.get((day, label)) if label else None
        if label is None or (row is not None and sum(row[1:5]) >= total):  # no label: kept below
            covered.add((day, model, fast))
    uncovered = {s for s, day, model, fast in con.execute(
        "SELECT DISTINCT session, strftime('%Y-%m-%d', ts_ms / 1000, 'unixepoch'), model, fast FROM entries "
        "WHERE ts_ms < ?", (cutoff_ms,)) if s in old and (day, model, fast) not in covered}
    for members in families.values():
        if members & uncovered:
            uncovered |= members
    gone = sorted(old - uncovered)
    rows, sessions = 0, 0
    # Rows with no model label (<synthetic> API errors, no tokens) stay: the history has no row for them, and
    # reports count them as responses.
    labelled = f"coalesce(model, '') NOT IN ('', '{SYNTHETIC}')"
    for chunk in range(0, len(gone), 500):
        part = gone[chunk:chunk + 500]
        marks = ','.join('?' * len(part))
        sessions += con.execute(f"SELECT count(DISTINCT session) FROM entries WHERE session IN ({marks}) AND {labelled}",
                                part).fetchone()[0]
        rows += con.execute(f"DELETE FROM entries WHERE session IN ({marks}) AND {labelled}", part).rowcount
        for table in ("cost_states", "agent_links"):  # agent_links: what only the deleted rows referred to
            con.execute(f"DELETE FROM {table} WHERE session IN ({marks})", part)
        # Their files, unchanged, are not read again; one that grows (a session resumed after the cutoff) is
        # read again from the start, so its lines and cost-state records are whole again.
        con.execute(f"UPDATE files SET print = NULL WHERE session IN ({marks})", part)
    return {"sessions": sessions, "rows": rows, "kept_uncovered": len(old & uncovered)}


def session_totals(project: str, session: str) -> tuple[Totals, float]:
    """A session's token totals and API-equivalent cost (unpriced rows count 0)."""
    *sums, cost = _query("SELECT total(input), total(output), total(cache_5m), total(cache_1h), total(cache_read), "
                         "total(web_search), total(web_fetch), count(*), total(cost) FROM entries "
                         "WHERE project = ? AND session = ?", (project, session))[0]
    return Totals(*map(int, sums)), cost


def period_spend(starts_ms: dict[str, int]) -> dict[str, dict]:
    """{period: {cost_usd, tokens, unpriced}} since each start (state/index_peek.py's one query)."""
    con = connect()
    try:
        return period_spend_on(starts_ms, con)
    finally:
        con.close()
