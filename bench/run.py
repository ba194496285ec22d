"""Benchmark: cold and warm runs on a synthetic Claude Code history, against
ccusage when it is installed. Prints figures; asserts nothing.

    python3 bench/run.py --mb 500 [--ccusage PATH] [--runs 3]

Times are wall clock including interpreter start; memory is the peak resident
size of the largest process (index workers included). The page cache is warmed
first, as ccusage's own measurements do. Ratios mean more than absolute times
on a shared machine: both tools run in the same session, interleaved.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUDGET = [sys.executable, str(HERE.parent / "scripts" / "budget.py")]
# Runs one command and reports its wall time and the peak RSS of it or any child.
MEASURE = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
           "subprocess.run(sys.argv[1:], stdin=sys.stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
           "w = time.perf_counter() - t; r = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss; "
           "print(w, r // 1024 if sys.platform != 'darwin' else r // 1048576)")


def measure(cmd: list[str], env: dict, stdin: bytes | None = None) -> tuple[float, int]:
    out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], input=stdin, env=env, capture_output=True, check=True)
    wall, rss = out.stdout.split()
    return float(wall), int(rss)


def median_of(runs: int, cmd, env, before=None, stdin=None) -> dict:
    walls, peak = [], 0
    for _ in range(runs):
        if before:
            before()
        wall, rss = measure(cmd, env, stdin)
        walls.append(wall)
        peak = max(peak, rss)
    return {"median_s": round(statistics.median(walls), 3), "runs_s": [round(w, 3) for w in walls], "peak_mb": peak}


def statusline_payload(session: Path) -> bytes:
    return json.dumps({
        "hook_event_name": "Status", "session_id": session.stem, "transcript_path": str(session),
        "cwd": "/home/dev/src", "model": {"id": "claude-opus-4-5", "display_name": "Opus"},
        "workspace": {"current_dir": "/home/dev/src", "project_dir": "/home/dev/src"}, "version": "2.1.240",
        "cost": {"total_cost_usd": 1.23}, "rate_limits": {"five_hour": {"used_percentage": 42, "resets_at": 1893456000},
                                                        "seven_day": {"used_percentage": 18, "resets_at": 1893900000}},
    }).encode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=500)
    ap.add_argument("--corpus", type=Path, help="default: bench/out/corpus-<mb>mb (generated when missing)")
    ap.add_argument("--ccusage", default=os.environ.get("CCUSAGE") or shutil.which("ccusage"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--statusline-runs", type=int, default=50)
    args = ap.parse_args()

    corpus = args.corpus or HERE / "out" / f"corpus-{args.mb:g}mb"
    if not (corpus / "projects").is_dir():
        sys.path.insert(0, str(HERE))
        from corpus import generate
        print(f"generating {corpus} …", file=sys.stderr)
        print(json.dumps(generate(corpus, args.mb)), file=sys.stderr)
    for path in corpus.rglob("*.jsonl"):  # warm the page cache
        path.read_bytes()
    session = max((p for p in (corpus / "projects").glob("*/*.jsonl")), key=lambda p: p.stat().st_size)

    work = Path(tempfile.mkdtemp(prefix="ai-budget-bench-"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(CLAUDE_CONFIG_DIR=str(corpus), AI_BUDGET_HOME=str(work / "budget"), AI_BUDGET_CACHE_DIR=str(work / "cache"),
               AI_BUDGET_API_BASE="http://127.0.0.1:9", TZ="UTC", NO_COLOR="1", HOME=str(work))
    subprocess.run(BUDGET + ["init", str(work / "budget")], env=env, capture_output=True, check=True)
    subprocess.run(BUDGET + ["--help"], env=env, capture_output=True)  # compile the .pyc files once

    def cold():
        shutil.rmtree(work / "cache", ignore_errors=True)

    results = {}
    if args.ccusage:
        results["ccusage claude daily --offline"] = median_of(
            args.runs, [args.ccusage, "claude", "daily", "--json", "--offline", "-z", "UTC"], env)
    results["cold: report daily (index build)"] = median_of(args.runs, BUDGET + ["report", "daily", "--json", "--tz", "UTC"], env, cold)
    results["warm: report daily"] = median_of(args.runs * 3, BUDGET + ["report", "daily", "--json", "--tz", "UTC"], env)
    results["warm: check --no-fetch"] = median_of(args.runs * 3, BUDGET + ["check", "--no-fetch", "--json"], env)
    results["warm: tokens --session"] = median_of(args.runs * 3, BUDGET + ["tokens", "--session", session.stem, "--json"], env)
    # As install --statusline writes it: python3 -S (stdlib only, no site-packages scan).
    results[f"statusline (median of {args.statusline_runs})"] = median_of(
        args.statusline_runs, [BUDGET[0], "-S", *BUDGET[1:], "statusline"], env, stdin=statusline_payload(session))
    size = sum(p.stat().st_size for p in corpus.rglob("*.jsonl"))
    print(f"corpus: {size / 1e6:.0f} MB, {sum(1 for _ in corpus.rglob('*.jsonl'))} files; python {sys.version.split()[0]}; "
          f"{os.cpu_count()} cores")
    for name, r in results.items():
        print(f"{name:38s} {r['median_s']:7.3f} s  (runs {', '.join(map(str, r['runs_s'][:5]))}{'…' if len(r['runs_s']) > 5 else ''})"
              f"  peak {r['peak_mb']} MB")
    base = results.get("ccusage claude daily --offline")
    if base:
        print(f"ratios vs ccusage: cold {results['cold: report daily (index build)']['median_s'] / base['median_s']:.2f}×, "
              f"warm report daily {base['median_s'] / results['warm: report daily']['median_s']:.1f}× faster")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
