"""Nothing lost (issue 11, data loss): concurrent updates survive a slow `log`,
retries are idempotent, user text cannot forge a record, links are written
through, and nothing of ours is left beside the user's files."""

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest

from ai_budget.state import atomic
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
