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


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus-public not present")
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
