"""Every change to the budget is a git commit with a descriptive message, and
only the budget's own files are ever committed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

FALLBACK_IDENTITY = ("ai-budget", "ai-budget@localhost")


def _git(repo: Path, *args, identity=None) -> subprocess.CompletedProcess:
    cmd = ["git"]
    if identity:
        cmd += ["-c", f"user.name={identity[0]}", "-c", f"user.email={identity[1]}"]
    return subprocess.run(cmd + list(args), cwd=repo, capture_output=True, text=True, timeout=60)


def commit(repo: Path, files: list[Path], message: str) -> dict:
    """{'committed': bool, 'sha': str|None, 'notes': [..]}; never raises for git trouble."""
    notes: list[str] = []
    if shutil.which("git") is None:
        return {"committed": False, "sha": None, "notes": ["git not found: files written, nothing committed"]}
    try:
        if _git(repo, "rev-parse", "--git-dir").returncode != 0:
            _git(repo, "init", "-q")
            notes.append(f"initialised a git repository in {repo}")
        identity = None
        if not _git(repo, "config", "user.email").stdout.strip():
            identity = FALLBACK_IDENTITY
            notes.append(f"no git identity configured: committed as {identity[0]} <{identity[1]}> "
                         "(set one with `git config user.email`)")
        rel = [str(f.relative_to(repo)) if f.is_absolute() else str(f) for f in files if Path(repo, f).exists()]
        add = _git(repo, "add", "--", *rel)
        if add.returncode != 0:
            return {"committed": False, "sha": None, "notes": notes + [f"git add failed: {add.stderr.strip()[:200]}"]}
        if _git(repo, "diff", "--cached", "--quiet", "--", *rel).returncode == 0:
            return {"committed": False, "sha": None, "notes": notes + ["nothing to commit"]}
        done = _git(repo, "commit", "-q", "-m", message, "--", *rel, identity=identity)
        if done.returncode != 0:
            return {"committed": False, "sha": None, "notes": notes + [f"git commit failed: {done.stderr.strip()[:200]}"]}
        sha = _git(repo, "rev-parse", "--short", "HEAD").stdout.strip()
        return {"committed": True, "sha": sha, "notes": notes}
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"committed": False, "sha": None, "notes": notes + [f"git failed ({exc.__class__.__name__}): files written, nothing committed"]}
