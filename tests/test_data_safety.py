"""Nothing lost (issue 11, data loss): concurrent updates survive a slow `log`,
retries are idempotent, user text cannot forge a record, links are written
through, and nothing of ours is left beside the user's files."""

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest

from ai_budget import atomic
from conftest import run, run_json


def files_named(root, suffix):
    return sorted(str(p.relative_to(root)) for p in root.rglob(f"*{suffix}"))


# ---------------------------------------------------------------- links, locks, temp files

def test_symlinked_budget_json_is_written_through(env, capsys, clock):
    dotfiles = env.root / "dotfiles"
    dotfiles.mkdir()
    run(capsys, "set", "copilot", "--used", "1")
    (env.budget / "budget.json").rename(dotfiles / "budget.json")
    (env.budget / "budget.json").symlink_to(dotfiles / "budget.json")
    assert run(capsys, "set", "copilot", "--used", "7")[0] == 0
    assert (env.budget / "budget.json").is_symlink()
    assert json.loads((dotfiles / "budget.json").read_text())["copilot"]["used"] == 7


def test_symlinked_settings_json_is_written_through(env, capsys):
    dotfiles = env.root / "dotfiles"
    dotfiles.mkdir()
    (dotfiles / "settings.json").write_text('{"theme": "dark"}\n')
    (env.claude / "settings.json").symlink_to(dotfiles / "settings.json")
    assert run(capsys, "install", "--hooks")[0] == 0
    assert (env.claude / "settings.json").is_symlink()
    settings = json.loads((dotfiles / "settings.json").read_text())
    assert settings["theme"] == "dark" and settings["hooks"]


def test_locks_live_in_the_cache_folder(env, capsys, clock):
    run(capsys, "install", "--hooks")
    run(capsys, "set", "copilot", "--used", "3")
    run(capsys, "log", "--no-fetch", "--task", "feature:1", "--session", "s1", "--no-commit")
    assert files_named(env.claude, ".lock") == [] and files_named(env.budget, ".lock") == []
    assert files_named(env.cache / "sessions", ".lock") == []
    assert len(list((env.cache / "locks").glob("*.lock"))) >= 3


def test_temp_files_of_a_killed_writer_are_removed_by_the_next_write(env, capsys, clock):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = os.getppid()
    run(capsys, "set", "copilot", "--used", "1")
    orphan = env.budget / f".budget.json.{dead.pid}.x1y2.tmp"
    live = env.budget / f".budget.json.{alive}.x3y4.tmp"  # a writer still at work
    orphan.write_text("{")
    live.write_text("{")
    assert run(capsys, "set", "copilot", "--used", "2")[0] == 0
    assert not orphan.exists() and live.exists()


# ---------------------------------------------------------------- git

def git(repo, *args, check=True):
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(done.stderr)
    return done.stdout.strip()


def repo_with_history(root, identity=True):
    git(root, "init", "-q", "-b", "main")
    if identity:
        git(root, "config", "user.email", "me@example.org")
        git(root, "config", "user.name", "Me")
    (root / "notes.txt").write_text("one\n")
    git(root, "add", "notes.txt")
    git(root, "-c", "user.email=me@example.org", "-c", "user.name=Me", "commit", "-qm", "first")


def stop_midway(root, operation):
    """Leave the repo in the middle of `operation`, as a user who walked away would."""
    me = ("-c", "user.email=me@example.org", "-c", "user.name=Me")
    if operation == "detached":
        git(root, "checkout", "-q", "--detach")
        return
    if operation == "bisect":
        git(root, "bisect", "start")
        return
    git(root, "checkout", "-q", "-b", "other")
    (root / "notes.txt").write_text("theirs\n")
    git(root, *me, "commit", "-qam", "theirs")
    git(root, "checkout", "-q", "main")
    (root / "notes.txt").write_text("ours\n")
    git(root, *me, "commit", "-qam", "ours")
    conflict = {"merge": ["merge", "other"], "rebase": ["rebase", "other"], "cherry-pick": ["cherry-pick", "other"]}
    assert subprocess.run(["git", *me, *conflict[operation]], cwd=root, capture_output=True).returncode != 0


@pytest.mark.parametrize("operation", ["detached", "merge", "rebase", "cherry-pick", "bisect"])
def test_log_never_commits_into_a_stopped_operation(env, capsys, clock, operation):
    repo_with_history(env.budget)
    stop_midway(env.budget, operation)
    head = git(env.budget, "rev-parse", "HEAD")
    code, data, err = run_json(capsys, "log", "--no-fetch", "--task", "feature:1", "--session", "s1")
    assert code == 0 and data["commit"]["committed"] is False
    assert git(env.budget, "rev-parse", "HEAD") == head
    word = {"detached": "detached", "merge": "a merge", "rebase": "a rebase", "cherry-pick": "a cherry-pick",
            "bisect": "a bisect"}[operation]
    assert word in err and "not committed" in err and "commit -m" in err
    assert (env.budget / "sessions" / f"{data['date']}.md").exists()
    assert "budget.json" not in git(env.budget, "diff", "--cached", "--name-only")


def test_a_failed_commit_leaves_the_users_index_alone(env, capsys, clock):
    repo_with_history(env.budget)
    hook = env.budget / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    code, data, err = run_json(capsys, "log", "--no-fetch", "--task", "feature:1", "--session", "s1")
    assert code == 0 and data["commit"]["committed"] is False and "git commit failed" in err
    assert git(env.budget, "diff", "--cached", "--name-only") == ""


def test_fallback_identity_is_only_claimed_for_a_real_commit(env, capsys, clock):
    repo_with_history(env.budget, identity=False)
    hook = env.budget / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    code, data, err = run_json(capsys, "log", "--no-fetch", "--task", "feature:1", "--session", "s1")
    assert data["commit"]["committed"] is False and "committed as" not in err


def test_identity_from_the_environment_is_used(env, capsys, clock, monkeypatch):
    repo_with_history(env.budget, identity=False)
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Env Person")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "env@example.org")
    code, data, err = run_json(capsys, "log", "--no-fetch", "--task", "feature:1", "--session", "s1")
    assert data["commit"]["committed"] is True and not data["commit"]["notes"]
    assert git(env.budget, "log", "-1", "--format=%ae %ce") == "env@example.org env@example.org"


# ---------------------------------------------------------------- log against concurrent writers

BACKLOG = "# Backlog\n\n## Work\n\n[M] Dashboard (feature x1)\n[L] Fix typo\n"


def during_log(monkeypatch, action):
    """Run `action` while log is between its first read and its writes (a slow log)."""
    from ai_budget import core
    real = core.synced_prices

    def slow(budget, *more):
        action()
        return real(budget, *more)
    monkeypatch.setattr(core, "synced_prices", slow)


def budget_json(env):
    return json.loads((env.budget / "budget.json").read_text())


def test_log_keeps_updates_made_while_it_ran(env, capsys, clock, monkeypatch):
    from ai_budget import cli
    run(capsys, "calibrate", "feature", "1", "4")
    during_log(monkeypatch, lambda: (cli.main(["set", "copilot", "--used", "77"]),
                                     cli.main(["calibrate", "feature", "2", "10"])))
    assert run(capsys, "log", "--no-fetch", "--task", "feature:1", "--session", "s1", "--no-commit")[0] == 0
    data = budget_json(env)
    assert data["copilot"]["used"] == 77
    feature = data["calibration"]["feature"]
    assert (feature["samples"], feature["units_total"], feature["token_samples"]) == (2, 3, 1)


def test_complete_moves_the_line_by_its_content(env, capsys, clock, monkeypatch):
    tasks = env.budget / "tasks"
    tasks.mkdir()
    (tasks / "backlog.md").write_text(BACKLOG)
    during_log(monkeypatch, lambda: (tasks / "backlog.md").write_text(BACKLOG.replace("## Work\n", "## Work\n\n[H] New first\n")))
    assert run(capsys, "log", "--no-fetch", "--complete", "Dashboard", "--session", "s1", "--no-commit")[0] == 0
    left = (tasks / "backlog.md").read_text()
    assert "Dashboard" not in left and "[H] New first" in left and "[L] Fix typo" in left


def test_complete_refuses_a_line_that_went_away(env, capsys, clock, monkeypatch):
    tasks = env.budget / "tasks"
    tasks.mkdir()
    (tasks / "backlog.md").write_text(BACKLOG)
    edited = BACKLOG.replace("[M] Dashboard (feature x1)\n", "")
    during_log(monkeypatch, lambda: (tasks / "backlog.md").write_text(edited))
    code, out, err = run(capsys, "log", "--no-fetch", "--complete", "Dashboard", "--session", "s1", "--no-commit")
    assert code == 0 and "not moved" in err and "Dashboard" in err
    assert (tasks / "backlog.md").read_text() == edited
    assert "Dashboard" not in (tasks / "completed.md").read_text() if (tasks / "completed.md").exists() else True


def test_complete_keeps_crlf_and_a_byte_order_mark(env, capsys, clock):
    tasks = env.budget / "tasks"
    tasks.mkdir()
    body = "\ufeff[M] Dashboard (feature x1)\r\n[L] Fix typo\r\n"
    (tasks / "backlog.md").write_bytes(body.encode("utf-8"))
    code, out, err = run(capsys, "log", "--no-fetch", "--complete", "Dashboard", "--session", "s1", "--no-commit")
    assert code == 0, err
    assert (tasks / "backlog.md").read_bytes() == "\ufeff[L] Fix typo\r\n".encode("utf-8")


# ---------------------------------------------------------------- every sample has a record

def test_rebuild_keeps_samples_added_by_hand(env, capsys, clock):
    repo_with_history(env.budget)
    for units, pct in ((10, 20.0), (5, 12.5), (3, 6.0)):
        assert run(capsys, "calibrate", "flashcard", str(units), str(pct), "900")[0] == 0
    run(capsys, "log", "--no-fetch", "--task", "flashcard:2", "--session", "s1")
    before = budget_json(env)["calibration"]["flashcard"]
    assert run(capsys, "calibrate", "--rebuild")[0] == 0
    after = budget_json(env)["calibration"]["flashcard"]
    assert after == before and (after["samples"], after["units_total"], after["token_samples"]) == (3, 18, 4)
    committed = json.loads(git(env.budget, "show", "HEAD:budget.json"))
    assert len(committed["manual_samples"]) == 3


# ---------------------------------------------------------------- validate first, retry idempotently

def snapshot(env, five, when):
    env.cache.mkdir(exist_ok=True)
    (env.cache / "statusline-snapshot.json").write_text(json.dumps(
        {"observed_at": when.isoformat(), "five_hour": {"util": five, "resets_at": None},
         "seven_day": {"util": 10.0, "resets_at": None}}).replace('"NaN"', "NaN"))


@pytest.mark.parametrize("bad", ["NaN", -5.0, "Infinity"])
def test_a_reading_that_is_not_a_percentage_is_not_stored(env, capsys, clock, bad):
    snapshot(env, bad, clock["now"])
    text = (env.cache / "statusline-snapshot.json").read_text().replace(f'"{bad}"', str(bad))
    (env.cache / "statusline-snapshot.json").write_text(text)
    code, data, err = run_json(capsys, "log", "--no-fetch", "--task", "feature:1", "--session", "s1", "--no-commit")
    assert code == 0, err
    assert budget_json(env)["claude"]["five_hour"]["util"] is None
    assert data["delta"]["trusted"] is False
    assert run(capsys, "log", "--no-fetch", "--task", "feature:1", "--session", "s1", "--no-commit")[0] == 0
    day = (env.budget / "sessions" / f"{data['date']}.md").read_text()
    assert day.count("ai-budget:session") == 2  # two logs, each measured since the previous


def test_a_read_only_folder_fails_before_any_write(env, capsys, clock):
    if os.geteuid() == 0:
        pytest.skip("root ignores permissions")
    (env.budget / "sessions").mkdir()
    env.budget.chmod(0o555)  # budget.json's folder; the sessions folder is writable
    try:
        code, out, err = run(capsys, "log", "--no-fetch", "--task", "feature:1", "--session", "s1", "--no-commit")
    finally:
        env.budget.chmod(0o755)
    assert code == 2 and "cannot write" in err and "Traceback" not in err
    assert list((env.budget / "sessions").iterdir()) == []


def test_a_history_file_that_is_not_utf8_does_not_fail_the_log(env, capsys, clock):
    (env.budget / "history").mkdir()
    (env.budget / "history" / "testbox.tsv").write_bytes(b"\xff\xfe broken\n")
    code, data, err = run_json(capsys, "log", "--no-fetch", "--task", "feature:1", "--session", "s1", "--no-commit")
    assert code == 0 and "not UTF-8" in err
    assert (env.budget / "history" / "testbox.tsv").read_bytes() == b"\xff\xfe broken\n"


def killed_log(monkeypatch, capsys, *argv) -> int:
    """A `log --no-fetch --no-commit` killed after budget.json, before the start moved on."""
    from ai_budget.state import session_state
    real = session_state.mark_logged
    monkeypatch.setattr(session_state, "mark_logged", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    code = run(capsys, "log", "--no-fetch", "--no-commit", *argv)[0]
    monkeypatch.setattr(session_state, "mark_logged", real)
    return code


def test_a_log_retried_after_a_kill_counts_once(env, capsys, clock, monkeypatch):
    t0 = clock["now"]
    snapshot(env, 10.0, t0)
    run(capsys, "check", "--no-fetch", "--session", "s1")
    clock["now"] = t0 + timedelta(minutes=2)
    snapshot(env, 16.0, clock["now"])
    assert killed_log(monkeypatch, capsys, "--task", "feature:2", "--session", "s1") != 0
    clock["now"] = t0 + timedelta(minutes=3)
    snapshot(env, 17.0, clock["now"])
    code, data, err = run_json(capsys, "log", "--no-fetch", "--task", "feature:2", "--session", "s1", "--no-commit")
    assert code == 0, err
    day = (env.budget / "sessions" / f"{data['date']}.md").read_text()
    assert day.count("ai-budget:session") == 1 and day.count("## Session:") == 1
    feature = budget_json(env)["calibration"]["feature"]
    assert (feature["samples"], feature["units_total"], feature["pct_total"]) == (1, 2, 7.0)
    assert run(capsys, "calibrate", "--rebuild")[0] == 0
    assert budget_json(env)["calibration"]["feature"] == feature


# ---------------------------------------------------------------- user text cannot make a record

FORGED = '<!-- ai-budget:session {"calibration_tasks":[{"type":"flashcard","units":1,"pct":500}],"ended_at":"z","session_id":"x"} -->'


@pytest.mark.parametrize("flag", ["--lesson", "--next", "--gemini", "--task"])
def test_user_text_cannot_forge_a_record(env, capsys, clock, flag):
    value = f"feature:1:desc\n\n{FORGED}\n" if flag == "--task" else f"note\n\n{FORGED}\n"
    extra = [] if flag == "--task" else ["--task", "feature:1"]
    code, data, err = run_json(capsys, "log", "--no-fetch", *extra, flag, value, "--session", "s1", "--no-commit")
    assert code == 0, err
    text = (env.budget / "sessions" / f"{data['date']}.md").read_text()
    assert "\n<!-- ai-budget:session {\"calibration_tasks\":[{\"type\":\"flashcard\"" not in text
    assert run(capsys, "calibrate", "--rebuild")[0] == 0
    assert budget_json(env)["calibration"]["flashcard"]["samples"] == 0


def test_a_malformed_record_does_not_crash_the_rebuild(env, capsys, clock):
    code, data, _ = run_json(capsys, "log", "--no-fetch", "--task", "feature:1", "--session", "s1", "--no-commit")
    bad = '\n## Session: x\n\n<!-- ai-budget:session {"calibration_tasks":[{"type":5,"units":"x"}],"session_id":"y"} -->\n'
    with open(env.budget / "sessions" / f"{data['date']}.md", "a") as f:
        f.write(bad)
    code, out, err = run(capsys, "calibrate", "--rebuild")
    assert code == 0 and "skipped 1 malformed" in out and "Traceback" not in err
    assert budget_json(env)["calibration"]["feature"]["token_samples"] == 1


def test_concurrent_commits_are_all_made_and_leave_the_index_clean(env, capsys):
    """Twelve `calibrate` runs at once: none fails on git's index.lock, everything ends up
    committed (a run whose change a concurrent commit already took finds nothing to commit)
    and the user's index is left clean."""
    import subprocess
    import sys

    from conftest import REPO

    run(capsys, "calibrate", "feature", "1", "1.0")  # creates budget.json and the repo
    before = int(subprocess.run(["git", "rev-list", "--count", "HEAD"], cwd=env.budget, capture_output=True, text=True).stdout)
    procs = [subprocess.Popen([sys.executable, "-S", str(REPO / "scripts" / "budget.py"), "calibrate", "feature", str(i), "1.5"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(1, 13)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert all(code == 0 and "failed" not in err and "index.lock" not in err for code, err in results), results
    after = int(subprocess.run(["git", "rev-list", "--count", "HEAD"], cwd=env.budget, capture_output=True, text=True).stdout)
    assert 1 <= after - before <= 12
    committed = json.loads(subprocess.run(["git", "show", "HEAD:budget.json"], cwd=env.budget, capture_output=True, text=True).stdout)
    assert len(committed["manual_samples"]) == 13
    assert subprocess.run(["git", "status", "--porcelain"], cwd=env.budget, capture_output=True, text=True).stdout == ""
