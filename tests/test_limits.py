"""Spend limits: the pure evaluation, `set limits`, `status --exit-code`, check and the
brief, and period boundaries under faketime in zones far from UTC."""

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from ai_budget.analysis import limits
from ai_budget.state import budget_file
from conftest import REPO, line, run, run_json, unfaked_environ, write_session
from test_workflow import ts

LIMITS = {"daily": 10, "weekly": 50, "monthly": 200, "unit": "usd", "warn_at": 80, "critical_at": 95}
SONNET_OUT_USD = 15 / 1e6  # claude-sonnet-4-5 output, per token


def spend(usd: float) -> int:
    """Output tokens of claude-sonnet-4-5 that cost `usd` at list price."""
    return round(usd / SONNET_OUT_USD)


# ---------------------------------------------------------------- pure

@pytest.mark.parametrize("pct, status", [(0, "ok"), (79.9, "ok"), (80, "warning"), (94.9, "warning"),
                                         (95, "critical"), (99.99, "critical"), (100, "exceeded"), (250, "exceeded")])
def test_status_thresholds(pct, status):
    got = limits.evaluate(LIMITS, {"daily": pct / 10})["daily"]
    assert got["status"] == status and got["limit"] == 10 and got["unit"] == "usd"


def test_a_shown_share_never_reaches_a_threshold_the_status_has_not():
    near = limits.evaluate(LIMITS, {"daily": 7.9996, "weekly": 47.4999, "monthly": 199.999})
    assert [(near[p]["pct"], near[p]["status"]) for p in limits.PERIODS] == \
        [(79.9, "ok"), (94.9, "warning"), (99.9, "critical")]
    assert limits.describe("daily", near["daily"]) == "day $8.00/$10 (79%)"


def test_evaluate_worst_compact_and_crossings():
    assert limits.evaluate({**LIMITS, "daily": None, "weekly": None, "monthly": None}, {"daily": 99}) == {}
    assert limits.worst({}) == "ok" and limits.compact({}) == ""
    quiet = limits.evaluate(LIMITS, {"daily": 1, "weekly": 2, "monthly": 3})
    assert limits.worst(quiet) == "ok" and limits.compact(quiet) == ""  # all ok: the status line stays quiet
    hot = limits.evaluate(LIMITS, {"daily": 8.4, "weekly": 49, "monthly": 250})
    assert [hot[p]["status"] for p in limits.PERIODS] == ["warning", "critical", "exceeded"]
    assert limits.worst(hot) == "exceeded"
    assert limits.compact(hot) == "month $250.00/$200 OVER · week $49.00/$50 !! · day $8.40/$10 !"
    assert limits.crossed({"daily": "warning", "weekly": "ok"}, hot) == ["weekly", "monthly"]
    assert limits.crossed({p: hot[p]["status"] for p in hot}, hot) == []
    tokens = limits.evaluate({**LIMITS, "unit": "tokens", "daily": 5_000_000}, {"daily": 4_200_000})
    assert limits.describe("daily", tokens["daily"]) == "day 4.2M/5M tokens (84%)"
    assert limits.amount({"unit": "tokens"}, 1.5, 900) == 900 and limits.amount({"unit": "usd"}, 1.5, 900) == 1.5


def test_the_cli_knows_the_status_exit_codes():
    from ai_budget import cli

    assert set(cli.STATUS_EXIT_CODES) == set(limits.EXIT_CODES.values()) - {0}


def test_period_ends_follow_starts():
    now = datetime(2026, 12, 31, 23, 30, tzinfo=timezone.utc)
    starts, ends = limits.period_starts(now), limits.period_ends(now)
    for period in limits.PERIODS:
        assert starts[period] <= now < ends[period]
    assert ends["daily"] - starts["daily"] in (timedelta(hours=23), timedelta(hours=24), timedelta(hours=25))
    assert starts["weekly"].weekday() == 0 and starts["monthly"].day == 1


# ---------------------------------------------------------------- budget.json and set limits

def test_set_limits_and_off(env, capsys, clock):
    code, data, _ = run_json(capsys, "set", "limits", "--daily", "10", "--weekly", "50", "--monthly", "200")
    assert code == 0 and data["limits"] == LIMITS
    code, out, _ = run(capsys, "set", "limits", "--weekly", "off", "--warn-at", "70", "--critical-at", "90")
    assert code == 0 and "day $10, month $200; warning at 70%, critical at 90%" in out and "API-equivalent" in out
    stored = json.loads((env.budget / "budget.json").read_text())["limits"]
    assert stored == {**LIMITS, "weekly": None, "warn_at": 70, "critical_at": 90}
    code, data, _ = run_json(capsys, "set", "limits", "--unit", "tokens", "--daily", "5M", "--monthly", "off")
    assert code == 0 and data["limits"]["daily"] == 5_000_000 and data["limits"]["unit"] == "tokens"
    assert data["commit"]["committed"]  # a setting is a change of the budget repo, committed like a balance
    shown = subprocess.run(["git", "-C", str(env.budget), "show", "--stat", "--format=%s", "HEAD"],
                           capture_output=True, text=True).stdout
    assert shown.startswith("settings: Spend limits in tokens (all kinds): day 5M") and "budget.json" in shown


@pytest.mark.parametrize("argv, message", [
    (["--daily", "0"], "--daily: must be a number above 0 or 'off'"),
    (["--daily", "-3"], "--daily: must be a number ≥ 0"),
    (["--weekly", "lots"], "--weekly: must be a number, got 'lots'"),
    (["--monthly", "nan"], "--monthly: must be a number ≥ 0"),
    (["--daily", "5M"], "--daily: must be a number, got '5M'"),  # suffixes are for tokens
    (["--warn-at", "96"], "need 0 < --warn-at < --critical-at"),
    (["--unit", "eur"], "--unit: must be one of usd, tokens"),
])
def test_set_limits_bad_input_is_one_line(env, capsys, clock, argv, message):
    run(capsys, "set", "limits", "--daily", "10")
    before = (env.budget / "budget.json").read_bytes()
    code, out, err = run(capsys, "set", "limits", *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert (env.budget / "budget.json").read_bytes() == before


def test_changing_the_unit_needs_the_limits_in_it(env, capsys, clock):
    run(capsys, "set", "limits", "--daily", "10")
    code, _, err = run(capsys, "set", "limits", "--unit", "tokens")
    assert code == 2 and "give the daily limit(s) in tokens too" in err


def test_old_files_load_and_bad_limits_are_named(env, capsys):
    old = budget_file.default_budget()
    del old["limits"], old["retention"]
    path = env.budget / "budget.json"
    path.write_text(json.dumps(old))
    loaded = budget_file.load(path)
    assert loaded["limits"] == {**LIMITS, "daily": None, "weekly": None, "monthly": None}
    assert loaded["retention"] == {"days": None}
    for bad, field in (({"daily": "10"}, "limits.daily"), ({"daily": 0}, "limits.daily"), ({"unit": "eur"}, "limits.unit"),
                       ({"warn_at": 99}, "limits.warn_at"), ({"critical_at": 101}, "limits.critical_at")):
        path.write_text(json.dumps({**old, "limits": {**LIMITS, **bad}}))
        code, _, err = run(capsys, "status", "--no-fetch")
        assert code == 2 and f"'{field}'" in err, (bad, err)
    path.write_text(json.dumps({**old, "limits": []}))
    assert run(capsys, "status", "--no-fetch")[0] == 2


# ---------------------------------------------------------------- status, check, the brief

def write_spend(env, clock, today_usd: float, earlier_usd: float = 0.0):
    """A session an hour ago costing `today_usd`, and one a minute after local midnight costing `earlier_usd`."""
    now = clock["now"]
    midnight = limits.period_starts(now)["daily"] + timedelta(minutes=1)  # replace(hour=0) is wrong on a DST day
    write_session(env.projects, [line(mid="t1", rid="t1", ts=ts(now - timedelta(hours=1)), inp=0, out=spend(today_usd))],
                  session="today")
    if earlier_usd:
        write_session(env.projects, [line(mid="e1", rid="e1", ts=ts(midnight), inp=0, out=spend(earlier_usd))],
                      session="early")


@pytest.mark.parametrize("today_usd, status, code", [(5, "ok", 0), (8.5, "warning", 10), (9.6, "critical", 11),
                                                     (10.5, "exceeded", 12)])
def test_status_exit_codes(env, capsys, clock, today_usd, status, code):
    write_spend(env, clock, today_usd)
    run(capsys, "set", "limits", "--daily", "10")
    got, out, _ = run(capsys, "status", "--no-fetch", "--exit-code")
    assert got == code and f"→ {status}" in out and "API-equivalent" in out
    assert run(capsys, "status", "--no-fetch")[0] == 0  # without --exit-code the status is not the exit code
    got, data, _ = run_json(capsys, "status", "--no-fetch", "--exit-code")
    daily = data["limits"]["periods"]["daily"]
    assert got == code and daily["status"] == status and daily["spent"] == pytest.approx(today_usd, abs=0.001)
    assert data["ok"] is True  # the command succeeded; the code carries the status
    assert data["limits"]["exit_code"] == code and data["limits"]["status"] == status
    assert datetime.fromisoformat(daily["since"]) <= clock["now"] < datetime.fromisoformat(daily["resets_at"])


def test_status_without_limits_exits_0(env, capsys, clock):
    write_spend(env, clock, 500)
    code, out, _ = run(capsys, "status", "--no-fetch", "--exit-code")
    assert code == 0 and "Limits:     none set" in out


def test_tokens_limit(env, capsys, clock):
    write_spend(env, clock, 1.5)  # 100,000 output tokens
    run(capsys, "set", "limits", "--unit", "tokens", "--daily", "110k")
    code, data, _ = run_json(capsys, "status", "--no-fetch", "--exit-code")
    assert code == 10 and data["limits"]["periods"]["daily"]["spent"] == 100_000


def test_check_and_the_brief_show_the_limits(env, capsys, clock):
    write_spend(env, clock, 9, earlier_usd=0.6)
    run(capsys, "set", "limits", "--daily", "10", "--monthly", "1000")
    code, data, _ = run_json(capsys, "check", "--no-fetch")
    periods = data["limits"]["periods"]
    assert periods["daily"]["status"] == "critical" and periods["daily"]["spent"] == pytest.approx(9.6, abs=0.001)
    assert periods["monthly"]["status"] == "ok" and "weekly" not in periods
    _, out, _ = run(capsys, "check", "--no-fetch")
    assert "Limits   day $9.60/$10 (96%) CRITICAL; month $9.60/$1,000 (0%) ok (API-equivalent estimate)" in out  # floored: 0.96 %
    _, md, _ = run(capsys, "check", "--no-fetch", "--markdown")
    lines = md.splitlines()
    assert lines[1].startswith("**Spend limits:** day $9.60/$10 (96%) CRITICAL")  # right after Claude
    run(capsys, "set", "limits", "--daily", "off", "--monthly", "off")
    assert "Limits" not in run(capsys, "check", "--no-fetch")[1]


# ---------------------------------------------------------------- boundaries under faketime

FAKETIME = shutil.which("faketime")


def boundary_case(tmp_path, zone: str, local_now: str):
    """The CLI in a child under faketime at `local_now` in `zone`, with one response
    a minute either side of each period start (1, 10 and 100 output tokens after the day's,
    week's and month's start, a thousand times that a minute before); returns the spent per period."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    now = datetime.fromisoformat(local_now).replace(tzinfo=tz)
    day = now.replace(hour=0, minute=0)
    week = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0)
    month = now.replace(day=1, hour=0, minute=0)
    env = dict(unfaked_environ(), TZ=zone, HOME=str(tmp_path / "h"), AI_BUDGET_HOME=str(tmp_path / "b"),
               AI_BUDGET_CACHE_DIR=str(tmp_path / "c"), CLAUDE_CONFIG_DIR=str(tmp_path / "claude"),
               AI_BUDGET_API_BASE="http://127.0.0.1:9", FAKETIME_DONT_FAKE_MONOTONIC="1")
    for d in ("h", "b", "claude/projects"):
        (tmp_path / d).mkdir(parents=True, exist_ok=True)
    lines, n = [], 0
    for start, usd in ((day, 1), (week, 10), (month, 100)):
        for offset, scale in ((-1, 1000), (1, 1)):  # before each start: a thousandfold amount that must not count
            n += 1
            when = (start + timedelta(minutes=offset)).astimezone(timezone.utc)
            if when < now.astimezone(timezone.utc):
                lines.append(line(mid=f"m{n}", rid=f"r{n}", ts=ts(when), inp=0, out=usd * scale, session="b"))
    write_session(tmp_path / "claude" / "projects", lines, session="b")
    budget = budget_file.default_budget()
    budget["limits"].update(unit="tokens", daily=10**9, weekly=10**9, monthly=10**9)  # tokens: exact sums
    (tmp_path / "b" / "budget.json").write_text(json.dumps(budget))
    out = {}
    for argv in (("status", "--json", "--no-fetch"), ("usage", "--json")):
        proc = subprocess.run([FAKETIME, now.strftime("%Y-%m-%d %H:%M:%S"), sys.executable,
                               str(REPO / "scripts" / "budget.py"), *argv], env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        out[argv[0]] = json.loads(proc.stdout)
    data = out["status"]
    assert datetime.fromisoformat(data["generated_at"].replace("Z", "+00:00")).astimezone(tz).strftime("%Y-%m-%d %H") == \
        now.strftime("%Y-%m-%d %H")  # the clock really was faked
    # `usage` reads quarter-hour slots, the limits single responses: the same periods either way.
    assert {p: out["usage"][p]["output_tokens"] for p in limits.PERIODS} == \
        {p: e["spent"] for p, e in data["limits"]["periods"].items()}
    return {p: e["spent"] for p, e in data["limits"]["periods"].items()}, \
        {p: e["since"] for p, e in data["limits"]["periods"].items()}


# The day's starts coincide with the week's or the month's in some cases, so each case names what it expects.
@pytest.mark.skipif(FAKETIME is None, reason="faketime not installed")
@pytest.mark.parametrize("zone, local_now, expected", [
    # Sunday 31 May 2026, the hour before midnight: the week began Monday 25th, the month on the 1st.
    ("Pacific/Chatham", "2026-05-31 23:30:00", {"daily": 1, "weekly": 1000 + 1 + 10, "monthly": 11111}),
    ("America/Sao_Paulo", "2026-05-31 23:30:00", {"daily": 1, "weekly": 1011, "monthly": 11111}),
    ("Pacific/Kiritimati", "2026-05-31 23:30:00", {"daily": 1, "weekly": 1011, "monthly": 11111}),
    # Monday 1 February 2027, 00:30: day, week and month all began at midnight.
    ("Asia/Kolkata", "2027-02-01 00:30:00", {"daily": 111, "weekly": 111, "monthly": 111}),
    # Sunday 8 March 2026 in New York, 23:30 after the 02:00 DST jump; the week and month began in standard time.
    ("America/New_York", "2026-03-08 23:30:00", {"daily": 1, "weekly": 1011, "monthly": 11111}),
])
def test_period_boundaries_under_faketime(tmp_path, zone, local_now, expected):
    spent, since = boundary_case(tmp_path, zone, local_now)
    assert spent == expected, (spent, since)


def test_the_session_start_hook_shows_the_limits(env, capsys, clock, monkeypatch):
    import io

    write_spend(env, clock, 12)
    run(capsys, "set", "limits", "--daily", "10")
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"session_id": "s1", "hook_event_name": "SessionStart"}'))
    code, out, _ = run(capsys, "hook", "session-start")
    context = json.loads(out)["hookSpecificOutput"]["additionalContext"]
    assert code == 0, out
    assert context.splitlines()[1] == "**Spend limits:** day $12.00/$10 (120%) EXCEEDED (API-equivalent estimate)", context


@pytest.mark.skipif(FAKETIME is None, reason="faketime not installed")
def test_the_briefs_today_starts_at_the_real_midnight_on_a_dst_day(tmp_path):
    """New York, 8 March 2026 at 23:30 EDT: midnight was EST. A midnight taken with the
    current offset (an hour late) would miss a response at 00:30 EST."""
    spent, _ = boundary_case(tmp_path, "America/New_York", "2026-03-08 23:30:00")
    env = dict(unfaked_environ(), TZ="America/New_York", HOME=str(tmp_path / "h"), AI_BUDGET_HOME=str(tmp_path / "b"),
               AI_BUDGET_CACHE_DIR=str(tmp_path / "c"), CLAUDE_CONFIG_DIR=str(tmp_path / "claude"),
               AI_BUDGET_API_BASE="http://127.0.0.1:9")
    extra = [line(mid="dst", rid="dst", ts="2026-03-08T05:30:00.000Z", inp=0, out=5, session="dst")]  # 00:30 EST
    write_session(tmp_path / "claude" / "projects", extra, session="dst")
    proc = subprocess.run([FAKETIME, "2026-03-08 23:30:00", sys.executable, str(REPO / "scripts" / "budget.py"), "check",
                           "--json", "--no-fetch"], env=env, capture_output=True, text=True, timeout=60)
    data = json.loads(proc.stdout)
    assert data["local"]["today"]["output_tokens"] == spent["daily"] + 5 == data["limits"]["periods"]["daily"]["spent"]
