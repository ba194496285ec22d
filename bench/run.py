"""Benchmark: the status line, the hooks, check, reports and a cold index build on a
synthetic Claude Code history, each against the interpreter's floor or ccusage,
measured interleaved in one run. Prints figures and ratios; asserts nothing.

    python3 bench/run.py --mb 500 [--data DIR] [--runs 5] [--fast-runs 40] [--skip-cold] [--json FILE]

The corpus is generated once per size into --data (default $AI_BUDGET_BENCH_DATA,
else ~/.cache/ai-budget-bench) and reused. Times are wall clock including
interpreter start (our commands run as install writes them: `python3 -S`); memory
is the peak resident size of the process or any of its children (index workers).
The page cache is warmed first, as ccusage's own measurements do. Absolute times
drift on a shared machine; the ratios (same run, interleaved rounds, medians)
are what the targets are about.
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
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPT = str(HERE.parent / "scripts" / "budget.py")
FLOOR = [sys.executable, "-S", "-c", "import json, sqlite3"]


def ours(*args: str) -> list[str]:
    return [sys.executable, "-S", SCRIPT, *args]


def run_once(cmd: list[str], env: dict, stdin: str | None) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in MB of it and its children, exit code)."""
    with open(stdin or os.devnull, "rb") as feed:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=feed, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss = usage.ru_maxrss // (1048576 if sys.platform == "darwin" else 1024)
    return wall, rss, proc.returncode


class Case:
    def __init__(self, name: str, cmd: list[str], stdin: str | None = None, before=None, after=None, repeat: int = 1):
        self.name, self.cmd, self.stdin, self.before, self.after = name, cmd, stdin, before, after
        self.repeat = repeat  # runs per round (the floor's median steadier in a group of slow commands)
        self.walls: list[float] = []
        self.peak = 0
        self.codes: set[int] = set()

    @property
    def median(self) -> float:
        return statistics.median(self.walls)


def interleaved(cases: list[Case], rounds: int, env: dict) -> None:
    """Each round runs every case once, in order: load drifts hit all of them alike."""
    for _ in range(rounds):
        for case in cases:
            for _ in range(case.repeat):
                if case.before:
                    case.before()
                wall, rss, code = run_once(case.cmd, env, case.stdin)
                case.walls.append(wall)
                case.peak = max(case.peak, rss)
                case.codes.add(code)
                if case.after:
                    case.after()


def statusline_payload(session: Path) -> dict:
    return {
        "hook_event_name": "Status", "session_id": session.stem, "transcript_path": str(session),
        "cwd": "/home/dev/src", "model": {"id": "claude-opus-4-5", "display_name": "Opus"},
        "workspace": {"current_dir": "/home/dev/src", "project_dir": "/home/dev/src"}, "version": "2.1.240",
        "cost": {"total_cost_usd": 1.23}, "rate_limits": {"five_hour": {"used_percentage": 42, "resets_at": 1893456000},
                                                        "seven_day": {"used_percentage": 18, "resets_at": 1893900000}},
    }


def corpus_for(data: Path, mb: float) -> Path:
    corpus = data / f"corpus-{mb:g}mb"
    if not (corpus / "projects").is_dir():
        sys.path.insert(0, str(HERE))
        from corpus import generate

        print(f"generating {corpus} (once; reused by later runs) …", file=sys.stderr)
        tmp = corpus.with_name(corpus.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        print(json.dumps(generate(tmp, mb)), file=sys.stderr)
        tmp.rename(corpus)
    return corpus


def live_line(session_id: str, n: int) -> bytes:
    """One assistant response as Claude Code appends it (a new id each time)."""
    return (json.dumps({
        "parentUuid": None, "isSidechain": False, "userType": "external", "cwd": "/home/dev/src/live", "sessionId": session_id,
        "version": "2.1.42", "type": "assistant", "uuid": f"00000000-0000-4000-8000-{n:012d}", "requestId": f"req_live{n}",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "message": {"model": "claude-opus-4-5-20251101", "id": f"msg_live{n}", "type": "message", "role": "assistant",
                    "content": [{"type": "text", "text": "ok"}],
                    "usage": {"input_tokens": 3, "output_tokens": 120, "cache_creation_input_tokens": 500,
                              "cache_read_input_tokens": 40000}}}, separators=(",", ":")) + "\n").encode()


def fmt_row(name: str, case: Case, ratio: str = "", target: str = "") -> str:
    runs = len(case.walls)
    bad = "" if case.codes <= {0} else f"  exit {sorted(case.codes)}"
    return (f"{name:44s} {case.median * 1000:9.1f} ms  (min {min(case.walls) * 1000:7.1f}, n={runs:3d})  "
            f"peak {case.peak:4d} MB  {ratio:>18s}  {target}{bad}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=500, help="corpus size (generated once per size)")
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("AI_BUDGET_BENCH_DATA")
                                                      or Path.home() / ".cache" / "ai-budget-bench"),
                    help="where corpora are kept (outside the repo)")
    ap.add_argument("--corpus", type=Path, help="an existing tree with projects/ (overrides --mb/--data)")
    ap.add_argument("--ccusage", default=os.environ.get("CCUSAGE") or shutil.which("ccusage"))
    ap.add_argument("--runs", type=int, default=5, help="rounds for reports, check and ccusage")
    ap.add_argument("--cold-runs", type=int, default=3, help="rounds for the cold build (and ccusage beside it)")
    ap.add_argument("--fast-runs", type=int, default=40, help="rounds for the status line and the hooks")
    ap.add_argument("--skip-cold", action="store_true", help="no cold builds (the index is built once, untimed)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    corpus = args.corpus or corpus_for(args.data, args.mb)
    files = sorted(corpus.rglob("*.jsonl"))
    size = 0
    for path in files:  # warm the page cache
        size += len(path.read_bytes())
    session = max((p for p in (corpus / "projects").glob("*/*.jsonl")), key=lambda p: p.stat().st_size)

    work = Path(tempfile.mkdtemp(prefix="ai-budget-bench-"))
    live_dir = corpus / "projects" / "-home-dev-src-zz-bench-live"  # removed at the end: the corpus stays as generated
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
    env.update(CLAUDE_CONFIG_DIR=str(corpus), AI_BUDGET_HOME=str(work / "budget"), AI_BUDGET_CACHE_DIR=str(work / "cache"),
               AI_BUDGET_API_BASE="http://127.0.0.1:9", TZ="UTC", NO_COLOR="1", HOME=str(work))
    try:
        subprocess.run(ours("init", str(work / "budget")), env=env, capture_output=True, check=True)
        # Limits set (none reached), so the status line and UserPromptSubmit run their spend query too.
        subprocess.run(ours("set", "limits", "--daily", "100000", "--weekly", "500000", "--monthly", "1000000"), env=env,
                       capture_output=True, check=True)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(HERE.parent / "scripts")], env=env, capture_output=True)
        payload = work / "statusline.json"
        payload.write_text(json.dumps(statusline_payload(session)))
        hook_in = work / "hook.json"
        hook_in.write_text(json.dumps({"session_id": session.stem, "transcript_path": str(session), "cwd": "/home/dev/src",
                                       "hook_event_name": "UserPromptSubmit", "tool_name": "Task"}))
        report = ours("report", "daily", "--json", "--tz", "UTC")
        ccusage = [args.ccusage, "claude", "daily", "--json", "--offline", "-z", "UTC"] if args.ccusage else None

        def cold():
            shutil.rmtree(work / "cache", ignore_errors=True)

        results: dict[str, Case] = {}
        if not args.skip_cold:
            cases = [Case("cold: report daily (index build)", report, before=cold)]
            if ccusage:
                cases.insert(0, Case("ccusage claude daily --offline (cold group)", ccusage))
            interleaved(cases, args.cold_runs, env)
            results.update((c.name, c) for c in cases)
            # The first SessionStart on a machine: the build goes to the background, the hook answers.
            # `report daily` after it waits for that build (untimed), so no build overlaps a later case.
            starts = [Case("cold: hook session-start", ours("hook", "session-start"), str(hook_in), before=cold,
                           after=lambda: subprocess.run(report, env=env, capture_output=True))]
            interleaved(starts, args.cold_runs, env)
            results.update((c.name, c) for c in starts)
        cold()
        subprocess.run(report, env=env, capture_output=True)  # the warm index every later case reads
        subprocess.run(ours("statusline"), env=env, stdin=payload.open("rb"), capture_output=True)

        warm = [Case("floor (warm group)", FLOOR, repeat=3), Case("warm: check --no-fetch", ours("check", "--no-fetch", "--json")),
                Case("warm: report daily", report),
                Case("warm: tokens --session", ours("tokens", "--session", session.stem, "--json"))]
        if ccusage:
            warm.append(Case("ccusage claude daily --offline", ccusage))
        interleaved(warm, args.runs, env)
        results.update((c.name, c) for c in warm)

        live_dir.mkdir(exist_ok=True)
        live = live_dir / "11111111-2222-4333-8444-555555555555.jsonl"
        live.write_bytes(b"")
        live_payload = work / "statusline-live.json"
        live_payload.write_text(json.dumps(statusline_payload(live)))
        appended = [0]

        def grow():
            appended[0] += 1
            with live.open("ab") as out:
                out.write(live_line(live.stem, appended[0]))

        grow()
        subprocess.run(ours("statusline"), env=env, stdin=live_payload.open("rb"), capture_output=True)  # indexed once
        fast = [Case("floor", FLOOR), Case("statusline", ours("statusline"), str(payload)),
                Case("hook user-prompt-submit", ours("hook", "user-prompt-submit"), str(hook_in)),
                Case("hook pre-tool-use", ours("hook", "pre-tool-use"), str(hook_in)),
                Case("statusline, transcript grown by a response", ours("statusline"), str(live_payload), before=grow)]
        interleaved(fast, args.fast_runs, env)
        results.update((c.name, c) for c in fast)
    finally:
        shutil.rmtree(live_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)

    print(f"corpus: {corpus} · {size / 1e6:.0f} MB, {len(files)} files; python {sys.version.split()[0]} "
          f"({sys.executable}); {os.cpu_count()} cores; medians of interleaved rounds")
    floor, warm_floor = results["floor"], results["floor (warm group)"]
    cc = results.get("ccusage claude daily --offline")
    out = {"corpus_mb": round(size / 1e6), "files": len(files), "python": sys.version.split()[0], "figures": {}}

    def show(name, ratio="", target="", value=None):
        case = results[name]
        print(fmt_row(name, case, ratio, target))
        out["figures"][name] = {"median_s": round(case.median, 4), "runs_s": [round(w, 4) for w in case.walls],
                                "peak_mb": case.peak, "ratio": value}

    show("floor", "", "python3 -S -c 'import json, sqlite3'")
    for name in ("statusline", "hook user-prompt-submit", "hook pre-tool-use", "statusline, transcript grown by a response"):
        r = results[name].median / floor.median
        show(name, f"{r:.2f}× floor", "target ≤ 1.5× floor" + (" ✓" if r <= 1.5 else " ✗"), round(r, 3))
    show("floor (warm group)")
    r = results["warm: check --no-fetch"].median / warm_floor.median
    show("warm: check --no-fetch", f"{r:.2f}× floor", "target ≤ 4× floor" + (" ✓" if r <= 4 else " ✗"), round(r, 3))
    if cc:
        show("ccusage claude daily --offline")
        r = cc.median / results["warm: report daily"].median
        show("warm: report daily", f"{r:.1f}× faster", "target ≥ 10× faster than ccusage" + (" ✓" if r >= 10 else " ✗"),
             round(r, 3))
    else:
        show("warm: report daily")
    show("warm: tokens --session", f"{results['warm: tokens --session'].median / warm_floor.median:.2f}× floor")
    if not args.skip_cold:
        cold_case = results["cold: report daily (index build)"]
        ccc = results.get("ccusage claude daily --offline (cold group)")
        if ccc:
            show("ccusage claude daily --offline (cold group)")
            r = cold_case.median / ccc.median
            show("cold: report daily (index build)", f"{r:.2f}× ccusage",
                 "target ≤ 1.2× ccusage" + (" ✓" if r <= 1.2 else " ✗") + f", ≤ 100 MB{' ✓' if cold_case.peak <= 100 else ' ✗'}",
                 round(r, 3))
        else:
            show("cold: report daily (index build)", "", f"≤ 100 MB{' ✓' if cold_case.peak <= 100 else ' ✗'}")
        show("cold: hook session-start", "", "within the hook's timeout; builds in the background")
    peak = max(c.peak for n, c in results.items() if not n.startswith("ccusage"))
    print(f"peak memory of our commands: {peak} MB (target ≤ 100 MB{' ✓' if peak <= 100 else ' ✗'})")
    out["peak_mb"] = peak
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
