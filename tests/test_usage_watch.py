"""budget usage (the "now" view) and budget watch (the live view, in a pseudo-terminal)."""

import contextlib
import glob
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
from datetime import timedelta

import pytest

from ai_budget import core
from ai_budget.analysis import limits
from ai_budget.sources import statusline_snapshot
from conftest import REPO, line, run, run_json, write_session
from test_core import files
from test_workflow import ts

SONNET_OUT_USD = 15 / 1e6


def fixture_usage(env, now):
    """Responses today (two sessions, two projects, two models), at the week's and the
    month's first minute, and a day before the earlier of those (in no period)."""
    starts = limits.period_starts(now)
    first = min(starts.values())
    write_session(env.projects, [line(mid="a1", rid="a1", ts=ts(now - timedelta(hours=2)), inp=0, out=100_000),
                                 line(mid="a2", rid="a2", ts=ts(now - timedelta(hours=1)), inp=0, out=50_000,
                                      model="claude-opus-4-5", session="a")], session="a", project="-home-me-web")
    write_session(env.projects, [line(mid="b1", rid="b1", ts=ts(now - timedelta(minutes=30)), inp=0, out=20_000,
                                      session="b")], session="b", project="-home-me-notes")
    write_session(env.projects, [line(mid="w1", rid="w1", ts=ts(starts["weekly"] + timedelta(minutes=1)), inp=0,
                                      out=1_000, session="w")], session="w", project="-home-me-web")
    write_session(env.projects, [line(mid="m1", rid="m1", ts=ts(starts["monthly"] + timedelta(minutes=1)), inp=0,
                                      out=2_000, session="m")], session="m", project="-home-me-web")
    write_session(env.projects, [line(mid="o1", rid="o1", ts=ts(first - timedelta(days=1)), inp=0, out=7_777,
                                      session="o")], session="o", project="-home-me-old")
    return starts


def expected(starts, now):
    """Output tokens and sessions per period, from the fixture's times."""
    rows = [(now - timedelta(hours=2), 100_000, "a"), (now - timedelta(hours=1), 50_000, "a"),
            (now - timedelta(minutes=30), 20_000, "b"), (starts["weekly"] + timedelta(minutes=1), 1_000, "w"),
            (starts["monthly"] + timedelta(minutes=1), 2_000, "m")]
    out = {}
    for period, start in starts.items():
        mine = [r for r in rows if r[0] >= start]
        out[period] = (sum(r[1] for r in mine), len({r[2] for r in mine}))
    return out


def test_usage_json_today_week_month(env, capsys, clock):
    now = clock["now"]
    starts = fixture_usage(env, now)
    run(capsys, "set", "limits", "--daily", "2")
    code, data, _ = run_json(capsys, "usage")
    assert code == 0
    for period, (output, sessions) in expected(starts, now).items():
        p = data[period]
        assert (p["output_tokens"], p["sessions"]) == (output, sessions), period
        assert p["since"] == starts[period].isoformat()
        assert p["days"] == (now.astimezone().date() - starts[period].date()).days + 1
        assert p["daily_avg_usd"] == pytest.approx(p["cost_usd"] / p["days"], abs=1e-4)
    today = data["daily"]
    # Opus 4.5 output at $25/M (a2, 50,000 tokens, always today), Sonnet 4.5 at $15/M (the rest; on a
    # Monday or the 1st the week's or month's first response is today's too).
    sonnet = (expected(starts, now)["daily"][0] - 50_000) * 15e-6
    assert today["cost_usd"] == pytest.approx(sonnet + 50_000 * 25e-6)
    assert today["top_models"] == [{"name": "claude-sonnet-4-5", "cost_usd": pytest.approx(sonnet)},
                                   {"name": "claude-opus-4-5", "cost_usd": pytest.approx(1.25)}]
    assert [p["name"] for p in today["top_projects"]] == ["-home-me-web", "-home-me-notes"]
    assert data["limits"]["periods"]["daily"]["status"] == "exceeded"
    assert "API-equivalent" in data["note"]
    _, text, _ = run(capsys, "usage")
    assert "today" in text and "this week" in text and "this month" in text and "Top models, today:" in text
    assert f"day ${today['cost_usd']:.2f}/$2 ({int(today['cost_usd'] / 2 * 100)}%) EXCEEDED" in text


def test_usage_writes_nothing_once_the_index_is_warm(env, capsys, clock):
    fixture_usage(env, clock["now"])
    core.usage_now(clock["now"])
    before = files(env.root)
    core.usage_now(clock["now"])
    assert run(capsys, "usage")[0] == 0
    assert files(env.root) == before


def test_usage_with_no_transcripts(env, capsys, clock):
    code, data, _ = run_json(capsys, "usage")
    assert code == 0 and data["daily"]["tokens"] == 0 and data["monthly"]["top_models"] == []
    assert "Limits: none set" in run(capsys, "usage")[1]


# ---------------------------------------------------------------- watch

def window_fixture(env, now):
    """A 5-hour window that began 2 hours ago, 40 % used (status line), $1.50 spent locally in it."""
    resets = now + timedelta(hours=3)
    statusline_snapshot.write({"five_hour": {"util": 40.0, "resets_at": resets.isoformat()},
                               "seven_day": {"util": 5.0, "resets_at": (now + timedelta(days=3)).isoformat()}}, now)
    write_session(env.projects, [line(mid="x1", rid="x1", ts=ts(now - timedelta(minutes=30)), inp=0, out=100_000,
                                      session="live")], session="live")


def test_watch_once_prints_one_frame(env, capsys, clock):
    now = clock["now"]
    window_fixture(env, now)
    run(capsys, "set", "limits", "--daily", "2")
    code, out, err = run(capsys, "watch", "--once", "--no-fetch", "--interval", "2")
    assert code == 0 and "\x1b" not in out  # no colour, no cursor movement off a terminal
    lines = out.splitlines()
    assert lines[0].startswith("ai-budget watch · ") and "q or Ctrl-C" in lines[0]
    gauge = "[" + "#" * 12 + "." * 18 + "]"
    assert f"5h window  {gauge}  40.0%  resets" in out and "(in 3h 00m)" in out
    assert "pace     ahead (+0 pts" not in out and "pace     " in out  # 40 % after 40 % of the window: on track
    assert "burn     $1.50 in this window, $0.75/h → ~$3.75 by the reset" in out
    assert "20.0 %/h → ~100% of the window by the reset" in out
    assert "today      day $1.50/$2 (75%) ok · 100,000 tokens" in out
    assert "session    " in out and "Costs are API-equivalent estimates" in out


@pytest.mark.parametrize("value", ["0.5", "abc", "nan", "99999", ""])
def test_watch_bad_interval_is_one_line(env, capsys, clock, value):
    code, out, err = run(capsys, "watch", "--interval", value, "--once")
    assert code == 2 and "--interval: seconds from 1 to 3600" in err and len(err.strip().splitlines()) == 1


LIBFAKETIME = next((p for p in glob.glob("/usr/lib/*/faketime/libfaketime.so.1") + glob.glob("/usr/lib/faketime/libfaketime.so.1")
                    + glob.glob("/usr/local/lib/faketime/libfaketime.so.1")), None)
needs_faketime = pytest.mark.skipif(LIBFAKETIME is None, reason="libfaketime not installed")


def child(clock, *args) -> tuple[list[str], dict]:
    """The CLI in a child at the clock's time (the fixture's clock is this process's only).
    libfaketime is preloaded directly: the faketime wrapper would be a parent a Ctrl-C also kills."""
    environment = os.environ.copy()
    environment.pop("NO_COLOR", None)
    environment.update(TERM="xterm", LD_PRELOAD=LIBFAKETIME, FAKETIME_DONT_FAKE_MONOTONIC="1",
                       FAKETIME="@" + clock["now"].astimezone().strftime("%Y-%m-%d %H:%M:%S"))
    return [sys.executable, str(REPO / "scripts" / "budget.py"), *args], environment


def read_until(fd, marker: bytes, timeout: float = 20) -> bytes:
    got, deadline = b"", time.monotonic() + timeout
    while marker not in got and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            got += chunk
    return got


def wait_exit(pid: int, timeout: float = 10) -> int | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


@contextlib.contextmanager
def watching(clock, *extra):
    """`watch` in a child whose terminal is a pseudo-terminal: (pid, the master's fd)."""
    argv, environment = child(clock, "watch", "--no-fetch", *extra)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its terminal
        os.execve(argv[0], argv, environment)
    try:
        yield pid, fd
    finally:
        try:  # only a child not reaped yet is still ours to kill (a reaped pid can be reused)
            if os.waitpid(pid, os.WNOHANG) == (0, 0):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        os.close(fd)


@needs_faketime
@pytest.mark.parametrize("key", [b"q", b"\x03"])
def test_watch_in_a_pseudo_terminal_leaves_on_q_and_ctrl_c(env, clock, key):
    window_fixture(env, clock["now"])
    with watching(clock, "--interval", "1") as (pid, fd):
        before = termios.tcgetattr(fd)
        first = read_until(fd, b"Costs are API-equivalent")
        assert b"\x1b[?1049h" in first and b"\x1b[?25l" in first  # alternate screen, cursor hidden
        frame = first.split(b"\x1b[H")[-1].decode()
        assert "5h window  \x1b[32m[" in frame  # colour on a terminal without NO_COLOR
        assert "40.0%" in frame and "today      $1.50 · 100,000 tokens (no daily limit set)" in frame
        # cbreak while it runs: no line editing, no echo.
        during = termios.tcgetattr(fd)
        assert not during[3] & termios.ICANON and not during[3] & termios.ECHO
        second = read_until(fd, b"Costs are API-equivalent")  # redrawn in place after the interval
        assert b"\x1b[H" in second
        os.write(fd, key)
        rest = read_until(fd, b"\x1b[?1049l", timeout=10)
        assert wait_exit(pid) == 0
        assert b"\x1b[?25h\x1b[?1049l" in rest and b"Traceback" not in rest
        after = termios.tcgetattr(fd)
        assert after == before  # terminal settings restored


@needs_faketime
def test_watch_off_a_terminal_prints_plain_frames_and_stops_on_sigterm(env, clock):
    window_fixture(env, clock["now"])
    argv, environment = child(clock, "watch", "--no-fetch", "--interval", "1")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment)
    try:
        got = read_until(proc.stdout.fileno(), b"Costs are API-equivalent")
        got += read_until(proc.stdout.fileno(), b"Costs are API-equivalent")
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        rest, err = proc.stdout.read(), proc.stderr.read()
        assert code == 0 and err == b"", err
        assert b"\x1b" not in got + rest  # not a terminal: no escapes, no colour
        assert (got + rest).count(b"ai-budget watch") >= 2
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_watch_asks_the_usage_api_no_more_than_its_cache_allows(env, api, clock, monkeypatch):
    """Frames a second apart, each may fetch: the cached answer serves them, so one request."""
    from conftest import write_credentials
    from ai_budget.commands import watch

    write_credentials(env.claude)
    now = clock["now"]
    api.answer(200, {"five_hour": {"utilization": 30.0, "resets_at": (now + timedelta(hours=2)).isoformat()},
                     "seven_day": {"utilization": 5.0, "resets_at": (now + timedelta(days=2)).isoformat()}})
    frames = []
    monkeypatch.setattr(watch, "_draw", lambda out, lines, screen: frames.append(lines))
    waits = iter([False, False, False, True])
    monkeypatch.setattr(watch, "_wait_for_quit", lambda fd, seconds: next(waits))
    watch._loop(now, 1.0, True)
    assert len(frames) == 4 and len(api.requests) == 1
    assert all(" 30.0%" in "\n".join(f) for f in frames)


def test_watch_backs_off_after_a_failed_fetch(env, api, clock, monkeypatch):
    from conftest import write_credentials
    from ai_budget.commands import watch

    write_credentials(env.claude)
    api.answer(500, {})
    frames = []
    monkeypatch.setattr(watch, "_draw", lambda out, lines, screen: frames.append(lines))
    waits = iter([False, False, True])
    monkeypatch.setattr(watch, "_wait_for_quit", lambda fd, seconds: next(waits))
    watch._loop(clock["now"], 1.0, True)
    assert len(frames) == 3 and len(api.requests) == 1


def test_watch_fits_lines_to_the_terminal_without_breaking_colour():
    from ai_budget.commands.watch import fit

    coloured = "5h window  \x1b[32m[####......]\x1b[0m 40.0%  resets 14:05 (in 3h 00m)"
    assert fit(coloured, 200) == coloured
    assert fit(coloured, 20) == "5h window  [####..." + "…" and len(fit(coloured, 20)) == 20
    assert fit("plain", 3) == "pl…"


@needs_faketime
def test_watch_takes_cbreak_back_after_ctrl_z(env, clock):
    """Stopped (Ctrl-Z) and continued: a shell hands the terminal back in line mode; watch
    takes cbreak again, so q still leaves without Enter."""
    window_fixture(env, clock["now"])
    with watching(clock, "--interval", "1") as (pid, fd):
        before = termios.tcgetattr(fd)
        read_until(fd, b"Costs are API-equivalent")
        os.kill(pid, signal.SIGSTOP)
        termios.tcsetattr(fd, termios.TCSANOW, before)  # what the shell does with the terminal
        os.kill(pid, signal.SIGCONT)
        read_until(fd, b"Costs are API-equivalent")
        assert not termios.tcgetattr(fd)[3] & termios.ICANON
        os.write(fd, b"q")
        read_until(fd, b"\x1b[?1049l", timeout=10)
        assert wait_exit(pid) == 0 and termios.tcgetattr(fd) == before


def test_watch_says_when_the_reading_predates_the_reset(env, capsys, clock):
    window_fixture(env, clock["now"])
    clock["now"] += timedelta(hours=4)  # the window reset an hour ago; no reading since
    out = run(capsys, "watch", "--once", "--no-fetch")[1]
    assert "[" + "?" * 30 + "] n/a  the last reading (40%) is from before the reset at" in out and "ago)" in out
