"""Incremental index of all Claude Code transcripts (SQLite, in the cache dir).

Per file it remembers inode, size, mtime and the byte offset after the last
complete line, so a run reads only appended bytes; a truncated or replaced
file is re-read. It stores de-duplicated usage rows only (ids, model, times,
token counts, cost): never message content. Rows of transcripts Claude Code
has deleted stay. It is a cache: delete it and the next run rebuilds it from
the transcripts still present.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from .. import paths
from ..analysis.dedup import Deduper
from ..sources import transcripts
from ..sources.transcripts import Entry
from .atomic import locked

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, inode INTEGER, size INTEGER, mtime_ns INTEGER,
                                  offset INTEGER, project TEXT, session TEXT);
CREATE TABLE IF NOT EXISTS entries (rowid INTEGER PRIMARY KEY, message_id TEXT, request_id TEXT, ts_ms INTEGER,
    model TEXT, fast INTEGER, sidechain INTEGER, input INTEGER, output INTEGER, cache_5m INTEGER, cache_1h INTEGER,
    cache_read INTEGER, web_search INTEGER, web_fetch INTEGER, project TEXT, session TEXT, cost REAL, file TEXT);
CREATE INDEX IF NOT EXISTS entries_mid ON entries(message_id);
CREATE INDEX IF NOT EXISTS entries_ts ON entries(ts_ms);
CREATE INDEX IF NOT EXISTS entries_session ON entries(session);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""
VERSION = "1"
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
    con.executescript(SCHEMA)
    if _meta(con, "version") != VERSION:
        con.executescript("DELETE FROM files; DELETE FROM entries;")
        _set_meta(con, "version", VERSION)
    return con


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


def _pending(con, roots):
    """(path, project, session, start offset, stat) for every file with new bytes."""
    known = {row[0]: row[1:] for row in con.execute("SELECT path, inode, size, mtime_ns, offset FROM files")}
    for root, path in transcripts.iter_transcripts(roots):
        try:
            st = os.stat(path)
        except OSError:
            continue
        key = str(path)
        old = known.get(key)
        if old and (old[0], old[1], old[2]) == (st.st_ino, st.st_size, st.st_mtime_ns):
            continue
        replaced = old is not None and (old[0] != st.st_ino or st.st_size < old[3])
        start = 0 if old is None or replaced else old[3]
        project, session = transcripts.session_of(path, root)
        yield key, project, session, start, st, replaced


def _read(job):
    key, project, session, start = job
    entries, end = [], start
    try:
        for line, end in transcripts.read_complete_lines(Path(key), start):
            if transcripts.USAGE_MARKER in line:
                entry = transcripts.parse_line(line, project, session)
                if entry is not None:
                    entries.append(entry)
    except OSError:
        pass
    return entries, end


def sync(prices, roots: list[Path] | None = None) -> dict:
    """Bring the index up to date; returns counts. Safe with concurrent runs."""
    roots = paths.projects_roots() if roots is None else roots
    with locked(db_path()):
        con = connect()
        try:
            with con:
                if _meta(con, "prices") != prices.fingerprint:
                    _reprice(con, prices)
                jobs = list(_pending(con, roots))
                for key, *_rest, replaced in jobs:
                    if replaced:
                        con.execute("DELETE FROM entries WHERE file=?", (key,))
                results = [_read((key, project, session, start)) for key, project, session, start, _st, _r in jobs]
                new = [e for entries, _ in results for e in entries]
                added = _merge(con, new, prices, {id(e): job[0] for job, (entries, _) in zip(jobs, results) for e in entries})
                for (key, project, session, start, st, _r), (_e, end) in zip(jobs, results):
                    con.execute("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?)",
                                (key, st.st_ino, st.st_size, st.st_mtime_ns, end, project, session))
        finally:
            con.close()
    return {"files_read": len(jobs), "entries_read": len(new), "rows_written": added}


def _merge(con, new: list[Entry], prices, file_of: dict) -> int:
    """De-duplicate new entries against each other and against kept rows."""
    if not new:
        return 0
    dedup = Deduper()
    rowids = {}
    mids = sorted({e.message_id for e in new if e.message_id})
    for i in range(0, len(mids), 500):
        chunk = mids[i:i + 500]
        q = f"SELECT rowid, {', '.join(_COLS)} FROM entries WHERE message_id IN ({','.join('?' * len(chunk))}) ORDER BY rowid"
        for row in con.execute(q, chunk):
            rowids[dedup.preload(_to_entry(row[1:]))] = row[0]
    dedup.extend(new)
    written = 0
    for index in sorted(dedup.changed):
        e = dedup.kept[index]
        values = _row(e) + (prices.entry_cost(e), file_of.get(id(e)))
        if index in rowids:
            con.execute(f"UPDATE entries SET {', '.join(c + '=?' for c in _COLS)}, cost=?, file=? WHERE rowid=?",
                        values + (rowids[index],))
        else:
            con.execute(f"INSERT INTO entries ({', '.join(_COLS)}, cost, file) VALUES ({','.join('?' * (len(_COLS) + 2))})", values)
        written += 1
    return written


def _reprice(con, prices) -> None:
    rows = con.execute(f"SELECT rowid, {', '.join(_COLS)} FROM entries").fetchall()
    con.executemany("UPDATE entries SET cost=? WHERE rowid=?",
                    [(prices.entry_cost(_to_entry(r[1:])), r[0]) for r in rows])
    _set_meta(con, "prices", prices.fingerprint)


def entries(where: str = "", params: tuple = ()) -> list[tuple[Entry, float | None]]:
    con = connect()
    try:
        rows = con.execute(f"SELECT {', '.join(_COLS)}, cost FROM entries {where} ORDER BY ts_ms", params).fetchall()
    finally:
        con.close()
    return [(_to_entry(r[:-1]), r[-1]) for r in rows]
