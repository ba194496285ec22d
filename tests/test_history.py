"""history/<machine>.tsv: saved per machine, merged, and read back when transcripts are gone."""

import pytest

from ai_budget.state import index
from conftest import line, run_json, write_session


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

