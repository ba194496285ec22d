"""The incremental index and the reports built on it."""

import json
import os

import pytest

from ai_budget.analysis import pricing
from ai_budget.state import index
from conftest import CORPUS, line, run, run_json, write_session


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


def test_unknown_model_is_unpriced_not_free(env, capsys):
    write_session(env.projects, [line(mid="m1", rid="r1", model="claude-future-9")])
    code, data, _ = run_json(capsys, "report", "daily", "--tz", "UTC")
    assert data["totals"]["unpricedModels"] == ["claude-future-9"]
    assert "Unpriced" in run(capsys, "report", "models", "--tz", "UTC")[1]


def test_timezone_bucketing(env, capsys):
    write_session(env.projects, [line(mid="m1", rid="r1", ts="2026-01-01T23:30:00.000Z")])
    assert run_json(capsys, "report", "daily", "--tz", "UTC")[1]["daily"][0]["date"] == "2026-01-01"
    assert run_json(capsys, "report", "daily", "--tz", "Asia/Kolkata")[1]["daily"][0]["date"] == "2026-01-02"
    code, out, err = run(capsys, "report", "daily", "--tz", "Mars/Olympus")
    assert code == 2 and "--tz" in err


def test_pricing_rules():
    p = pricing.load()
    ts = 1767225600000  # 2026-01-01
    assert p.cost("claude-sonnet-4-5-20250929", ts, 100_000, 0, 0, 0, 0) == pytest.approx(0.3)
    assert p.cost("claude-sonnet-4-5", ts, 0, 0, 50_000, 50_000, 0) == pytest.approx(0.05 * 3.75 + 0.05 * 6.0)  # 5m vs 1h
    long = p.cost("claude-sonnet-4-5", ts, 150_000, 1_000, 0, 0, 60_000)  # 210K input: whole request at 6/22.5
    assert long == pytest.approx((150_000 * 6 + 1_000 * 22.5 + 60_000 * 0.6) / 1e6)
    feb, apr = 1770681600000, 1775001600000  # opus 4.6: surcharge only until 2026-03-13
    assert p.cost("claude-opus-4-6", feb, 250_000, 0, 0, 0, 0) == pytest.approx(2.5)
    assert p.cost("claude-opus-4-6", apr, 250_000, 0, 0, 0, 0) == pytest.approx(1.25)
    assert p.cost("claude-opus-5", ts, 0, 1_000_000, 0, 0, 0, fast=True) == pytest.approx(50.0)
    assert p.cost("claude-nope", ts, 1, 1, 0, 0, 0) is None
    custom = pricing.load({"claude-nope": {"input": 1, "output": 2}})
    assert custom.cost("claude-nope", ts, 1_000_000, 0, 0, 0, 0) == pytest.approx(1.0)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="tests/fixtures/corpus-public not present")
def test_corpus_parity_and_agreement(env, monkeypatch, capsys):
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(CORPUS / "claude"))
    ours = run_json(capsys, "report", "daily", "--tz", "UTC")[1]
    theirs = json.loads((CORPUS / "expected" / "ccusage-20.0.24_claude_daily.json").read_text())
    fields = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")
    for a, b in zip(ours["daily"], theirs["daily"], strict=True):
        assert a["date"] == b["date"] and all(a[f] == b[f] for f in fields)
        assert a["totalCost"] == pytest.approx(b["totalCost"], rel=0.01)
        assert {m["modelName"]: [m[f] for f in fields] for m in a["modelBreakdowns"]} == \
               {m["modelName"]: [m[f] for f in fields] for m in b["modelBreakdowns"]}
    for kind in ("weekly", "monthly", "session", "models", "projects"):
        other = run_json(capsys, "report", kind, "--tz", "UTC")[1]["totals"]
        assert other["totalTokens"] == ours["totals"]["totalTokens"] == 4106478
        assert other["totalCost"] == pytest.approx(ours["totals"]["totalCost"])


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


def test_history_is_merge_safe_across_machines(env, monkeypatch, capsys):
    from ai_budget.state import history_file

    monkeypatch.setenv("AI_BUDGET_MACHINE", "laptop")
    write_session(env.projects, [line(mid="m1", rid="r1", out=5, ts="2026-01-01T10:00:00.000Z"),
                                 line(mid="m2", rid="r2", out=7, ts="2026-01-02T10:00:00.000Z")])
    code, data, _ = run_json(capsys, "report", "daily", "--tz", "UTC", "--save")
    assert code == 0 and data["history"]["changed"] and data["history"]["commit"]["committed"]
    own = env.budget / "history" / "laptop.tsv"
    assert [l.split("\t")[:2] for l in own.read_text().splitlines()[2:]] == \
           [["2026-01-01", "claude-sonnet-4-5"], ["2026-01-02", "claude-sonnet-4-5"]]
    assert run_json(capsys, "report", "daily", "--save")[1]["history"]["changed"] is False
    # Another machine's file (as pulled from git) is added; never merged into ours.
    history_file.write(env.budget / "history" / "desktop.tsv", {("2026-01-02", "claude-opus-4-5"): (1, 1, 100, 0, 0, 0.5, 0)})
    # Transcripts gone and the index rebuilt: this machine's days come back from its history.
    for p in env.projects.rglob("*.jsonl"):
        p.unlink()
    index.db_path().unlink()
    daily = run_json(capsys, "report", "daily", "--tz", "UTC")[1]
    assert [(d["date"], d["outputTokens"]) for d in daily["daily"]] == [("2026-01-01", 5), ("2026-01-02", 107)]
    assert run_json(capsys, "report", "models", "--tz", "UTC")[1]["totals"]["outputTokens"] == 112
    # A partly indexed day counts the index plus only what history has beyond it.
    write_session(env.projects, [line(mid="m1", rid="r1", out=5, ts="2026-01-01T10:00:00.000Z")])
    assert run_json(capsys, "report", "daily", "--tz", "UTC")[1]["totals"]["outputTokens"] == 112
    (env.budget / "history" / "desktop.tsv").write_text("garbage\tline\n")
    code, data, err = run_json(capsys, "report", "daily", "--tz", "UTC")
    assert code == 0 and "desktop.tsv: line 1" in err and data["totals"]["outputTokens"] == 12


def test_history_merge_keeps_the_larger_row():
    from ai_budget.analysis import history
    from ai_budget.state import history_file

    old = {("d", "m"): (2, 1, 10, 0, 0, 0.1, 0), ("e", "m"): (1, 1, 1, 0, 0, 0.0, 0)}
    new = {("d", "m"): (1, 1, 5, 0, 0, 0.05, 0), ("f", "m"): (1, 0, 1, 0, 0, 0.0, 0)}
    assert history_file.merge(old, new) == {**old, ("f", "m"): new[("f", "m")]}
    assert history.missing(old, {("d", "m"): (1, 1, 4, 0, 0, 0.04, 0)}) == \
           {("d", "m"): (1, 0, 6, 0, 0, pytest.approx(0.06), 0), ("e", "m"): old[("e", "m")]}


def E(ts_min, out=100, model="claude-sonnet-4-5"):
    from ai_budget.sources.transcripts import Entry
    return (Entry(ts_min * 60_000, None, None, model, False, 0, out, 0, 0, 0), 0.01)


def test_blocks_as_ccusage_and_placed_by_real_resets():
    from ai_budget.analysis import reports

    base = 29_000_000 * 60  # minutes; an hour boundary
    rows = [E(base + 10), E(base + 200), E(base + 320), E(base + 1000)]  # 320: 5 h after the start → new block; 1000: gap
    data = reports.blocks(rows, now_ms=(base + 1010) * 60_000)
    kinds = [(b["isGap"], b["entries"], b["window"]) for b in data["blocks"]]
    assert kinds == [(False, 2, "estimated"), (False, 1, "estimated"), (True, 0, None), (False, 1, "estimated")]
    first = data["blocks"][0]
    assert first["startTime"].endswith("00:00.000Z") and first["burnRate"] is None  # not active: no rate
    active = data["blocks"][-1]
    assert active["isActive"] and active["burnRate"] is None  # one entry: zero duration
    assert data["totals"]["outputTokens"] == 400
    # The usage API said the window ends at base+330 min: it started at base+30, not at the floored hour.
    real = reports.blocks(rows[:3], now_ms=(base + 321) * 60_000, known_resets=[(base + 330) * 60_000])
    assert [(b["window"], b["entries"]) for b in real["blocks"]] == [("estimated", 1), ("usage-api", 2)]
    assert real["blocks"][1]["isActive"] and real["blocks"][1]["projection"]["remainingMinutes"] == 9
    assert real["blocks"][1]["endTime"] == reports.ms_to_iso((base + 330) * 60_000)


def test_report_blocks_and_bad_dates(env, capsys):
    write_session(env.projects, [line(mid="m1", rid="r1", ts="2026-01-01T10:00:00.000Z"),
                                 line(mid="m2", rid="r2", ts="2026-01-01T11:00:00.000Z", out=3)])
    data = run_json(capsys, "report", "blocks")[1]
    assert data["blocks"][0]["entries"] == 2 and data["totals"]["outputTokens"] == 8
    assert "estimated" in run(capsys, "report", "blocks")[1]
    assert run(capsys, "report", "daily", "--since", "2026-02-30")[0] == 2
    code, _, err = run(capsys, "report", "daily", "--since", "2026-02-01", "--until", "2026-01-01")
    assert code == 2 and "after --until" in err


def test_check_shows_local_usage_from_the_index(env, capsys):
    from datetime import datetime, timezone
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write_session(env.projects, [line(mid="m1", rid="r1", out=5, ts=now), line(mid="m0", rid="r0", out=9, ts="2020-01-01T10:00:00.000Z")])
    code, data, _ = run_json(capsys, "check", "--no-fetch")
    assert data["local"]["today"]["output_tokens"] == 5 and data["local"]["window"] is None
    assert "Local    today 15 tokens" in run(capsys, "check", "--no-fetch")[1]


def test_report_blocks_placed_by_a_reset_read_from_the_usage_api(env, api, capsys, clock):
    """Through the CLI: `fetch` stores the API's resets_at; `report blocks` places the active window by it."""
    from datetime import timedelta

    from ai_budget.timefmt import iso
    from conftest import write_credentials

    now = clock["now"]
    write_credentials(env.claude)
    resets = now + timedelta(minutes=70)
    api.answer(200, {"five_hour": {"utilization": 30.0, "resets_at": iso(resets)},
                     "seven_day": {"utilization": 5.0, "resets_at": iso(now + timedelta(days=2))}})
    assert run(capsys, "fetch")[0] == 0
    write_session(env.projects, [line(mid="m1", rid="r1", ts=iso(now - timedelta(minutes=20)).replace("Z", ".000Z"))])
    active = run_json(capsys, "report", "blocks")[1]["blocks"][-1]
    assert active["window"] == "usage-api" and active["endTime"] == iso(resets).replace("Z", ".000Z")


def test_report_blocks_places_a_past_block_by_an_earlier_observed_end(env, api, capsys, clock):
    """Every 5-hour end a reading gave is kept in budget.json (one per window: the API
    recomputes resets_at), so a past block is placed by its real end too."""
    from datetime import timedelta

    from ai_budget.timefmt import iso
    from conftest import write_credentials

    now = clock["now"]
    write_credentials(env.claude)
    earlier, current = now - timedelta(hours=5, minutes=13), now + timedelta(minutes=70)
    for at, end in ((now - timedelta(hours=7), earlier), (now - timedelta(hours=6, minutes=50), earlier + timedelta(seconds=30)),
                    (now, current)):
        clock["now"] = at
        api.answer(200, {"five_hour": {"utilization": 30.0, "resets_at": iso(end)},
                         "seven_day": {"utilization": 5.0, "resets_at": iso(now + timedelta(days=2))}})
        assert run(capsys, "fetch")[0] == 0
    claude = json.loads((env.budget / "budget.json").read_text())["claude"]
    assert claude["five_hour_ends"] == [iso(earlier), iso(current)]
    write_session(env.projects, [line(mid="m1", rid="r1", ts=iso(earlier - timedelta(minutes=30)).replace("Z", ".000Z")),
                                 line(mid="m2", rid="r2", ts=iso(now - timedelta(minutes=20)).replace("Z", ".000Z"))])
    past, *_, active = run_json(capsys, "report", "blocks")[1]["blocks"]
    assert (past["window"], past["startTime"]) == ("usage-api", iso(earlier - timedelta(hours=5)).replace("Z", ".000Z"))
    assert active["window"] == "usage-api" and active["endTime"] == iso(current).replace("Z", ".000Z")
