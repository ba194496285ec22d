"""The README's screenshot of the dashboard (docs/dashboard.png), from synthetic data:
python3 tests/make_screenshot.py [OUT.png] [--five PCT] [--size W,H]

Builds a throw-away budget repo and Claude folder (tests/dashboard_data.py), serves the
dashboard on a free loopback port in this process and photographs it with headless
Chromium. Nothing of the real ~/.claude or budget repo is read."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "scripts"), str(REPO / "tests")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(REPO / "docs" / "dashboard.png"))
    parser.add_argument("--five", type=float, default=76.0, help="5-hour %% to show (default 76: the warning state)")
    parser.add_argument("--size", default="1280,2150")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, sub in (("HOME", "home"), ("AI_BUDGET_HOME", "budget"), ("AI_BUDGET_CACHE_DIR", "cache"),
                          ("CLAUDE_CONFIG_DIR", "claude")):
            os.environ[name] = str(root / sub)
            (root / sub).mkdir()
        os.environ.update(AI_BUDGET_API_BASE="http://127.0.0.1:9", AI_BUDGET_MACHINE="demo")
        os.environ.pop("ANTHROPIC_ADMIN_API_KEY", None)
        import dashboard_data
        from ai_budget.commands import serve

        now = datetime.now(timezone.utc)
        dashboard_data.populate(root / "budget", root / "claude" / "projects", now, args.five)
        server = serve.make_server(0, lambda: datetime.now(timezone.utc))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            dashboard_data.screenshot(server.url, root / "profile", Path(args.out).resolve(), args.size)
        finally:
            server.shutdown()
            server.server_close()
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
