#!/usr/bin/env python3
"""The plan's entry point: `budget fetch` (prints the 5h and 7d lines)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ai_budget.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(["fetch", *sys.argv[1:]]))
