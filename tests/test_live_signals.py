"""Status line, hooks and the settings.json merge, fed recorded-shape payloads."""

import io
import json
import sys
import time

import pytest

from ai_budget.state import previous_statusline
from conftest import REPO, line, run, write_session

SECRET = "TOP-SECRET-PROMPT-TEXT"


def feed(monkeypatch, capsys, payload, *argv):
    raw = payload if isinstance(payload, str) else json.dumps(payload)
    monkeypatch.setattr(sys, "stdin", io.StringIO(raw))
    return run(capsys, *argv)


def rate_limits(five, seven=10, resets_in=7200):
    now = int(time.time())
    return {"five_hour": {"used_percentage": five, "resets_at": now + resets_in},
            "seven_day": {"used_percentage": seven, "resets_at": now + 400_000}}


def persisted(env) -> str:
    """Everything the tool wrote, to check no prompt or tool input is kept."""
    return "".join(p.read_text(errors="replace") for root in (env.cache, env.budget) for p in root.rglob("*") if p.is_file()
                   and p.suffix != ".sqlite")


@pytest.mark.parametrize("pct, state", [(42, "\033[32m"), (75, "\033[33m"), (95, "\033[31m"), (105, "\033[31m")])
def test_statusline_states_and_snapshot(env, monkeypatch, capsys, pct, state):
    monkeypatch.delenv("NO_COLOR")
    main = write_session(env.projects, [line(mid="m1", rid="r1", out=1_000_000, model="claude-sonnet-4-5")])
    code, out, err = feed(monkeypatch, capsys, {"session_id": "s1", "transcript_path": str(main),
                                                "rate_limits": rate_limits(pct)}, "statusline")
    assert code == 0 and err == "" and out.count("\n") == 1
    assert out.startswith(state) and f"{pct}%" in out and "7d 10%" in out and "$15.00 API-eq" in out and "↻1h 59m" in out
    snap = json.loads((env.cache / "statusline-snapshot.json").read_text())
    assert snap["five_hour"]["util"] == pct and snap["five_hour"]["resets_at"].endswith("Z")  # epoch seconds → ISO


def test_statusline_never_fails(env, monkeypatch, capsys):
    for bad in ("not json", "[1, 2]", json.dumps({"rate_limits": {"five_hour": {"used_percentage": "x"}}}),
                json.dumps({"rate_limits": None, "transcript_path": 7})):
        code, out, err = feed(monkeypatch, capsys, bad, "statusline")
        assert code == 0 and out.strip() and "Traceback" not in err
    (env.budget / "budget.json").write_text("{broken")
    code, out, _ = feed(monkeypatch, capsys, {"rate_limits": rate_limits(50)}, "statusline")
    assert code == 0 and "50%" in out  # default thresholds stand in for a malformed budget.json
    code, out, _ = feed(monkeypatch, capsys, {"session_id": "s9"}, "statusline")  # first message: last snapshot
    assert code == 0 and "50%" in out


def test_statusline_thresholds_from_budget(env, monkeypatch, capsys):
    run(capsys, "set", "alerts", "--warn-at", "30", "--critical-at", "40")
    code, out, _ = feed(monkeypatch, capsys, {"rate_limits": rate_limits(45)}, "statusline")
    assert out.rstrip().endswith("!") or " ! " in out  # critical, marked without colour (NO_COLOR)


def test_prompt_alert_once_per_crossing_and_hard_stop(env, monkeypatch, capsys):
    def snap(pct):
        feed(monkeypatch, capsys, {"rate_limits": rate_limits(pct)}, "statusline")

    def prompt():
        return feed(monkeypatch, capsys, {"session_id": "s1", "hook_event_name": "UserPromptSubmit", "prompt": SECRET},
                    "hook", "user-prompt-submit")

    snap(50)
    assert prompt() == (0, "", "")
    snap(72)
    code, out, _ = prompt()
    assert code == 0 and "warning" in json.loads(out)["systemMessage"] and "72%" in out
    assert prompt()[1] == ""  # once per crossing
    snap(91)
    assert "critical" in json.loads(prompt()[1])["systemMessage"]
    snap(10)  # the window reset: re-armed
    assert prompt()[1] == ""
    snap(75)
    assert "warning" in prompt()[1]
    run(capsys, "set", "alerts", "--block-at", "98")
    snap(99)
    code, out, err = prompt()
    assert code == 2 and "resets" in err and "--block-at off" in err
    assert SECRET not in persisted(env)


def test_subagent_fan_out_warning(env, monkeypatch, capsys):
    feed(monkeypatch, capsys, {"rate_limits": rate_limits(93)}, "statusline")
    payload = {"session_id": "s1", "tool_name": "Agent", "tool_input": {"prompt": SECRET}, "tool_use_id": "t1"}
    code, out, _ = feed(monkeypatch, capsys, payload, "hook", "pre-tool-use")
    data = json.loads(out)
    assert code == 0 and "93%" in data["systemMessage"] and data["hookSpecificOutput"]["hookEventName"] == "PreToolUse"
    assert feed(monkeypatch, capsys, {**payload, "tool_name": "Bash"}, "hook", "pre-tool-use")[1] == ""
    assert SECRET not in persisted(env)


def test_session_start_stop_and_end(env, monkeypatch, capsys):
    feed(monkeypatch, capsys, {"rate_limits": rate_limits(20)}, "statusline")
    code, out, _ = feed(monkeypatch, capsys, {"session_id": "s1", "source": "startup"}, "hook", "session-start")
    ctx = json.loads(out)["hookSpecificOutput"]["additionalContext"]
    assert code == 0 and len(ctx) <= 1500 and "**Claude:**" in ctx and "20" in ctx
    stop = {"session_id": "s1", "stop_hook_active": False, "last_assistant_message": SECRET}
    assert feed(monkeypatch, capsys, stop, "hook", "stop")[1] == ""  # nothing used yet
    feed(monkeypatch, capsys, {"rate_limits": rate_limits(31)}, "statusline")
    assert "/budget-log" in json.loads(feed(monkeypatch, capsys, stop, "hook", "stop")[1])["systemMessage"]
    assert feed(monkeypatch, capsys, stop, "hook", "stop")[1] == ""  # reminded once
    assert feed(monkeypatch, capsys, {"session_id": "s1", "reason": "prompt_input_exit"}, "hook", "session-end") == (0, "", "")
    code, out, _ = feed(monkeypatch, capsys, {"session_id": "s2", "source": "startup"}, "hook", "session-start")
    assert "--session s1" in json.loads(out)["hookSpecificOutput"]["additionalContext"]
    assert SECRET not in persisted(env)


@pytest.mark.parametrize("event", ["session-start", "user-prompt-submit", "pre-tool-use", "stop", "session-end"])
def test_hooks_exit_zero_silently_on_internal_errors(env, monkeypatch, capsys, event):
    from ai_budget.commands import hook
    monkeypatch.setitem(hook.HANDLERS, event, lambda *a: 1 / 0)
    assert feed(monkeypatch, capsys, {"session_id": "s1"}, "hook", event) == (0, "", "")
    monkeypatch.undo()


USER_SETTINGS = {
    "model": "opus", "permissions": {"allow": ["Bash(git status)"]},
    "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "~/guard.sh"}]}],
              "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]},
    "statusLine": {"type": "command", "command": "~/.claude/my-status.sh", "padding": 1},
}


def test_settings_merge_is_idempotent_and_reversible(env, capsys):
    settings = env.claude / "settings.json"
    settings.write_text(json.dumps(USER_SETTINGS))
    code, out, _ = run(capsys, "install", "--hooks", "--statusline", "--dry-run")
    assert code == 0 and "would change" in out and json.loads(settings.read_text()) == USER_SETTINGS
    assert run(capsys, "install", "--hooks", "--statusline")[0] == 0
    merged = json.loads(settings.read_text())
    assert merged["model"] == "opus" and merged["permissions"]["allow"][0] == "Bash(git status)"
    assert merged["hooks"]["PreToolUse"][0] == USER_SETTINGS["hooks"]["PreToolUse"][0]
    assert merged["hooks"]["PreToolUse"][1]["matcher"] == "Task|Agent"
    assert merged["hooks"]["Stop"][0] == USER_SETTINGS["hooks"]["Stop"][0]
    assert set(merged["hooks"]) == {"SessionStart", "UserPromptSubmit", "PreToolUse", "Stop", "SessionEnd"}
    assert "statusline --chain" in merged["statusLine"]["command"]
    assert json.loads((env.claude / previous_statusline.NAME).read_text()) == USER_SETTINGS["statusLine"]
    assert len(list(env.claude.glob("settings.json.ai-budget-backup-*"))) == 1
    assert "already up to date" in run(capsys, "install", "--hooks", "--statusline")[1]
    assert json.loads(settings.read_text()) == merged
    assert run(capsys, "uninstall")[0] == 0
    assert json.loads(settings.read_text()) == USER_SETTINGS


def test_chained_statusline_runs_theirs_first(env, monkeypatch, capsys):
    (env.claude / previous_statusline.NAME).write_text(json.dumps({"type": "command", "command": "echo mine"}))
    code, out, _ = feed(monkeypatch, capsys, {"rate_limits": rate_limits(30)}, "statusline", "--chain")
    assert code == 0 and out.startswith("mine │ 5h")


def test_malformed_settings_left_untouched(env, capsys):
    settings = env.claude / "settings.json"
    settings.write_text('{"hooks": [')
    code, out, err = run(capsys, "install", "--hooks")
    assert code == 2 and "settings.json: not valid JSON" in err and "Traceback" not in err
    assert settings.read_text() == '{"hooks": ['
    assert not list(env.claude.glob("settings.json.ai-budget-backup-*"))


def test_session_start_brief_keeps_the_recommendation(env, monkeypatch, capsys):
    """The shipped backlog makes a brief longer than the hook's limit: the cut drops backlog lines, never the plan."""
    (env.budget / "tasks").mkdir()
    (env.budget / "tasks" / "backlog.md").write_text((REPO / "tasks" / "backlog.md").read_text())
    feed(monkeypatch, capsys, {"rate_limits": rate_limits(20)}, "statusline")
    full = run(capsys, "check", "--markdown", "--no-fetch")[1]
    code, out, _ = feed(monkeypatch, capsys, {"session_id": "s1", "source": "startup"}, "hook", "session-start")
    ctx = json.loads(out)["hookSpecificOutput"]["additionalContext"]
    assert len(full) > 1500 >= len(ctx)
    lines = ctx.splitlines()
    assert lines[0].startswith("**Claude:** 5h 20.0%") and lines[1] == "**Recommendation:**"
    assert lines[2].startswith("- Start with [H]") and "**Copilot:**" in ctx and "**Backlog:**" in ctx
    assert lines[-1].startswith("- (+") and lines[-1].endswith("more: run /budget-check)")
    assert all(l in full for l in lines[:-1])  # whole lines only


def test_a_one_shot_session_is_not_worth_a_not_logged_line(env, monkeypatch, capsys):
    feed(monkeypatch, capsys, {"rate_limits": rate_limits(20)}, "statusline")
    for sid, out_tokens in (("quick", 150), ("real", 4000)):
        main = write_session(env.projects, [line(mid=f"{sid}-m", rid=f"{sid}-r", out=out_tokens, session=sid)], session=sid)
        feed(monkeypatch, capsys, {"session_id": sid, "source": "startup"}, "hook", "session-start")
        feed(monkeypatch, capsys, {"session_id": sid, "transcript_path": str(main), "reason": "other"}, "hook", "session-end")
        ctx = json.loads(feed(monkeypatch, capsys, {"session_id": "next"}, "hook", "session-start")[1])
        assert ("**Not logged:** session " + sid in ctx["hookSpecificOutput"]["additionalContext"]) == (sid == "real")


def test_every_hint_runs_from_any_directory(env, monkeypatch, capsys, tmp_path):
    """The brief's and the hard stop's commands, run as printed from an unrelated folder."""
    import re
    import shlex
    import subprocess

    out = run(capsys, "check", "--no-fetch")[1]
    hint = re.search(r"STALE \(never updated\): `([^`]+)`", out).group(1).replace("--used N", "--used 12")
    run(capsys, "set", "alerts", "--block-at", "50")
    feed(monkeypatch, capsys, {"rate_limits": rate_limits(60)}, "statusline")
    err = feed(monkeypatch, capsys, {"session_id": "s1", "prompt": "x"}, "hook", "user-prompt-submit")[2]
    unblock = err.split("Change it with: ", 1)[1].strip()
    for cmd in (hint, unblock):
        proc = subprocess.run(shlex.split(cmd), cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, (cmd, proc.stderr)
    budget = json.loads((env.budget / "budget.json").read_text())
    assert budget["copilot"]["used"] == 12 and budget["alerts"]["block_at"] is None


def test_reinstall_after_the_repo_moved_replaces_our_entries(env, capsys, monkeypatch, tmp_path):
    """A dead copy of our hooks would block every prompt (python3 exits 2 on a missing script)."""
    import shutil

    from ai_budget import paths

    settings = env.claude / "settings.json"
    settings.write_text(json.dumps(USER_SETTINGS))
    old = tmp_path / "old-checkout"
    shutil.copytree(REPO / "skills", old / "skills")
    (old / "scripts").mkdir()
    (old / "scripts" / "budget.py").write_text("")
    with monkeypatch.context() as m:
        m.setattr(paths, "code_root", lambda: old)
        assert run(capsys, "install", "--hooks", "--statusline")[0] == 0
    shutil.rmtree(old)  # the repo moved away
    code, out, err = run(capsys, "install", "--hooks", "--statusline")
    assert code == 0, err
    merged = json.loads(settings.read_text())
    for event, groups in merged["hooks"].items():
        commands = [h["command"] for g in groups for h in g["hooks"]]
        assert sum("budget.py" in c for c in commands) == 1 and not any(str(old) in c for c in commands), event
    assert str(old) not in merged["statusLine"]["command"] and "--chain" in merged["statusLine"]["command"]
    assert json.loads((env.claude / previous_statusline.NAME).read_text()) == USER_SETTINGS["statusLine"]
    assert (env.claude / "skills" / "budget-log").resolve() == (REPO / "skills" / "budget-log").resolve()
    assert run(capsys, "uninstall")[0] == 0 and json.loads(settings.read_text()) == USER_SETTINGS


def test_session_end_never_blocks_on_a_fifo_and_stops_reading_early(env, monkeypatch, capsys):
    import os
    import subprocess

    feed(monkeypatch, capsys, {"rate_limits": rate_limits(20)}, "statusline")
    main = write_session(env.projects, [line(mid=f"m{i}", rid=f"r{i}", out=1500) for i in range(3)], session="big")
    feed(monkeypatch, capsys, {"session_id": "big", "source": "startup"}, "hook", "session-start")
    (main.parent / "big" / "subagents").mkdir(parents=True)
    fifo = main.parent / "big" / "subagents" / "agent-x.jsonl"
    os.mkfifo(fifo)
    payload = json.dumps({"session_id": "big", "transcript_path": str(main), "reason": "other"})
    proc = subprocess.run([sys.executable, "-S", str(REPO / "scripts" / "budget.py"), "hook", "session-end"],
                          input=payload, capture_output=True, text=True, timeout=10)
    assert proc.returncode == 0 and proc.stdout == "" and "Traceback" not in proc.stderr
    fifo.unlink()
    ctx = json.loads(feed(monkeypatch, capsys, {"session_id": "next"}, "hook", "session-start")[1])
    assert "**Not logged:** session big" in ctx["hookSpecificOutput"]["additionalContext"]


@pytest.mark.parametrize("head_len, task_len, tasks", [(80, 1200, 1), (80, 150, 12), (1600, 60, 3), (80, 60, 0)])
def test_the_brief_fits_whatever_the_line_lengths(head_len, task_len, tasks):
    from ai_budget.outputs.brief import _fit

    head = ["**Claude:** " + "c" * head_len, "**Recommendation:**", "- Start with " + "r" * 100, "**Copilot:** ok"]
    tail = [f"- [{n}] " + "t" * task_len for n in range(tasks)]
    text = _fit(head, tail, 1500)
    lines = text.splitlines()
    assert len(text) <= 1500 and lines[1] == "**Recommendation:**" and lines[2] == head[2]
    assert lines[0].startswith("**Claude:** c") and "**Copilot:** ok" in lines
    dropped = len(head) + len(tail) - (len(lines) - ("more: run /budget-check" in lines[-1]))
    assert (f"- (+{dropped} more: run /budget-check)" == lines[-1]) == (dropped > 0)
