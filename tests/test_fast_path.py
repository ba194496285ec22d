"""The status line's and the hooks' minimal path: the same answers as the full
path, never blocked by a first index build running in the background."""

import fcntl
import io
import json
import os
import sys
import time
from pathlib import Path

import pytest

from ai_budget import atomic, cli
from ai_budget.analysis import pricing
from ai_budget.commands import hook
from ai_budget.sources import transcript_paths, transcripts
from ai_budget.state import index, index_peek
from conftest import line, run, run_cli, write_session


def feed(monkeypatch, capsys, payload, *argv):
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(payload)))
    return run(capsys, *argv)


def limits(five=42):
    return {"five_hour": {"used_percentage": five, "resets_at": int(time.time()) + 7200},
            "seven_day": {"used_percentage": 10, "resets_at": int(time.time()) + 400_000}}


@pytest.mark.parametrize("argv", [["statusline"], ["statusline", "--chain"]] + [["hook", e] for e in cli.HOOK_EVENTS])
def test_installed_argv_parses_as_argparse_does(argv):
    import argparse

    fast = cli.parse(argv)
    parser = cli._parser_class()(prog=f"budget {argv[0]}")
    cli.FAST[argv[0]](parser)
    slow = argparse.Namespace(command=argv[0], **vars(parser.parse_args(argv[1:])))
    assert vars(fast) == vars(slow)


@pytest.mark.parametrize("argv", [["hook", "bogus"], ["statusline", "--bogus"], ["hook"]])
def test_other_argv_gets_argparse_errors(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.parse(argv)
    assert exc.value.code == 2 and "(see --help)" in capsys.readouterr().err


PATHS = ["/r/p/s.jsonl", "/r//p/./s.jsonl", "/r/p/s/subagents/agent-a.jsonl", "/r/p/s/x/y.jsonl", "/r/s.jsonl",
         "/r/p/x.", "/r/p/.jsonl", "/r/p/a.b.jsonl", "/r/../r/p/s.jsonl", "/elsewhere/p/s.jsonl", "/r/p/", "/r"]


@pytest.mark.parametrize("path", PATHS)
def test_str_path_rules_match_pathlib(path):
    roots = ["/q", "/r/", "/r"]
    root = transcript_paths.root_of(path, roots)
    assert root == next((r for r in roots if Path(path).is_relative_to(r)), None)
    assert transcript_paths.normal(path) == str(Path(path))
    if root is not None:
        rel = Path(path).relative_to(root).parts  # the rule transcripts.session_of had on Path objects
        expected = ("", Path(path).stem) if len(rel) < 2 else (rel[0], Path(rel[1]).stem) if len(rel) == 2 else \
            (rel[0], rel[1]) if len(rel) == 4 and rel[2] == "subagents" else (rel[0], rel[-2])
        assert transcript_paths.session_of(path, root) == expected


def test_session_files_in_pathlib_order_without_links_or_fifos(tmp_path):
    main = write_session(tmp_path, [line(mid="m")], subagents={"agent-b": [], "agent-a": []})
    sub = main.with_suffix("") / "subagents"
    (sub / "deeper").mkdir()
    (sub / "deeper" / "agent-c.jsonl").write_text("")
    (sub / "link.jsonl").symlink_to(sub / "agent-a.jsonl")
    os.mkfifo(sub / "fifo.jsonl")
    expected = [main] + sorted(p for p in sub.rglob("*.jsonl") if not p.is_symlink() and p.is_file())
    assert transcripts.session_files(main) == expected
    assert transcript_paths.session_files(str(main)) == [str(p) for p in expected]


def test_the_index_is_peeked_only_when_it_holds_the_files_as_they_are(env):
    main = write_session(env.projects, [line(mid="m1", rid="r1", out=1_000_000)], subagents={"agent-a": [line(mid="m2", out=10)]})
    prices = pricing.load()
    files = [str(p) for p in transcripts.session_files(main)]
    assert index_peek.session_cost(files, "-home-me-proj", "s1", prices.fingerprint) is None  # no index yet
    cost = index.sync(prices, only=[Path(f) for f in files], cost_of=("-home-me-proj", "s1"))["session_cost"]
    assert cost > 15 and index_peek.session_cost(files, "-home-me-proj", "s1", prices.fingerprint) == cost
    assert index_peek.session_cost(files, "-home-me-proj", "s1", "other-prices") is None
    with main.open("a") as out:
        out.write(line(mid="m3", rid="r3", out=5) + "\n")
    assert index_peek.session_cost(files, "-home-me-proj", "s1", prices.fingerprint) is None  # grown: sync first
    grown = index.sync(prices, only=[Path(f) for f in files], cost_of=("-home-me-proj", "s1"))["session_cost"]
    assert grown > cost and index_peek.session_cost(files, "-home-me-proj", "s1", prices.fingerprint) == grown
    (main.with_suffix("") / "subagents" / "agent-new.jsonl").write_text("")
    assert index_peek.session_cost(files + [str(main.with_suffix("") / "subagents" / "agent-new.jsonl")],
                                   "-home-me-proj", "s1", prices.fingerprint) is None  # a file it has not seen


def test_statusline_same_line_from_the_peek_as_from_a_sync(env, monkeypatch, capsys):
    main = write_session(env.projects, [line(mid="m1", rid="r1", out=1_000_000)])
    payload = {"session_id": "s1", "transcript_path": str(main), "rate_limits": limits()}
    first = feed(monkeypatch, capsys, payload, "statusline")
    with monkeypatch.context() as m:
        m.setattr(index, "sync", lambda *a, **k: 1 / 0)  # the peek answers: no sync at all
        assert feed(monkeypatch, capsys, payload, "statusline") == first
    assert "$15.00 API-eq" in first[1]
    with main.open("a") as out:
        out.write(line(mid="m2", rid="r2", out=1_000_000) + "\n")
    assert "$30.00 API-eq" in feed(monkeypatch, capsys, payload, "statusline")[1]


def test_status_line_and_hooks_run_without_the_heavy_modules(env):
    main = write_session(env.projects, [line(mid="m1", rid="r1", out=1000)])
    payload = json.dumps({"session_id": "s1", "transcript_path": str(main), "rate_limits": limits(), "tool_name": "Task"})
    run_cli("statusline", input=payload)  # indexes the session: the runs below only read (the last one syncs)
    for argv, grow in ((["statusline"], False), (["hook", "user-prompt-submit"], False), (["hook", "pre-tool-use"], False),
                       (["statusline"], True)):
        if grow:  # a new response: the status line syncs it, on strings
            with main.open("a") as out:
                out.write(line(mid="m2", rid="r2", out=10) + "\n")
        probe = ("import runpy, sys; sys.argv = [{script!r}, *{argv!r}]\n"
                 "try:\n    runpy.run_path({script!r}, run_name='__main__')\nexcept SystemExit:\n    pass\n"
                 "heavy = sorted(m for m in ('pathlib', 'dataclasses', 'argparse', 'tempfile', 'hashlib', 'subprocess', 'copy')"
                 " if m in sys.modules)\nsys.stderr.write('HEAVY' + repr(heavy))")
        script = str(Path(cli.__file__).parents[1] / "budget.py")
        done = __import__("subprocess").run([sys.executable, "-S", "-c", probe.format(script=script, argv=argv)],
                                            input=payload, capture_output=True, text=True, env=os.environ.copy(), timeout=30)
        assert done.stderr.endswith("HEAVY[]"), (argv, done.stderr[-300:])


def hold_build_lock():
    handle = open(index_peek._build_lock(), "a+b")
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    return handle


def test_a_first_build_in_the_background_never_blocks_the_hooks(env, monkeypatch, capsys):
    main = write_session(env.projects, [line(mid="m1", rid="r1", out=1_000_000)])
    monkeypatch.setattr(hook, "BUILD_WAIT_S", 0.2)
    held = hold_build_lock()  # a build that takes long
    try:
        started = time.monotonic()
        code, out, _ = feed(monkeypatch, capsys, {"session_id": "s1", "source": "startup"}, "hook", "session-start")
        ctx = json.loads(out)["hookSpecificOutput"]["additionalContext"]
        assert code == 0 and "still being counted" in ctx and time.monotonic() - started < 5
        payload = {"session_id": "s1", "transcript_path": str(main), "rate_limits": limits(), "cost": {"total_cost_usd": 1.5}}
        code, out, _ = feed(monkeypatch, capsys, payload, "statusline")
        assert code == 0 and "$1.50 API-eq" in out and "(transcripts still being counted)" in out  # Claude's figure, marked
        assert index_peek.building()
    finally:
        held.close()
    assert not index_peek.building()
    # Released: the next first session start builds for real (a child process), and waits for a small history.
    monkeypatch.setattr(hook, "BUILD_WAIT_S", 20)
    code, out, _ = feed(monkeypatch, capsys, {"session_id": "s2", "source": "startup"}, "hook", "session-start")
    ctx = json.loads(out)["hookSpecificOutput"]["additionalContext"]
    assert "still being counted" not in ctx and not index_peek.cold()
    payload = {"session_id": "s1", "transcript_path": str(main), "rate_limits": limits()}
    out = feed(monkeypatch, capsys, payload, "statusline")[1]
    assert "$15.00 API-eq" in out and "counted" not in out


def test_background_build_starts_once(env):
    write_session(env.projects, [line(mid="m1", rid="r1", out=10)])
    held = hold_build_lock()
    try:
        assert index_peek.build_in_background([sys.executable, "-c", "raise SystemExit(9)"], 0.1) is False
    finally:
        held.close()
    marker = env.root / "ran"
    command = [sys.executable, "-c", f"import pathlib, time; time.sleep(0.3); pathlib.Path({str(marker)!r}).write_text('x')"]
    assert index_peek.build_in_background(command, 10) is True and marker.exists()


def test_cache_writes_without_fsync_stay_atomic(tmp_path, monkeypatch):
    target = tmp_path / "snap.json"
    dead = tmp_path / f".snap.json.{2 ** 22 + 12345}.deadbeef.tmp"  # a writer killed before its rename
    dead.write_text("half")
    synced = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    atomic.write_atomic(target, '{"a": 1}\n', durable=False)
    assert target.read_text() == '{"a": 1}\n' and not synced and not dead.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["snap.json"]
    atomic.write_atomic(str(target), "{}\n")
    assert target.read_text() == "{}\n" and len(synced) == 2 and oct(target.stat().st_mode & 0o777) == oct(0o644)


def test_run_cli_statusline_is_unchanged_by_a_missing_index(env):
    main = write_session(env.projects, [line(mid="m1", rid="r1", out=1_000_000)])
    payload = json.dumps({"session_id": "s1", "transcript_path": str(main), "rate_limits": limits()})
    first = run_cli("statusline", input=payload)[0].stdout
    second = run_cli("statusline", input=payload)[0].stdout
    (env.cache / "index.sqlite").unlink()
    third = run_cli("statusline", input=payload)[0].stdout
    assert first == second == third and "$15.00 API-eq" in first


@pytest.mark.parametrize("slots", [False, True])
def test_record_behaves_as_the_dataclass_it_replaced(slots):
    import dataclasses

    from ai_budget.records import record

    class Base:
        __slots__ = ()

        @property
        def twice(self):
            return self.a * 2

    def make(decorate):
        class Thing(Base):
            a: int
            b: str | None
            c: float = 1.5
            d: bool = False
        return decorate(Thing)

    ours, theirs = make(record(slots=slots)), make(dataclasses.dataclass(slots=slots))
    for args, kwargs in (((1, "x"), {}), ((2, None, 3.0), {"d": True}), ((), {"a": 3, "b": "y"})):
        mine, ref = ours(*args, **kwargs), theirs(*args, **kwargs)
        assert repr(mine) == repr(ref) and mine.twice == ref.twice
        assert mine == ours(*args, **kwargs) and mine != ours(9, "z") and mine != ref
    assert ours.__match_args__ == theirs.__match_args__ and ours.__hash__ is None
    assert hasattr(ours(1, "x"), "__dict__") is (not slots)
    with pytest.raises(TypeError):
        ours(1)


# ---------------------------------------------------------------- spend limits on the fast path

def spend_session(env, clock, usd: float, session: str):
    from datetime import timedelta

    from test_limits import spend
    from test_workflow import ts

    return write_session(env.projects, [line(mid=f"m-{session}", rid=f"r-{session}", ts=ts(clock["now"] - timedelta(hours=1)),
                                             inp=0, out=spend(usd))], session=session)


def test_status_line_shows_the_spend_limits_that_need_attention(env, monkeypatch, capsys, clock):
    main = spend_session(env, clock, 8.5, "today")
    payload = {"session_id": "today", "transcript_path": str(main), "rate_limits": limits()}
    assert "day" not in feed(monkeypatch, capsys, payload, "statusline")[1]  # no limit set: nothing
    run(capsys, "set", "limits", "--daily", "10", "--monthly", "1000")
    out = feed(monkeypatch, capsys, payload, "statusline")[1]
    assert out.rstrip().endswith("$8.50 API-eq · day $8.50/$10 !")  # monthly is ok: not shown
    run(capsys, "set", "limits", "--daily", "8")
    assert "day $8.50/$8 OVER" in feed(monkeypatch, capsys, payload, "statusline")[1]
    status = json.loads(run(capsys, "status", "--no-fetch", "--json")[1])
    assert status["limits"]["periods"]["daily"]["spent"] == pytest.approx(8.5, abs=0.001)  # the same query


def test_user_prompt_submit_says_each_limit_crossing_once(env, monkeypatch, capsys, clock):
    spend_session(env, clock, 8.5, "today")
    run(capsys, "set", "limits", "--daily", "10", "--weekly", "1000")
    run(capsys, "check", "--no-fetch")  # indexes the transcripts
    prompt = {"session_id": "s1", "prompt": "TOP-SECRET"}
    code, out, _ = feed(monkeypatch, capsys, prompt, "hook", "user-prompt-submit")
    assert code == 0 and json.loads(out) == {
        "systemMessage": "ai-budget: spend limit warning: day $8.50/$10 (85%) (API-equivalent estimate)."}
    assert feed(monkeypatch, capsys, prompt, "hook", "user-prompt-submit")[1] == ""  # once
    spend_session(env, clock, 1.1, "later")
    run(capsys, "check", "--no-fetch")
    assert "spend limit critical: day $9.60/$10 (96%)" in json.loads(feed(monkeypatch, capsys, prompt, "hook",
                                                                          "user-prompt-submit")[1])["systemMessage"]
    assert feed(monkeypatch, capsys, prompt, "hook", "user-prompt-submit")[1] == ""
    announced = json.loads((env.cache / "limits-announced.json").read_text())
    assert announced["daily"]["status"] == "critical" and announced["weekly"]["status"] == "ok"
    assert "TOP-SECRET" not in json.dumps(announced)
    announced["daily"]["since"] -= 86_400_000  # as if announced yesterday: a new day re-arms it
    (env.cache / "limits-announced.json").write_text(json.dumps(announced))
    assert "critical" in json.loads(feed(monkeypatch, capsys, prompt, "hook", "user-prompt-submit")[1])["systemMessage"]
    (env.cache / "limits-announced.json").write_text("{broken")  # a damaged cache starts again, never fails the hook
    assert feed(monkeypatch, capsys, prompt, "hook", "user-prompt-submit")[0] == 0


def test_a_version_bump_runs_the_setup_that_rebuilds(env):
    assert index_peek.SETUP == int(index.VERSION)  # bump both: an index already set up skips the version check
    prices = pricing.load()
    write_session(env.projects, [line(mid="m1", rid="r1", out=10)])
    index.sync(prices)
    con = index.connect()
    with con:
        con.execute("PRAGMA user_version = 5")
        con.execute("UPDATE meta SET value = '5' WHERE key = 'version'")
        con.execute("DELETE FROM entries")  # what an old index held does not matter: it is rebuilt
    con.close()
    assert index_peek.cold()  # an upgrade's first SessionStart rebuilds in the background too
    assert index.sync(prices, cost_of=("-home-me-proj", "s1"))["session_cost"] > 0 and not index_peek.cold()


def test_spend_per_period_from_slots_equals_the_entries(env, clock):
    spend_session(env, clock, 2.5, "a")
    spend_session(env, clock, 1.25, "b")
    index.sync(pricing.load())
    start = (int(clock["now"].timestamp() * 1000) - 3 * 3_600_000) // 900_000 * 900_000  # a quarter hour: slots
    got = index.period_spend({"aligned": start, "off": start + 1, "after": start + 4 * 3_600_000})
    assert got["aligned"] == got["off"] == {"cost_usd": 3.75, "tokens": got["aligned"]["tokens"], "unpriced": 0}
    assert got["aligned"]["tokens"] > 0 and got["after"] == {"cost_usd": 0.0, "tokens": 0, "unpriced": 0}
    assert index_peek.period_spend({"aligned": start}) == {"aligned": got["aligned"]}  # the file opened by the peek
    (env.cache / "index.sqlite").unlink()
    assert index_peek.period_spend({"aligned": start}) is None  # no index: nothing to show, nothing created
    assert not (env.cache / "index.sqlite").exists()


@pytest.mark.parametrize("columns", [None, "50", "200", "0", "x"])
def test_help_is_whole_and_as_wide_as_shutil_would_make_it(columns, monkeypatch, capsys):
    import shutil

    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert cli._columns() == shutil.get_terminal_size().columns
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])  # every command's help line formats (a bare % in one broke it)
    out = capsys.readouterr().out
    assert exc.value.code == 0 and "estimate" in out and "watch" in out


def test_status_line_never_waits_for_another_sync(env, monkeypatch, capsys):
    main = write_session(env.projects, [line(mid="m1", rid="r1", out=1_000_000)])
    payload = {"session_id": "s1", "transcript_path": str(main), "rate_limits": limits(), "cost": {"total_cost_usd": 9.99}}
    assert "$15.00 API-eq" in feed(monkeypatch, capsys, payload, "statusline")[1]
    with main.open("a") as out:
        out.write(line(mid="m2", rid="r2", out=1_000_000) + "\n")
    with atomic.locked(index.db_path()):  # another run's sync (a check, a report) holds the index
        started = time.monotonic()
        out = feed(monkeypatch, capsys, payload, "statusline")[1]
        assert time.monotonic() - started < 2
    assert "$15.00 API-eq" in out and out.rstrip().endswith("(transcripts still being counted)")  # what it has, marked
    out = feed(monkeypatch, capsys, payload, "statusline")[1]
    assert "$30.00 API-eq" in out and "counted" not in out
    with pytest.raises(BlockingIOError), atomic.locked(index.db_path()):
        with atomic.locked(index.db_path(), wait=0):
            pass
    with atomic.locked(index.db_path(), wait=0.05):  # free: taken at once
        pass
