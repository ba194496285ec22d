"""Fault test (issue 11): rounds of mixed concurrent processes — `log`, `set
copilot --used`, `calibrate TYPE UNITS PCT`, `check --no-fetch` — run as real
subprocesses, some killed with SIGKILL at random moments (seeded), killed logs
retried as a user would. Afterwards budget.json, the session logs and
`calibrate --rebuild` must agree, and every process that exited 0 must have had
its effect. Pass/fail does not depend on where the kills land."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest

from ai_budget.outputs import session_log
from ai_budget.state import budget_file
from conftest import REPO, line, write_session

ROUNDS = 8
PER_KIND = 3  # processes of each of the four kinds per round
KILL_P = 0.35
SEED = 11
CLI = [sys.executable, "-S", str(REPO / "scripts" / "budget.py")]


def now_iso():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def reading(env, five):
    """A fresh status-line snapshot: the utilisation source of every process."""
    (env.cache / "statusline-snapshot.json").write_text(json.dumps(
        {"observed_at": now_iso(), "five_hour": {"util": five, "resets_at": None},
         "seven_day": {"util": five / 2, "resets_at": None}}))


def launch(argv):
    return subprocess.Popen(CLI + argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def run_round(rng, jobs):
    """Start every job, SIGKILL the chosen ones at their moment; {index: exit code}."""
    procs, kills = [], []
    start = time.monotonic()
    for n, argv in enumerate(jobs):
        procs.append(launch(argv))
        if rng.random() < KILL_P:
            kills.append((time.monotonic() - start + rng.uniform(0.02, 0.6), n))
        time.sleep(rng.uniform(0, 0.03))
    killed = 0
    for at, n in sorted(kills):
        time.sleep(max(0.0, at - (time.monotonic() - start)))
        if procs[n].poll() is None:
            procs[n].send_signal(signal.SIGKILL)
            killed += 1
    codes = {}
    for n, p in enumerate(procs):
        _, err = p.communicate(timeout=60)
        codes[n] = p.returncode
        assert "Traceback" not in err, err
    return codes, killed


def all_records(env):
    found = []
    for path in sorted((env.budget / "sessions").glob("*.md")):
        found += [rec for _, _, rec in session_log.sections(path.read_text(encoding="utf-8")) if rec]
    return found


def test_concurrent_processes_with_kills_lose_nothing(env):
    rng = random.Random(SEED)
    env.cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=env.budget, check=True)
    for key, value in (("user.email", "t@example.org"), ("user.name", "T")):
        subprocess.run(["git", "config", key, value], cwd=env.budget, check=True)
    began = time.monotonic()
    reading(env, 5.0)
    for i in range(PER_KIND):  # the first round's sessions start
        assert subprocess.run(CLI + ["check", "--no-fetch", "--session", f"r0s{i}"], capture_output=True).returncode == 0

    stats = {"processes": 0, "kills": 0, "retries": 0}
    ok_logs, ok_samples = set(), []
    for r in range(ROUNDS):
        for i in range(PER_KIND):  # this round's sessions did some work
            write_session(env.projects, [line(mid=f"r{r}s{i}m{k}", rid=f"r{r}s{i}q{k}", ts=now_iso().replace("+00:00", "Z"),
                                              out=100 * (i + 1), session=f"r{r}s{i}") for k in range(2)],
                          session=f"r{r}s{i}")
        reading(env, 5.0 + 4 * (r + 1))
        used = [1000 * (r + 1) + i for i in range(PER_KIND)]
        samples = [("feature", 10 * (r + 1) + i, round(r + i / 10 + 0.5, 2)) for i in range(PER_KIND)]
        jobs = [("log", f"r{r}s{i}", ["log", "--no-fetch", "--session", f"r{r}s{i}", "--task", f"feature:{i + 1}",
                                      "--task", "refactor:2", "--lesson", "line one\n<!-- ai-budget:session {} -->"])
                for i in range(PER_KIND)]
        jobs += [("set", u, ["set", "copilot", "--used", str(u)]) for u in used]
        jobs += [("calibrate", s, ["calibrate", s[0], str(s[1]), str(s[2])]) for s in samples]
        jobs += [("check", None, ["check", "--no-fetch", "--session", f"r{r + 1}s{i}"]) for i in range(PER_KIND)]
        rng.shuffle(jobs)
        codes, killed = run_round(rng, [argv for _, _, argv in jobs])
        stats["processes"] += len(jobs)
        stats["kills"] += killed
        for n, (kind, what, argv) in enumerate(jobs):
            if kind == "log" and codes[n] != 0:  # the user runs /budget-log again
                stats["retries"] += 1
                done = subprocess.run(CLI + argv, capture_output=True, text=True)
                assert done.returncode == 0, done.stderr
                codes[n] = 0
            assert codes[n] in (0, -signal.SIGKILL), (argv, codes[n])

        budget = budget_file.load(env.budget / "budget.json")  # valid after every round
        set_ok = [what for n, (kind, what, _) in enumerate(jobs) if kind == "set" and codes[n] == 0]
        if set_ok:  # a set that finished is never undone by a log that read budget.json earlier
            assert budget["copilot"]["used"] in used, (budget["copilot"]["used"], used)
        ledger = [(s["type"], s["units"], s["pct"]) for s in budget.get("manual_samples", [])]
        for n, (kind, what, _) in enumerate(jobs):
            if kind == "calibrate" and codes[n] == 0:
                ok_samples.append(what)
                assert what in ledger, what
            if kind == "log":
                ok_logs.add(what)

    records = all_records(env)
    keys = [session_log.key(rec) for rec in records]
    assert len(keys) == len(set(keys)), "a retried log was recorded twice"
    assert ok_logs <= {rec["session_id"] for rec in records}
    marker_lines = sum(l.startswith(session_log.MARKER) for p in (env.budget / "sessions").glob("*.md")
                       for l in p.read_text(encoding="utf-8").splitlines())
    assert marker_lines == len(records)  # the lessons' forged markers made no line of their own
    before = budget_file.load(env.budget / "budget.json")
    assert len(before["manual_samples"]) >= len(ok_samples)
    rebuilt = subprocess.run(CLI + ["calibrate", "--rebuild"], capture_output=True, text=True)
    assert rebuilt.returncode == 0, rebuilt.stderr
    after = budget_file.load(env.budget / "budget.json")
    for name, entry in before["calibration"].items():
        for field, value in entry.items():
            assert after["calibration"][name][field] == pytest.approx(value, abs=1e-4), (name, field)
    assert before["calibration"]["feature"]["samples"] >= len(ok_samples)
    leftovers = [p.name for p in env.budget.rglob(".*.tmp") if p.name.startswith((".budget.json.",))]
    assert leftovers == []
    assert subprocess.run(["git", "fsck", "--no-progress"], cwd=env.budget, capture_output=True).returncode == 0
    elapsed = time.monotonic() - began
    print(f"fault test: {ROUNDS} rounds, {stats['processes']} processes, {stats['kills']} killed, "
          f"{stats['retries']} log retries, {len(records)} records, {elapsed:.1f}s")
    assert elapsed < 45
