"""The incremental index of transcript entries: reads, de-duplication, slots, workers, progress."""

import json

import pytest

from ai_budget.analysis import pricing
from ai_budget.state import index
from conftest import line, write_session


def sync():
    return index.sync(pricing.load())


def totals():
    return sum(e.output for e, _ in index.entries())


def test_incremental_reads(env):
    path = write_session(env.projects, [line(mid="m1", rid="r1", out=5)])
    assert sync()["entries_read"] == 1 and sync()["files_read"] == 0
    with open(path, "a") as f:  # a streamed duplicate with the final count, and a half-written line
        f.write(line(mid="m1", rid="r1", out=50) + "\n" + line(mid="m2", rid="r2", out=7)[:30])
    assert sync()["entries_read"] == 1 and totals() == 50  # duplicate across runs: replaced, not added
    with open(path, "a") as f:
        f.write(line(mid="m2", rid="r2", out=7)[30:] + "\n")
    sync()
    assert totals() == 57
    path.write_text(line(mid="m3", rid="r3", out=1) + "\n")  # truncated/replaced file: re-read
    sync()
    assert sorted(e.message_id for e, _ in index.entries()) == ["m3"]
    other = write_session(env.projects, [line(mid="m9", rid="r9", out=2)], session="s2")
    sync()
    other.unlink()  # Claude Code's 30-day cleanup: the rows stay
    sync()
    assert {e.message_id for e, _ in index.entries()} == {"m3", "m9"}


def with_tool(text: str, name: str) -> str:
    obj = json.loads(text)
    obj["message"]["content"] = [{"type": "tool_use", "id": "t1", "name": name, "input": {}}]
    return json.dumps(obj, separators=(",", ":"))


OTHER = [line(mid="x", rid="rx", out=1)]


@pytest.mark.parametrize("files, kept", [
    # a response, its sidechain replay under another requestId, an unrelated file, then the main chain
    # under the replay's requestId with the final count: one response, the larger
    ({"a": [line(mid="m", rid="r1", out=5)], "b": [line(mid="m", rid="r2", side=1, out=5)], "c": OTHER,
      "d": [line(mid="m", rid="r2", out=50)]}, {("m", 50, None), ("x", 1, None)}),
    # a sidechain replay first; a later line of the kept key adds its tool to the kept response
    ({"a": [line(mid="m", rid="r1", side=1)], "b": [line(mid="m", rid="r2", out=50)], "c": OTHER,
      "d": [with_tool(line(mid="m", rid="r1", out=1), "Bash")]}, {("m", 50, "Bash"), ("x", 1, None)}),
], ids=["replaced", "merged"])
def test_a_cold_build_remembers_every_key_a_kept_response_answers(env, files, kept):
    """Files with no id in common with earlier ones are written as they came; one sorting between two
    related files must not end the de-duplication there (a flush forgets a replay's key)."""
    for name, lines in files.items():
        write_session(env.projects, lines, session=name)
    sync()
    assert {(e.message_id, e.output, e.tools) for e, _ in index.entries()} == kept


def test_cross_file_dedup_and_rebuild(env):
    write_session(env.projects, [line(mid="m1", rid="r1", out=5)], session="a")
    sync()
    write_session(env.projects, [line(mid="m1", rid="r1", out=9)], session="b")  # resumed-session replay
    sync()
    assert totals() == 9 and len(index.entries()) == 1
    index.db_path().unlink()
    sync()
    assert totals() == 9


def test_concurrent_syncs(env):
    import multiprocessing
    for i in range(30):
        write_session(env.projects, [line(mid=f"m{i}", rid=f"r{i}", out=1)], session=f"s{i}")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=sync) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert len(index.entries()) == 30


def slot_totals():
    """Time-report rows (the trigger-maintained slots) summed, against the entries themselves."""
    rows = index.usage(per_session=False)
    kept = index.entries()
    return (sum(u.output for u in rows), sum(u.count for u in rows)), (sum(e.output for e, _ in kept), len(kept))


def test_slots_follow_replacements_rereads_and_repricing(env, monkeypatch):
    path = write_session(env.projects, [line(mid="m1", rid="r1", out=5), line(mid="m2", rid="r2", out=1)])
    sync()  # cold build: slots rebuilt in one pass
    with open(path, "a") as f:
        f.write(line(mid="m1", rid="r1", out=50) + "\n")  # replacement: trigger subtracts the old row
    sync()
    path.write_text(line(mid="m3", rid="r3", out=2, ts="2026-01-02T10:00:00.000Z") + "\n")  # re-read: deletes
    sync()
    a, b = slot_totals()
    assert a == b == (2, 1)
    index.sync(pricing.load({"claude-sonnet-4-5": {"input": 1000, "output": 1000}}))  # reprice: slots rebuilt
    assert sum(u.cost for u in index.usage(per_session=False)) == pytest.approx(sum(c for _, c in index.entries()))


def test_batches_and_workers_give_the_same_rows(env, monkeypatch):
    for i in range(12):  # duplicates across files, so later batches must find earlier rows
        write_session(env.projects, [line(mid=f"m{i % 5}", rid=f"r{i % 5}", out=i),
                                     line(mid=f"u{i}", rid=f"v{i}", out=1)], session=f"s{i:02d}")
    sync()
    want = sorted((e.message_id, e.output) for e, _ in index.entries())
    index.db_path().unlink()
    monkeypatch.setattr(index, "BATCH", 2)
    monkeypatch.setattr(index, "PARALLEL_BYTES", 0)  # two worker processes even for tiny files
    monkeypatch.setattr(index.os, "cpu_count", lambda: 2)
    sync()
    assert sorted((e.message_id, e.output) for e, _ in index.entries()) == want
    assert slot_totals()[0] == slot_totals()[1]


def test_progress_only_on_a_tty_after_a_second(monkeypatch):
    import io
    from ai_budget.outputs import progress

    assert progress.on_tty(io.StringIO()) is None

    class Tty(io.StringIO):
        def isatty(self):
            return True

    clock = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    out = Tty()
    tick = progress.on_tty(out)
    tick(10 << 20, 100 << 20)
    assert out.getvalue() == ""  # under a second: quiet
    clock[0] = 1.5
    tick(50 << 20, 100 << 20)
    assert "50/100 MB (50%)" in out.getvalue()
    tick(100 << 20, 100 << 20)
    assert out.getvalue().endswith("\r\033[K")  # cleared at the end

