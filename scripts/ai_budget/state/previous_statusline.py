"""The user's own status line, set aside by `install --statusline` so ours can chain
it and `uninstall` can put it back."""

from __future__ import annotations

import json
from pathlib import Path

from .. import paths

NAME = "ai-budget-previous-statusline.json"


def path(claude_dir: Path | None = None) -> Path:
    return (claude_dir or paths.claude_dir()) / NAME


def load(claude_dir: Path | None = None) -> dict | None:
    try:
        data = json.loads(path(claude_dir).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
