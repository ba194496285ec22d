"""A whole day, end to end, in a temp home with a stub usage API:
check → work → log (two task types) → second session (with a concurrent one) → log."""

import json
import os
import subprocess
from datetime import timedelta

import pytest

from ai_budget import cli
from ai_budget.timefmt import iso, now_utc
from conftest import line, run, run_json, write_credentials, write_session

BACKLOG = """# Backlog

## Study

[H] Flashcards SMA101 (flashcard x10)
[M] Progress dashboard (feature x1)
[L] Fix typo in footer
"""


def usage(five, resets, seven=20.0):
    return {"five_hour": {"utilization": five, "resets_at": iso(resets)},
            "seven_day": {"utilization": seven, "resets_at": iso(resets + timedelta(days=3))}}


def ts(t):
    return iso(t).replace("Z", ".000Z") if "." not in iso(t) else iso(t)


def git(env, *args):
    return subprocess.run(["git", *args], cwd=env.budget, capture_output=True, text=True).stdout


def test_a_whole_day(env, api, capsys, clock):
    (env.budget / "tasks").mkdir()
    (env.budget / "tasks" / "backlog.md").write_text(BACKLOG)
    write_credentials(env.claude)
    t0 = clock["now"]
    reset = t0 + timedelta(hours=3)

    # --- session 1 starts: the brief
    api.answer(200, usage(10.0, reset))
    code, brief, _ = run_json(capsys, "check", "--session", "s1")
    assert code == 0
    assert brief["claude"]["five_hour"]["util"] == 10.0 and brief["claude"]["source"] == "api"
    assert brief["claude"]["five_hour"]["pace"]["expected_pct"] == 40.0  # 2h of 5h elapsed
    assert brief["backlog"]["headroom_pct"] == 90.0
    assert brief["backlog"]["start"]["text"] == "Flashcards SMA101"  # [H] 35% fits in 90%
    assert brief["copilot"]["stale"] is True

    # --- work happens; the transcript appears (with a subagent)
    work = [line(mid=f"m{i}", rid=f"r{i}", ts=ts(t0 + timedelta(minutes=10 + i)), out=1000, session="s1") for i in range(5)]
    write_session(env.projects, work, session="s1",
                  subagents={"agent-a1": [line(mid="ma", rid="ra", side=True, ts=ts(t0 + timedelta(minutes=30)), out=500)]})

    # --- session 1 ends
    clock["now"] = t0 + timedelta(hours=2)
    api.answer(200, usage(30.0, reset))
    code, log1, err = run_json(capsys, "log", "--session", "s1", "--task", "flashcard:10:SMA101 set 1",
                               "--task", "feature:1:dashboard", "--lesson", "subagents are cheap",
                               "--complete", "Flashcards SMA101", "--copilot-used", "120")
    assert code == 0, err
    assert log1["delta"]["delta"] == 20.0 and log1["delta"]["trusted"] is True
    assert log1["tokens"]["output_tokens"] == 5500 and log1["tokens"]["exchanges"] == 6
    split = {t["type"]: t for t in log1["tasks"]}
    assert split["flashcard"]["pct"] == 18.18 and split["feature"]["pct"] == 1.82  # 10:1 by units
    assert split["flashcard"]["output_tokens"] == 5000
    assert log1["commit"]["committed"] is True
    assert any("no git identity" in n for n in log1["commit"]["notes"])
    assert any("initialised a git repository" in n for n in log1["commit"]["notes"])
    budget = json.loads((env.budget / "budget.json").read_text())
    assert budget["calibration"]["flashcard"]["avg_5h_pct"] == pytest.approx(1.818, abs=1e-3)
    assert budget["copilot"]["used"] == 120
    assert "Flashcards SMA101" not in (env.budget / "tasks" / "backlog.md").read_text()
    assert "Flashcards SMA101" in (env.budget / "tasks" / "completed.md").read_text()

    # --- session 2, with another Claude session running at the same time
    clock["now"] = t0 + timedelta(hours=2, minutes=5)
    api.answer(200, usage(30.0, reset))
    assert run_json(capsys, "check", "--session", "s2")[0] == 0
    for sid, project in (("s2", "-home-me-proj"), ("s3", "-home-me-other")):
        written = write_session(env.projects, [line(mid=f"{sid}m", rid=f"{sid}r", ts=ts(t0 + timedelta(hours=2, minutes=20)),
                                               out=2000, session=sid)], project=project, session=sid)
        simulated = (t0 + timedelta(hours=2, minutes=20)).timestamp()
        os.utime(written, (simulated, simulated))  # the test's clock runs ahead of the real one
    clock["now"] = t0 + timedelta(hours=2, minutes=50)
    api.answer(200, usage(45.0, reset))
    code, log2, err = run_json(capsys, "log", "--session", "s2", "--task", "flashcard:5", "--next", "circuit diagrams")
    assert code == 0, err
    assert log2["delta"]["raw_delta"] == 15.0 and log2["delta"]["share"] == 0.5 and log2["delta"]["delta"] == 7.5
    budget = json.loads((env.budget / "budget.json").read_text())
    flash = budget["calibration"]["flashcard"]
    assert (flash["samples"], flash["units_total"]) == (2, 15)
    assert flash["pct_total"] == pytest.approx(25.68) and flash["avg_5h_pct"] == pytest.approx(25.68 / 15, abs=1e-4)

    # --- the log file has both sections, machine-readable, nothing overwritten
    day = log1["date"]
    text = (env.budget / "sessions" / f"{day}.md").read_text()
    assert text.count("## Session:") == 2 and text.count("<!-- ai-budget:session ") == 2
    assert "5h window 10.0%→30.0% (Δ+20.0%)" in text
    assert "other Claude sessions ran meanwhile: 50% of local usage" in text
    assert "- subagents are cheap" in text and "hidden words" not in text

    # --- two commits, only budget files
    subjects = git(env, "log", "--format=%s").splitlines()
    assert subjects == [f"session: {day} {log2['commit_message'].split(' ')[2]} — flashcard 5",
                        log1["commit_message"]]
    assert "flashcard 10, feature 1" in log1["commit_message"]
    files = set(git(env, "log", "--name-only", "--format=").split())
    assert files == {"budget.json", f"sessions/{day}.md", "tasks/backlog.md", "tasks/completed.md", "history/testbox.tsv"}

    # --- calibration can be rebuilt from the logs alone
    before = budget["calibration"]
    code, _, _ = run(capsys, "calibrate", "--rebuild")
    after = json.loads((env.budget / "budget.json").read_text())["calibration"]
    assert code == 0 and after["flashcard"] == before["flashcard"] and after["feature"] == before["feature"]


def test_untrusted_deltas_do_not_move_calibration(env, api, capsys, clock):
    write_credentials(env.claude)
    t0 = clock["now"]
    api.answer(200, usage(10.0, t0 + timedelta(minutes=30)))
    run_json(capsys, "check", "--session", "s1")
    clock["now"] = t0 + timedelta(hours=1)
    api.answer(200, usage(12.0, t0 + timedelta(hours=5)))  # window reset meanwhile
    code, data, _ = run_json(capsys, "log", "--session", "s1", "--task", "refactor:3", "--no-commit")
    assert code == 0 and data["delta"]["trusted"] is False and "reset during the session" in data["delta"]["reason"]
    entry = json.loads((env.budget / "budget.json").read_text())["calibration"]["refactor"]
    assert entry["samples"] == 0 and entry["token_samples"] == 1
    assert entry["units_total"] == 0 and entry["avg_5h_pct"] is None
    assert run(capsys, "calibrate", "--rebuild")[0] == 0  # the logs give the same meaning
    assert json.loads((env.budget / "budget.json").read_text())["calibration"]["refactor"] == entry


def test_log_without_check_or_api(env, capsys, clock):
    code, data, err = run_json(capsys, "log", "--session", "nope", "--task", "feature:1", "--no-fetch", "--no-commit")
    assert code == 0
    assert "no session-start snapshot" in data["delta"]["reason"]
    assert data["commit"]["committed"] is False


@pytest.mark.parametrize("argv, needle", [
    (["--task", "widget:2"], "unknown; known types"),
    (["--task", "feature"], "TYPE:UNITS"),
    (["--task", "feature:0"], "units"),
    (["--complete", "nothing like this"], "no backlog line matches"),
    (["--complete", "a"], "matches 2 backlog lines (5, 6)"),
    (["--copilot-used", "-1"], "--copilot-used"),
])
def test_bad_log_input_changes_nothing(env, capsys, argv, needle):
    (env.budget / "tasks").mkdir()
    (env.budget / "tasks" / "backlog.md").write_text(BACKLOG)
    code, out, err = run(capsys, "log", "--no-fetch", *argv)
    assert code == 2 and needle in err and "Traceback" not in err
    assert not (env.budget / "sessions").exists() and not (env.budget / "budget.json").exists()
    assert (env.budget / "tasks" / "backlog.md").read_text() == BACKLOG


def test_git_missing_still_writes_files(env, capsys, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    code, data, err = run_json(capsys, "log", "--no-fetch", "--task", "feature:1", "--session", "x")
    assert code == 0 and data["commit"]["committed"] is False
    assert "git not found" in err
    assert (env.budget / "sessions" / f"{data['date']}.md").exists()


def test_log_never_reuses_a_reading_from_before_the_start(env, api, capsys, clock):
    write_credentials(env.claude)
    t0 = clock["now"]
    api.answer(200, usage(10.0, t0 + timedelta(hours=3)))
    run_json(capsys, "check", "--session", "s1")
    clock["now"] = t0 + timedelta(seconds=20)  # within the API cache's lifetime
    api.answer(200, usage(14.0, t0 + timedelta(hours=3)))
    code, data, _ = run_json(capsys, "log", "--session", "s1", "--task", "feature:1", "--no-commit")
    assert len(api.requests) == 2 and data["delta"]["delta"] == 4.0
