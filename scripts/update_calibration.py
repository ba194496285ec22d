#!/usr/bin/env python3
"""The plan's entry point: update_calibration.py <task_type> <units> <five_hour_pct_delta> [output_tokens]."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ai_budget.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(["calibrate", *sys.argv[1:]]))
