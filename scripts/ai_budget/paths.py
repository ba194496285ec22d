"""Where things live. Every location can be overridden through the environment."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_API_BASE = "https://api.anthropic.com"


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


def budget_home() -> Path:
    """The budget repo: $AI_BUDGET_HOME, else the repo that holds scripts/."""
    return _env_path("AI_BUDGET_HOME") or code_root()


def code_root() -> Path:
    """The checkout that holds scripts/ and skills/ (may differ from budget_home)."""
    return Path(__file__).resolve().parents[2]


def cli_command(*args: str, fast: bool = False) -> str:
    """A shell command that runs this checkout's CLI from any directory (hints, hooks).
    fast: -S (no site-packages; stdlib only), for what Claude Code runs on every message."""
    import shlex

    script = shlex.quote(str(code_root() / "scripts" / "budget.py"))
    return " ".join(["python3", *(["-S"] if fast else []), script, *args])


def budget_file() -> Path:
    return budget_home() / "budget.json"


def claude_dir() -> Path:
    return _env_path("CLAUDE_CONFIG_DIR") or Path.home() / ".claude"


def projects_roots() -> list[Path]:
    """Transcript roots. With $CLAUDE_CONFIG_DIR set only that one, as ccusage does;
    otherwise ~/.claude/projects and the old XDG location when they exist."""
    roots = [claude_dir() / "projects"]
    if not _env_path("CLAUDE_CONFIG_DIR"):
        xdg = _env_path("XDG_CONFIG_HOME") or Path.home() / ".config"
        roots.append(xdg / "claude" / "projects")
    seen, out = set(), []
    for root in roots:
        if root.is_dir():
            real = root.resolve()
            if real not in seen:
                seen.add(real)
                out.append(root)
    return out


def api_base() -> str:
    return (os.environ.get("AI_BUDGET_API_BASE") or DEFAULT_API_BASE).rstrip("/")


def cache_dir() -> Path:
    """Disposable state (API cache, index). Never inside the committed tree."""
    explicit = _env_path("AI_BUDGET_CACHE_DIR")
    if explicit:
        return explicit
    xdg = _env_path("XDG_CACHE_HOME") or Path.home() / ".cache"
    return xdg / "ai-budget"


def machine_id() -> str:
    """Names this machine's history file: $AI_BUDGET_MACHINE, else the host name."""
    import re
    import socket

    raw = os.environ.get("AI_BUDGET_MACHINE", "").strip() or socket.gethostname().split(".")[0]
    return re.sub(r"[^a-z0-9_-]+", "-", raw.lower()).strip("-") or "machine"
