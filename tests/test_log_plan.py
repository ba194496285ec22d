"""`log` in named steps (docs/ARCHITECTURE.md): `plan` writes nothing, and names
exactly the files `apply` then changes."""

from datetime import timedelta

from ai_budget import cli, core
from ai_budget.commands import log
from ai_budget.sources import backlog
from ai_budget.state import budget_file
from conftest import line, run, write_credentials, write_session
from test_workflow import BACKLOG, ts, usage


def files(env):
    """Every file log could touch, by bytes and mtime; locks and git's own files aside."""
    found = [p for root in (env.budget, env.cache) for p in root.rglob("*")
             if p.is_file() and p.suffix != ".lock" and ".git" not in p.relative_to(env.root).parts]
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in found}


def test_plan_writes_nothing_and_names_what_apply_changes(env, api, capsys, clock):
    (env.budget / "tasks").mkdir()
    (env.budget / "tasks" / "backlog.md").write_text(BACKLOG)
    write_credentials(env.claude)
    t0 = clock["now"]
    api.answer(200, usage(10.0, t0 + timedelta(hours=3)))
    assert run(capsys, "check", "--session", "s1")[0] == 0
    write_session(env.projects, [line(mid="m1", rid="r1", ts=ts(t0 + timedelta(minutes=10)), out=1000, session="s1")],
                  session="s1")
    now = t0 + timedelta(hours=1)
    api.answer(200, usage(20.0, t0 + timedelta(hours=3)))
    args = cli.parse(["log", "--session", "s1", "--task", "feature:1", "--complete", "Flashcards SMA101",
                      "--copilot-used", "120"])
    budget = budget_file.load(env.budget / "budget.json")
    tasks = log.parse_tasks(args.task, budget["calibration"])
    moves = [backlog.find(backlog.read(env.budget / "tasks" / "backlog.md"), n) for n in args.complete]
    m = core.session_measure("s1", now)  # may warm the caches; plan must not write after it

    before = files(env)
    plan = log.plan(m, args, budget, tasks, 120, moves, now)
    assert files(env) == before
    assert plan.budget_fields == ["applied_logs", "calibration", "claude", "copilot"]
    assert plan.message.endswith("— feature 1") and plan.commit and plan.claim is None

    git, notes = log.apply(plan)
    after = files(env)
    changed = {p for p in after if before.get(p) != after[p]}
    assert git["committed"] and notes == []
    assert changed == set(plan.files()) | {env.cache / "sessions" / "s1.json"}  # the start file: plan.mark
