#!/usr/bin/env python3
"""ai-budget command line: `python3 scripts/budget.py <command> [--json]`."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))  # os.path: pathlib costs a status line run 4 ms

from ai_budget.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
