"""Where `log` measures from: a terminal `check` adopted by the session that
started after it (once), and a second log of one session measuring only what
happened since the first."""

import json
import os
from datetime import datetime, timedelta

import pytest

from ai_budget import cli
from ai_budget.timefmt import iso
from conftest import line, run, run_json, write_credentials, write_session
from test_workflow import ts, usage


@pytest.fixture
def noon(monkeypatch):
    """The test clock at today's local noon: hours either side stay on one local date."""
    state = {"now": datetime.now().astimezone().replace(hour=12, minute=0, second=0, microsecond=0)}
    monkeypatch.setattr(cli, "now_utc", lambda: state["now"])
    return state


def transcript(env, session, times, out=1000):
    path = write_session(env.projects, [line(mid=f"{session}m{i}", rid=f"{session}r{i}", ts=ts(t), out=out, session=session)
                                        for i, t in enumerate(times)], session=session)
    os.utime(path, (times[-1].timestamp(),) * 2)  # find_current_session goes by mtime
    return path


def start_file(env, session):
    return json.loads((env.cache / "sessions" / f"{session}.json").read_text())


def terminal_check(env):
    """The one terminal check's file: filed under its own key, not the guessed session's."""
    (path,) = (env.cache / "sessions").glob("terminal-*.json")
    return json.loads(path.read_text())


@pytest.mark.parametrize("named", [True, False])
def test_new_session_adopts_the_terminal_check_once(env, api, capsys, noon, named):
    write_credentials(env.claude)
    t0 = noon["now"]
    reset = t0 + timedelta(hours=3)
    transcript(env, "s1", [t0 - timedelta(hours=1)])  # earlier work: the check guesses s1, files apart
    api.answer(200, usage(10.0, reset))
    code, brief, _ = run_json(capsys, "check")  # in a terminal: no session id
    assert code == 0 and brief["session"]["id"] == "s1"

    transcript(env, "s2", [t0 + timedelta(minutes=10), t0 + timedelta(minutes=40)])  # a new Claude session
    noon["now"] = t0 + timedelta(hours=1)
    api.answer(200, usage(25.0, reset))
    code, log, err = run_json(capsys, "log", *(["--session", "s2"] if named else []), "--task", "feature:1", "--no-commit")
    assert code == 0, err
    assert log["session_id"] == "s2" and log["started_at"] == terminal_check(env)["started_at"]
    assert log["delta"]["trusted"] is True and log["delta"]["delta"] == 15.0
    assert log["tokens"]["output_tokens"] == 2000  # s2's only
    assert terminal_check(env)["claimed_by"] == "s2" and not (env.cache / "sessions" / "s1.json").exists()

    # Claimed: the next new session does not measure from the same reading again.
    transcript(env, "s3", [t0 + timedelta(hours=1, minutes=10)])
    noon["now"] = t0 + timedelta(hours=1, minutes=30)
    api.answer(200, usage(30.0, reset))
    code, log3, _ = run_json(capsys, "log", "--session", "s3", "--task", "feature:1", "--no-commit")
    assert code == 0 and "no session-start snapshot" in log3["delta"]["reason"]


def test_terminal_check_from_an_earlier_window_is_not_adopted(env, api, capsys, noon):
    write_credentials(env.claude)
    t0 = noon["now"]
    api.answer(200, usage(10.0, t0 + timedelta(hours=1)))
    run_json(capsys, "check")  # no transcripts at all
    transcript(env, "s2", [t0 + timedelta(hours=2)])  # after that window reset
    noon["now"] = t0 + timedelta(hours=3)
    api.answer(200, usage(20.0, t0 + timedelta(hours=6)))
    code, log, _ = run_json(capsys, "log", "--session", "s2", "--task", "feature:1", "--no-commit")
    assert code == 0 and "no session-start snapshot" in log["delta"]["reason"]
    assert "claimed_by" not in terminal_check(env)


def checked_session(env, api, capsys, noon, minutes):
    """s1 checked at 10 % at noon, its responses `minutes` later, and 20 % an hour on."""
    write_credentials(env.claude)
    t0 = noon["now"]
    reset = t0 + timedelta(hours=4)
    api.answer(200, usage(10.0, reset))
    run_json(capsys, "check", "--session", "s1")
    times = [t0 + timedelta(minutes=m) for m in minutes]
    transcript(env, "s1", times)
    noon["now"] = t0 + timedelta(hours=1)
    api.answer(200, usage(20.0, reset))
    return t0, reset, times


def test_second_log_measures_from_the_first_logs_end(env, api, capsys, noon):
    t0, reset, first = checked_session(env, api, capsys, noon, (10, 20))
    code, log1, _ = run_json(capsys, "log", "--session", "s1", "--task", "feature:1", "--no-commit")
    assert code == 0 and log1["delta"]["delta"] == 10.0 and log1["tokens"]["output_tokens"] == 2000

    transcript(env, "s1", first + [t0 + timedelta(hours=1, minutes=10)])  # the session goes on
    noon["now"] = t0 + timedelta(hours=2)
    api.answer(200, usage(26.0, reset))
    code, log2, err = run_json(capsys, "log", "--session", "s1", "--task", "feature:1", "--no-commit")
    assert code == 0, err
    assert log2["started_at"] == log1["ended_at"]
    assert (log2["delta"]["before"], log2["delta"]["delta"], log2["delta"]["trusted"]) == (20.0, 6.0, True)
    assert (log2["tokens"]["output_tokens"], log2["tokens"]["exchanges"]) == (1000, 1)
    assert log2["seven_day"]["before"] == 20.0
    cal = json.loads((env.budget / "budget.json").read_text())["calibration"]["feature"]
    assert (cal["samples"], cal["pct_total"]) == (2, 16.0)


def test_hook_flags_alone_are_not_a_start(env, capsys, noon):
    from ai_budget.state import session_state
    session_state.note("s1", alert_level="warning")  # UserPromptSubmit ran, no check
    code, log, err = run_json(capsys, "log", "--session", "s1", "--task", "feature:1", "--no-fetch", "--no-commit")
    assert code == 0 and "Traceback" not in err and "no session-start snapshot" in log["delta"]["reason"]


def test_a_terminal_check_after_a_sessions_own_check_is_its_own_start(env, api, capsys, noon):
    """check --session X, then check in a terminal (guessed as X), then a new session Y logs:
    Y measures from the terminal check, and X keeps its own start untouched."""
    write_credentials(env.claude)
    t0 = noon["now"]
    reset = t0 + timedelta(hours=4)
    transcript(env, "x", [t0 - timedelta(minutes=30)])
    api.answer(200, usage(10.0, reset))
    run_json(capsys, "check", "--session", "x")
    noon["now"] = t0 + timedelta(minutes=5)
    api.answer(200, usage(12.0, reset))
    code, brief, _ = run_json(capsys, "check")  # guessed: x, the latest transcript
    assert code == 0 and brief["session"]["id"] == "x" and brief["session"]["checks"] == 1
    assert start_file(env, "x")["started_at"] == iso(t0) and "terminal" not in start_file(env, "x")

    transcript(env, "y", [t0 + timedelta(minutes=10)])
    noon["now"] = t0 + timedelta(minutes=40)
    api.answer(200, usage(20.0, reset))
    code, log, err = run_json(capsys, "log", "--session", "y", "--task", "feature:1", "--no-commit")
    assert code == 0, err
    assert log["started_at"] == iso(t0 + timedelta(minutes=5)) and log["delta"]["delta"] == 8.0
    assert log["delta"]["trusted"] is True and log["tokens"]["output_tokens"] == 1000
    x = start_file(env, "x")
    assert (x["started_at"], x.get("checks"), x.get("terminal"), x.get("claimed_by")) == (iso(t0), 1, None, None)


def test_only_recent_terminal_checks_are_kept(env, api, capsys, noon):
    write_credentials(env.claude)
    t0 = noon["now"]
    for hours in (0, 2, 30):
        noon["now"] = t0 + timedelta(hours=hours)
        api.answer(200, usage(10.0, noon["now"] + timedelta(hours=1)))
        run_json(capsys, "check")
    kept = sorted(json.loads(p.read_text())["started_at"] for p in (env.cache / "sessions").glob("terminal-*.json"))
    assert kept == [iso(t0 + timedelta(hours=30))]  # the others are more than a day older


def test_a_log_with_nothing_new_adds_no_sample(env, api, capsys, noon):
    t0, reset, _ = checked_session(env, api, capsys, noon, (10,))
    assert run_json(capsys, "log", "--session", "s1", "--task", "feature:1", "--no-commit")[0] == 0
    before = json.loads((env.budget / "budget.json").read_text())["calibration"]["feature"]

    noon["now"] = t0 + timedelta(hours=2)  # no response since the first log; usage moved elsewhere
    api.answer(200, usage(25.0, reset))
    code, out, err = run(capsys, "log", "--session", "s1", "--task", "feature:1", "--lesson", "noted", "--no-commit")
    assert code == 0, err
    assert "Tokens: 0 output, 0 responses" in out and "no usage since the last log: calibration unchanged" in out
    after = json.loads((env.budget / "budget.json").read_text())["calibration"]["feature"]
    assert after == before
    text = next((env.budget / "sessions").glob("*.md")).read_text()
    assert text.count("feature 1 unit") == 2 and "noted" in text  # the section is still written
    assert "**Calibration:** no usage since the last log: calibration unchanged" in text
    from ai_budget.outputs import session_log
    assert session_log.records(env.budget / "sessions")[-1]["calibration_tasks"] == []
    assert run(capsys, "calibrate", "--rebuild")[0] == 0
    assert json.loads((env.budget / "budget.json").read_text())["calibration"]["feature"] == before
