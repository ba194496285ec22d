"""Every change to the budget is a git commit with a descriptive message, and
only the budget's own files are ever committed."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

from ..atomic import locked

FALLBACK_IDENTITY = ("ai-budget", "ai-budget@localhost")
# An operation the user has stopped in the middle of: committing into it would
# mix our files into their rebase/merge, and an abort would throw them away.
IN_PROGRESS = {"rebase-merge": "a rebase", "rebase-apply": "a rebase or git am", "MERGE_HEAD": "a merge",
               "CHERRY_PICK_HEAD": "a cherry-pick", "REVERT_HEAD": "a revert", "BISECT_LOG": "a bisect"}


def _git(repo: Path, *args, identity=None) -> subprocess.CompletedProcess:
    cmd = ["git"]
    if identity:
        cmd += ["-c", f"user.name={identity[0]}", "-c", f"user.email={identity[1]}"]
    for attempt in range(3):  # the user's own git may hold the index for a moment
        proc = subprocess.run(cmd + list(args), cwd=repo, capture_output=True, text=True, timeout=60)
        if proc.returncode == 0 or "index.lock" not in proc.stderr or attempt == 2:
            return proc
        time.sleep(0.5)
    return proc


def _first_line(text: str) -> str:
    """git's message without its multi-line hints: a warning is one line."""
    return (text.strip().splitlines() or [""])[0][:200]


def _blocked(repo: Path) -> str | None:
    """Why committing now would be wrong, or None."""
    names = list(IN_PROGRESS)
    out = _git(repo, "rev-parse", *[a for n in names for a in ("--git-path", n)]).stdout.splitlines()
    for name, rel in zip(names, out):
        if Path(repo, rel).exists():
            return f"{IN_PROGRESS[name]} is in progress"
    if _git(repo, "symbolic-ref", "-q", "HEAD").returncode != 0:
        return "HEAD is detached (no branch checked out)"
    return None


def _has_identity(repo: Path) -> bool:
    if _git(repo, "config", "user.email").stdout.strip() or os.environ.get("EMAIL"):
        return True
    return bool(os.environ.get("GIT_AUTHOR_EMAIL") and os.environ.get("GIT_COMMITTER_EMAIL"))


def _unstage(repo: Path, rel: list[str]) -> None:
    """Leave the user's index as it was before our `git add`."""
    if _git(repo, "rev-parse", "-q", "--verify", "HEAD").returncode == 0:
        _git(repo, "reset", "-q", "--", *rel)
    else:
        _git(repo, "rm", "-q", "--cached", "--ignore-unmatch", "--", *rel)


def commit(repo: Path, files: list[Path], message: str) -> dict:
    """{'committed': bool, 'sha': str|None, 'notes': [..]}; never raises for git trouble."""
    notes: list[str] = []
    if shutil.which("git") is None:
        return {"committed": False, "sha": None, "notes": ["git not found: files written, nothing committed"]}
    try:
        if _git(repo, "rev-parse", "--git-dir").returncode != 0:
            _git(repo, "init", "-q")
            notes.append(f"initialised a git repository in {repo}")
        rel = [str(f.relative_to(repo)) if f.is_absolute() else str(f) for f in files if Path(repo, f).exists()]
        # One of our commits at a time: two would race on git's index (a lost commit, files left staged).
        with locked(repo / ".git"):
            return _commit(repo, rel, message, notes)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"committed": False, "sha": None, "notes": notes + [f"git failed ({exc.__class__.__name__}): files written, nothing committed"]}


def _commit(repo: Path, rel: list[str], message: str, notes: list[str]) -> dict:
    blocked = _blocked(repo)
    if blocked:
        later = f"git -C {shlex.quote(str(repo))} add -- {' '.join(map(shlex.quote, rel))} && " \
                f"git -C {shlex.quote(str(repo))} commit -m {shlex.quote(message)}"
        return {"committed": False, "sha": None,
                "notes": notes + [f"{blocked}: files written, not committed; when it is finished, commit them with: {later}"]}
    identity = None if _has_identity(repo) else FALLBACK_IDENTITY
    add = _git(repo, "add", "--", *rel)
    if add.returncode != 0:
        _unstage(repo, rel)
        return {"committed": False, "sha": None, "notes": notes + [f"git add failed: {_first_line(add.stderr)}"]}
    if _git(repo, "diff", "--cached", "--quiet", "--", *rel).returncode == 0:
        return {"committed": False, "sha": None, "notes": notes + ["nothing to commit"]}
    done = _git(repo, "commit", "-q", "-m", message, "--", *rel, identity=identity)
    if done.returncode != 0:
        _unstage(repo, rel)
        return {"committed": False, "sha": None, "notes": notes + [f"git commit failed: {_first_line(done.stderr)}"]}
    if identity:
        notes.append(f"no git identity configured: committed as {identity[0]} <{identity[1]}> (set one with "
                     f"`git -C {shlex.quote(str(repo))} config user.email you@example.com`)")
    sha = _git(repo, "rev-parse", "--short", "HEAD").stdout.strip()
    return {"committed": True, "sha": sha, "notes": notes}
