"""Issue 11, input validation: hostile or broken values from the usage API,
budget.json, the backlog, history files and the command line get one clear line
and a documented exit code, and never a wrong number, a traceback or a secret."""

import json
import os
from datetime import timedelta

import pytest

from ai_budget.timefmt import now_utc, parse_iso
from conftest import TOKEN, run, run_cli, unfaked_environ, write_credentials

GOOD_7D = {"utilization": 13.0, "resets_at": None}


def _budget(env):
    return json.loads((env.budget / "budget.json").read_text())


def test_a_string_utilisation_is_coerced(env, api, capsys):
    write_credentials(env.claude)
    api.answer(200, {"five_hour": {"utilization": "12", "resets_at": None}, "seven_day": GOOD_7D})
    code, out, err = run(capsys, "fetch")
    assert code == 0 and "12.0%" in out
    assert _budget(env)["claude"]["five_hour"]["util"] == 12.0


@pytest.mark.parametrize("raw", ['-5', 'NaN', 'Infinity', '1e9', '"twelve"', '1' + '0' * 400],
                         ids=["negative", "nan", "inf", "absurd", "word", "400-digit"])
def test_an_unusable_utilisation_is_rejected_and_the_last_values_kept(env, api, capsys, raw):
    write_credentials(env.claude)
    api.answer(200, {"five_hour": {"utilization": 33.0, "resets_at": None}, "seven_day": GOOD_7D})
    assert run(capsys, "fetch")[0] == 0
    api.answer(200, '{"five_hour": {"utilization": %s, "resets_at": null}, "seven_day": {"utilization": 13}}' % raw)
    code, out, err = run(capsys, "fetch", "--force")
    assert code == 1 and "five_hour.utilization is not a percentage" in err and err.count("\n") == 1
    assert _budget(env)["claude"]["five_hour"]["util"] == 33.0


@pytest.mark.parametrize("retry_after", ["300000000000", "1\u00b2", "9" * 5000], ids=["huge", "superscript", "5000-digit"])
def test_any_retry_after_closes_the_gate_for_at_most_six_hours(env, api, capsys, retry_after):
    write_credentials(env.claude)
    api.answer(429, {}, {"Retry-After": retry_after})
    code, out, err = run(capsys, "fetch")
    assert code == 1 and "rate-limited" in err and "Traceback" not in err
    blocked = parse_iso(json.loads((env.cache / "usage-api.json").read_text())["blocked_until"])
    assert now_utc() + timedelta(minutes=4) < blocked <= now_utc() + timedelta(hours=6, minutes=1)
    assert run(capsys, "fetch", "--force")[0] == 1 and len(api.requests) == 1  # the gate holds


def test_a_huge_answer_is_refused_unread(env, api, capsys):
    write_credentials(env.claude)
    api.answer(200, b'{"five_hour": {"utilization": 1}, "pad": "' + b"x" * (3 << 20) + b'"}')
    code, out, err = run(capsys, "fetch")
    assert code == 1 and "-byte cap; ignored" in err


def test_a_huge_answer_without_a_length_is_cut_at_the_cap():
    import io

    from ai_budget.errors import SourceUnavailable
    from ai_budget.sources import usage_api

    class Endless(io.RawIOBase):  # a chunked body that never ends
        headers: dict = {}
        read_bytes = 0

        def read(self, n=-1):
            self.read_bytes += n
            return b"x" * n

    body = Endless()
    with pytest.raises(SourceUnavailable, match="cap"):
        usage_api._read_capped(body)
    assert body.read_bytes <= usage_api.MAX_BODY + (1 << 16)


@pytest.mark.parametrize("broken, field", [
    ({"alerts": {"warn_at": None}}, "alerts.warn_at"),
    ({"claude": {"scoped_weekly": {"model": "Opus"}}}, "claude.scoped_weekly"),
    ({"claude": {"scoped_weekly": [{"model": "Opus", "util": "91"}]}}, "claude.scoped_weekly[0].util"),
    ({"claude": {"scoped_weekly": ["Opus"]}}, "claude.scoped_weekly[0]"),
    ({"claude": {"extra_usage": {"enabled": True, "used_usd": "1.50"}}}, "claude.extra_usage.used_usd"),
    ({"claude": {"extra_usage": [1]}}, "claude.extra_usage"),
    ({"pricing_overrides": {"my-model": {"input": "3", "output": 15}}}, "pricing_overrides.my-model.input"),
    ({"pricing_overrides": {"my-model": 3}}, "pricing_overrides.my-model"),
    ({"pricing_overrides": {"my-model": {"input": 3}}}, "pricing_overrides.my-model.output"),
    ({"copilot": {"unit": None}}, "copilot.unit"),
    ({"copilot": {"resets_at": 20261201}}, "copilot.resets_at"),
    ({"copilot": {"used": int("9" * 309)}}, "copilot.used"),
    ({"claude": {"five_hour_util": 1e308 * 10}}, "claude.five_hour.util"),
    ({"calibration": {"flashcard": {"unit": "per card", "units_total": 10**400}}}, "calibration.flashcard.units_total"),
    ({"calibration": {"flashcard": {"unit": "per card", "samples": 2, "avg_5h_pct": "2.5"}}, "schema_version": 1},
     "calibration.flashcard.avg_5h_pct"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_a_value_that_would_crash_later_is_refused_on_load(env, capsys, broken, field):
    path = env.budget / "budget.json"
    path.write_text(json.dumps({"schema_version": 3, **broken}).replace("Infinity", "1e999"))
    before = path.read_bytes()
    for argv in (("check", "--no-fetch"), ("report", "daily"), ("backlog",), ("set", "copilot", "--used", "3")):
        code, out, err = run(capsys, *argv)
        assert code == 2 and f"field '{field}'" in err and err.count("\n") == 1, (argv, err)
    assert path.read_bytes() == before


def test_an_integer_over_4300_digits_is_one_line(env, capsys):
    path = env.budget / "budget.json"
    path.write_text('{"copilot": {"used": %s}}' % ("9" * 5000))
    code, out, err = run(capsys, "check", "--no-fetch")
    assert code == 2 and "more than 4,300 digits" in err and err.count("\n") == 1


def test_non_utf8_backlog_and_history_get_one_line(env, capsys):
    (env.budget / "tasks").mkdir()
    backlog = env.budget / "tasks" / "backlog.md"
    backlog.write_bytes(b"[H] caf\xe9 (feature x1)\n")
    code, out, err = run(capsys, "backlog")
    assert code == 2 and "backlog.md: not UTF-8" in err and err.count("\n") == 1
    backlog.unlink()
    (env.budget / "history").mkdir()
    (env.budget / "history" / "otherbox.tsv").write_bytes(b"# \xff\xfe\n")
    code, out, err = run(capsys, "report", "daily")
    assert code == 0 and "otherbox.tsv: not UTF-8" in err and "Traceback" not in err


def test_a_nan_cost_in_a_history_file_never_reaches_json(env, capsys):
    (env.budget / "history").mkdir()
    (env.budget / "history" / "otherbox.tsv").write_text(
        "date\tmodel\tresponses\tinput\toutput\tcache_create\tcache_read\tcost\tunpriced\n"
        "2026-01-01\tclaude-sonnet-4-5\t1\t10\t5\t0\t0\tnan\t0\n")
    code, out, err = run(capsys, "report", "daily", "--json")
    json.loads(out, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
    assert "otherbox.tsv: line 2" in err


@pytest.mark.parametrize("argv", [("calibrate", "flashcard", "9" * 309, "5"), ("calibrate", "flashcard", "3", "1e308"),
                                  ("calibrate", "flashcard", "3", "5", "9" * 400), ("log", "--task", "flashcard:" + "9" * 309)],
                         ids=["units", "pct", "tokens", "log-units"])
def test_numeric_arguments_are_bounded(env, capsys, argv):
    code, out, err = run(capsys, *argv, "--no-commit") if argv[0] == "log" else run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert not (env.budget / "budget.json").exists() or "9" * 300 not in (env.budget / "budget.json").read_text()


def test_a_session_id_is_taken_literally(env, capsys):
    from conftest import line, write_session
    write_session(env.projects, [line(mid="m1", rid="r1")], session="abc")
    for pattern in ("**", "*", "a?c", "[a]bc", "../-home-me-proj/abc"):
        code, out, err = run(capsys, "tokens", "--session", pattern)
        assert code == 2 and "no transcript for session" in err, pattern
    assert run(capsys, "tokens", "--session", "abc")[0] == 0


@pytest.mark.parametrize("content", ["{broken", '{"alerts": {"warn_at": null}}'])
def test_check_markdown_exits_0_and_names_a_malformed_budget(env, capsys, content):
    (env.budget / "budget.json").write_text(content)
    code, out, err = run(capsys, "check", "--markdown", "--no-fetch")
    assert code == 0 and out.startswith("**ai-budget could not make the brief:** budget.json: ") and err == ""


def test_check_markdown_exits_0_on_an_internal_error_without_its_text(env, capsys, monkeypatch):
    from ai_budget.outputs import brief

    def leaky(*a, **k):
        raise ValueError(f"Invalid header value b'Bearer {TOKEN}'")
    monkeypatch.setattr(brief, "markdown", leaky)
    code, out, err = run(capsys, "check", "--markdown", "--no-fetch")
    assert code == 0 and "internal error (ValueError)" in out and TOKEN not in out + err


@pytest.mark.parametrize("argv, code", [(("report", "daily"), 1), (("hook", "session-start"), 0), (("statusline",), 0)])
def test_the_guard_catches_what_slips_through_without_its_text(env, capsys, monkeypatch, argv, code):
    from ai_budget import cli

    def leaky(args, now):
        raise ValueError(f"Invalid header value b'Bearer {TOKEN}'")
    monkeypatch.setattr(cli, "_handler", lambda command: leaky)
    got, out, err = run(capsys, *argv)
    assert got == code and TOKEN not in out + err
    if code:
        assert err == "budget report: internal error (ValueError); nothing more is shown, as its details could hold secrets\n"
    else:
        assert out == err == ""


def test_a_closed_pipe_ends_quietly(env):
    import os

    reader, writer = os.pipe()
    os.close(reader)  # as `| head -1` does once it has its line
    try:
        proc, _ = run_cli("backlog", stdout=writer)
    finally:
        os.close(writer)
    assert proc.stderr == "" and proc.returncode == 1


@pytest.mark.parametrize("raw", ["1500", "-5", "1e400", "1e308"])
def test_an_absurd_status_line_value_is_never_kept(env, capsys, raw):
    """Claude Code's rate_limits get the API's bounds: a bad value must not poison check and the brief."""
    payload = '{"rate_limits": {"five_hour": {"used_percentage": %s, "resets_at": 9999999999}}}' % raw
    proc, _ = run_cli("statusline", input=payload)
    assert proc.returncode == 0 and raw not in proc.stdout and "Infinity" not in proc.stdout
    snapshot = env.cache / "statusline-snapshot.json"
    assert not snapshot.exists() or raw not in snapshot.read_text() and "Infinity" not in snapshot.read_text()
    code, out, err = run(capsys, "check", "--no-fetch")
    assert code in (0, 1) and "Traceback" not in err and "budget.json" not in err
    proc, _ = run_cli("hook", "session-start", input='{"session_id": "s1"}')
    assert "**Claude:**" in json.loads(proc.stdout)["hookSpecificOutput"]["additionalContext"]


def test_a_reset_time_in_year_9999_is_no_reset_time(env, api, capsys):
    write_credentials(env.claude)
    api.answer(200, {"five_hour": {"utilization": 20.0, "resets_at": "9999-12-31T23:59:59-14:00"}, "seven_day": GOOD_7D})
    code, out, err = run(capsys, "fetch")
    assert code == 0 and "internal error" not in err and _budget(env)["claude"]["five_hour"]["resets_at"] is None
    data = _budget(env)
    data["claude"]["five_hour"]["resets_at"] = "9999-12-31T23:59:59-14:00"  # by hand: loads, never crashes later
    (env.budget / "budget.json").write_text(json.dumps(data))
    proc, _ = run_cli("check", "--no-fetch", "--json")
    assert proc.returncode in (0, 1) and json.loads(proc.stdout)["claude"]["five_hour"]["util"] == 20.0


def test_a_model_name_from_the_api_is_a_short_printable_string(env, api, capsys):
    write_credentials(env.claude)
    scoped = [{"kind": "weekly_scoped", "percent": 5, "scope": {"model": {"display_name": ["l"]}}},
              {"kind": "weekly_scoped", "percent": 7, "scope": {"model": {"display_name": "Opus\n\x1b[2J" + "x" * 500}}}]
    api.answer(200, {"five_hour": {"utilization": 20.0, "resets_at": None}, "seven_day": GOOD_7D, "limits": scoped})
    code, out, err = run(capsys, "fetch")
    assert code == 0, err
    names = [s["model"] for s in _budget(env)["claude"]["scoped_weekly"]]
    assert names[0] == "scoped" and names[1].startswith("Opus[2J") and len(names[1]) <= 60
    assert all(c.isprintable() for n in names for c in n)


def _not_a_file(path, kind):
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:  # a symlink loop
        os.symlink(path.parent / "loop", path)
        os.symlink(path, path.parent / "loop")


@pytest.mark.parametrize("kind", ["fifo", "folder", "loop"])
def test_a_ledger_that_is_no_file_is_named_never_opened_for_ever(env, kind):
    """A FIFO ledger hung check, set and the SessionStart hook for ever (the dashboard too,
    holding its lock); a folder or a symlink loop was an 'internal error'."""
    path = env.budget / "ledgers" / "api.jsonl"
    _not_a_file(path, kind)
    proc, _ = run_cli("check", "--no-fetch", "--json", timeout=10)
    assert "ledgers/api.jsonl: " in json.loads(proc.stdout)["api_credits"]["problem"] and "Traceback" not in proc.stderr
    proc, _ = run_cli("set", "api", "--balance", "5", timeout=10)
    assert proc.returncode == 2 and "ledgers/api.jsonl: " in proc.stderr and proc.stderr.count("\n") == 1
    proc, _ = run_cli("hook", "session-start", input='{"session_id": "s1"}', timeout=10)
    assert proc.returncode == 0 and "additionalContext" in proc.stdout
    assert os.path.lexists(path) and not path.is_file()


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_budget_json_that_is_no_file_never_hangs_the_status_line(env, kind):
    _not_a_file(env.budget / "budget.json", kind)
    proc, took = run_cli("statusline", input="{}", timeout=10)
    assert proc.returncode == 0 and took < 5
    proc, _ = run_cli("status", timeout=10)
    assert proc.returncode == 2 and "budget.json: not a regular file" in proc.stderr and proc.stderr.count("\n") == 1
    (env.budget / "budget.json").unlink() if kind == "fifo" else (env.budget / "budget.json").rmdir()
    _not_a_file(env.budget / "tasks" / "backlog.md", kind)
    proc, _ = run_cli("backlog", timeout=10)
    assert proc.returncode == 2 and "backlog.md: not a regular file" in proc.stderr


@pytest.mark.parametrize("closed", [1, 2])
def test_a_closed_stdout_or_stderr_keeps_the_exit_code(env, closed):
    """`>&-` made sys.stdout (or stderr) None: every command exited 1 with an AttributeError."""
    def close():
        os.close(closed)

    for argv, code in ((["status", "--no-fetch", "--exit-code"], 0), (["set", "api", "--balance", "abc"], 2),
                       (["set", "api", "--balance", "12"], 0)):
        proc, _ = run_cli(*argv, preexec_fn=close, env=unfaked_environ(), **({"stdout": None} if closed == 1 else {}))
        assert proc.returncode == code, (argv, proc.stderr)
