"""Where things live. Every location can be overridden through the environment.

The `*_str` functions are the implementation, on plain strings: the status line
and the hooks run them without loading pathlib; the Path ones wrap them."""

from __future__ import annotations

import os


def Path(*parts):  # noqa: N802 - pathlib.Path, loaded when first asked for
    from pathlib import Path

    return Path(*parts)

DEFAULT_API_BASE = "https://api.anthropic.com"


def _env_path(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return os.path.expanduser(value) if value else None


def budget_home() -> Path:
    """The budget repo: $AI_BUDGET_HOME, else the repo that holds scripts/."""
    return Path(budget_home_str())


def budget_home_str() -> str:
    return _env_path("AI_BUDGET_HOME") or str(code_root())


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
    return Path(budget_file_str())


def budget_file_str() -> str:
    return os.path.join(budget_home_str(), "budget.json")


def claude_dir() -> Path:
    return Path(claude_dir_str())


def claude_dir_str() -> str:
    return _env_path("CLAUDE_CONFIG_DIR") or os.path.join(os.path.expanduser("~"), ".claude")


def projects_roots() -> list[Path]:
    return [Path(root) for root in projects_roots_str()]


def projects_roots_str() -> list[str]:
    """Transcript roots. With $CLAUDE_CONFIG_DIR set only that one, as ccusage does;
    otherwise ~/.claude/projects and the old XDG location when they exist."""
    roots = [os.path.join(claude_dir_str(), "projects")]
    if not _env_path("CLAUDE_CONFIG_DIR"):
        xdg = _env_path("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
        roots.append(os.path.join(xdg, "claude", "projects"))
    seen, out = set(), []
    for root in roots:
        if os.path.isdir(root):
            real = os.path.realpath(root)
            if real not in seen:
                seen.add(real)
                out.append(root)
    return out


def api_base() -> str:
    return (os.environ.get("AI_BUDGET_API_BASE") or DEFAULT_API_BASE).rstrip("/")


def cache_dir() -> Path:
    return Path(cache_dir_str())


def cache_dir_str() -> str:
    """Disposable state (API cache, index). Never inside the committed tree."""
    explicit = _env_path("AI_BUDGET_CACHE_DIR")
    if explicit:
        return explicit
    xdg = _env_path("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(xdg, "ai-budget")


def machine_id() -> str:
    """Names this machine's history file: $AI_BUDGET_MACHINE, else the host name."""
    import re
    import socket

    raw = os.environ.get("AI_BUDGET_MACHINE", "").strip() or socket.gethostname().split(".")[0]
    return re.sub(r"[^a-z0-9_-]+", "-", raw.lower()).strip("-") or "machine"
