"""Calls that Claude Code counts in its `cost-state` records but never writes as
assistant lines (/compact, auto-compact, background calls). Pure.

A record is cumulative for the session; a resume continues it, and a fork
starts from its parent's record at the fork and copies part of its parent's
lines. So per session, a record's increase over the inherited base (nothing for a
session that is not a fork) minus the session's own lines up to the record is
what no line holds so far; what that adds to the earlier records' figure is
placed at the record's time. Sessions sharing a `startTime` are one
family. The base of a fork is the record it was started from: one of the family's
other records written no later than the fork's first record (its time is that of
the nearest preceding timestamped line) that this first record still contains
(field by field, durations included); of those, the largest, when every other
one lies inside it (one chain of resumes and forks). A later record of the parent
(written after it was resumed) can fit inside the fork's by chance, hence the time.
When the candidates are not one chain, the base is their field-wise maximum
(which can only make the extra smaller) and the fork's extra is reported as
unattributed rather than guessed. Lines a fork copied (no later than its base)
count as the parent's lines.
"""

from __future__ import annotations

FIELDS = 6  # input, output, cache_5m, cache_1h, cache_read, web_search


def _within(small, big) -> bool:
    if small.api_ms > big.api_ms or small.duration_ms > big.duration_ms:
        return False
    return all(m in big.models and all(a <= b for a, b in zip(v, big.models[m])) for m, v in small.models.items())


def _minus(a: dict, b: dict) -> dict:
    zero = (0,) * FIELDS
    return {m: tuple(max(0, x - y) for x, y in zip(v, b.get(m, zero))) for m, v in a.items()}


def _size(r) -> tuple:
    return sum(sum(v) for v in r.models.values()), r.api_ms, r.duration_ms


def _no_later(r, first) -> bool:
    return r.ts_ms is None or first.ts_ms is None or r.ts_ms <= first.ts_ms


def extras(records: dict, rows: dict) -> list[tuple]:
    """records: {session: [CostState] in file order}; rows: {session: [(ts_ms, model, 6-tuple)]},
    the session's de-duplicated lines. Returns [(session, ts_ms, model, 6-tuple, attributed)],
    nonzero only; `attributed` is False for a fork whose base is ambiguous."""
    families: dict = {}
    for session, recs in records.items():
        if recs:
            families.setdefault(recs[0].start_ms if recs[0].start_ms is not None else ("own", session), []).append(session)
    base, since, parent, ambiguous = {}, {}, {}, set()
    for members in families.values():
        for s in members:
            first = records[s][0]
            inside = [(o, r) for o in members if o != s for r in records[o] if _no_later(r, first) and _within(r, first)]
            if not inside:
                continue
            top_session, top = max(inside, key=lambda item: _size(item[1]))
            if all(_within(r, top) for _o, r in inside):
                base[s] = top.models
            else:
                ambiguous.add(s)
                merged: dict = {}
                for _o, r in inside:
                    for m, v in r.models.items():
                        merged[m] = tuple(map(max, v, merged.get(m, v)))
                base[s] = merged
            since[s] = max((r.ts_ms for _o, r in inside if r.ts_ms is not None), default=None)
            parent[s] = top_session

    def owner(session, ts):
        seen = set()
        while session in parent and since[session] is not None and ts <= since[session] and session not in seen:
            seen.add(session)
            session = parent[session]
        return session

    lines: dict = {}
    for session, items in rows.items():
        for ts, model, values in items:
            lines.setdefault(owner(session, ts), []).append((ts, model, values))
    out = []
    zero = (0,) * FIELDS
    for session, recs in records.items():
        mine = sorted(lines.get(session, ()), key=lambda item: item[0])
        start = base.get(session, {})
        done: dict = {}  # extra emitted so far, per model: records are cumulative, so the extra is too
        for r in recs:
            used: dict = {}
            for ts, model, values in mine:
                if r.ts_ms is None or ts <= r.ts_ms:
                    used[model] = tuple(map(int.__add__, values, used.get(model, zero)))
            for model, values in _minus(_minus(r.models, start), used).items():
                new = _minus({model: values}, done)[model]
                if any(new):
                    out.append((session, r.ts_ms, model, new, session not in ambiguous))
                    done[model] = tuple(map(max, values, done.get(model, zero)))
    return out
