#!/usr/bin/env python3
"""ai-budget command line: `python3 scripts/budget.py <command> [--json]`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ai_budget.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
