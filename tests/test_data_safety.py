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
