"""core.py, the read API: the brief, the usage summary and a session's measure are
the numbers `check` and `log` show, and computing them writes nothing."""

from datetime import timedelta

from ai_budget import core
from ai_budget.sources import statusline_snapshot
from conftest import line, run, run_json, write_session
from test_workflow import ts


def files(root):
    """Every file under the temp homes with its mtime and bytes."""
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*") if p.is_file()}


def setup_session(env, capsys, clock):
    """A session checked half an hour ago (the status line read 20 %), with three responses since (now 26 %)."""
    now = clock["now"]
    clock["now"] = now - timedelta(minutes=30)
    (env.budget / "tasks").mkdir()
    (env.budget / "tasks" / "backlog.md").write_text("# Backlog\n\n[M] Dashboard (feature x1)\n")
    resets = now + timedelta(hours=3)
    statusline_snapshot.write({"five_hour": {"util": 20.0, "resets_at": resets.isoformat()},
                               "seven_day": {"util": 5.0, "resets_at": (now + timedelta(days=3)).isoformat()}},
                              now - timedelta(minutes=30))
    assert run(capsys, "check", "--session", "s1", "--no-fetch")[0] in (0, 1)
    clock["now"] = now
    write_session(env.projects, [line(mid=f"m{i}", rid=f"r{i}", ts=ts(now - timedelta(minutes=20 - i)), out=100 * (i + 1))
                                 for i in range(3)])
    statusline_snapshot.write({"five_hour": {"util": 26.0, "resets_at": resets.isoformat()},
                               "seven_day": {"util": 6.0, "resets_at": (now + timedelta(days=3)).isoformat()}}, now)


def test_reading_the_brief_summary_and_measure_writes_nothing(env, capsys, clock):
    now = clock["now"]
    setup_session(env, capsys, clock)
    core.usage_summary(now)  # warms the index
    before = files(env.root)
    brief = core.brief(now, allow_fetch=False, session_id="s1")
    summary = core.usage_summary(now)
    measure = core.session_measure("s1", now, allow_fetch=False)
    estimate = core.task_estimate(now, task_type="feature", units=1, tier=None, allow_fetch=False)
    assert files(env.root) == before
    assert estimate["used_5h_pct"] == 26.0 and "this machine's last 30 days" in estimate["usd_basis"]
    assert brief["session"] == {"id": "s1", "transcript": str(env.projects / "-home-me-proj" / "s1.jsonl")}
    assert brief["claude"]["five_hour"]["util"] == 26.0 and brief["backlog"]
    assert summary["today"]["output_tokens"] == summary["month"]["output_tokens"] == 600
    assert summary["window"]["responses"] == 3
    assert measure["tokens"]["output_tokens"] == 600 and measure["delta"]["delta"] == 6.0 and not measure["idle"]


def test_check_and_log_show_what_the_core_computes(env, capsys, clock):
    now = clock["now"]
    setup_session(env, capsys, clock)
    measure = core.session_measure("s1", now, allow_fetch=False)
    brief = core.brief(now, allow_fetch=False, session_id="s1")
    data = run_json(capsys, "check", "--session", "s1", "--no-fetch")[1]
    assert {k: v for k, v in data.items() if k not in ("ok", "session", "warnings")} == \
           {k: v for k, v in brief.items() if k != "session"}
    assert data["session"]["id"] == "s1" and data["session"]["checks"] == 2
    logged = run_json(capsys, "log", "--session", "s1", "--no-fetch", "--no-commit")[1]
    assert logged["delta"] == measure["delta"] and logged["seven_day"] == measure["seven_day"]
    assert logged["tokens"]["output_tokens"] == measure["tokens"]["output_tokens"] and logged["cost_usd"] == measure["cost_usd"]
