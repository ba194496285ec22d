"""Retention: `set retention --days N` prunes old per-response rows from the index; the
committed history stands in for them, so reports still cover those days."""

import json
import shutil
import subprocess
import sys
from datetime import timedelta

import pytest

from ai_budget.state import index
from conftest import run, run_json, write_session
from conftest import line
from test_cost_state import FIXTURE
from test_workflow import ts


def sessions(env, now):
    """Two sessions 100 and 120 days ago (the first with a <synthetic> API-error line), one an hour ago."""
    for name, when, out in (("old1", now - timedelta(days=100), 1_000), ("old2", now - timedelta(days=120), 2_000),
                            ("new", now - timedelta(hours=1), 40)):
        lines = [line(mid=f"{name}-{i}", rid=f"{name}-{i}", ts=ts(when + timedelta(minutes=i)), out=out + i, session=name)
                 for i in range(3)]
        if name == "old1":
            lines.append(line(mid="err", ts=ts(when + timedelta(minutes=5)), inp=0, out=0, model="<synthetic>", session=name))
        write_session(env.projects, lines, session=name)


def labelled_sessions() -> set:
    return {e.session for e, _ in index.entries() if e.model != "<synthetic>"}


def slots_match_entries() -> bool:
    con = index.connect()
    try:
        slots = con.execute("SELECT total(n), total(input), total(output), total(cache_read), round(total(cost), 9) "
                            "FROM slots").fetchone()
        rows = con.execute("SELECT count(*), total(input), total(output), total(cache_read), round(total(cost), 9) "
                           "FROM entries").fetchone()
        return slots == rows
    finally:
        con.close()


def rounded(value):
    """Costs to the micro-dollar: the history file keeps six decimals."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return [rounded(v) for v in value] if isinstance(value, list) else value


def report(capsys, kind="daily"):
    code, data, _ = run_json(capsys, "report", kind, "--tz", "UTC")
    assert code == 0
    return rounded(data)


def test_set_retention_prunes_what_the_history_holds(env, capsys, clock):
    now = clock["now"]
    sessions(env, now)
    daily, models, tools = report(capsys), report(capsys, "models"), report(capsys, "tools")
    assert {e.session for e, _ in index.entries()} == {"old1", "old2", "new"}
    code, data, err = run_json(capsys, "set", "retention", "--days", "90")
    assert code == 0 and data["retention"] == {"days": 90}
    assert data["pruned"] == {"sessions": 2, "rows": 6, "kept_uncovered": 0}
    assert labelled_sessions() == {"new"} and slots_match_entries()
    assert [e.model for e, _ in index.entries(session="old1")] == ["<synthetic>"]  # kept: history has no row for it
    assert (env.budget / "history" / "testbox.tsv").exists()
    log = subprocess.run(["git", "-C", str(env.budget), "log", "-2", "--format=%s"], capture_output=True, text=True)
    setting, history = log.stdout.splitlines()
    assert history.startswith("history: testbox usage through")  # committed first, as report --save does
    assert setting.startswith("settings: Retention: the index keeps per-response rows of the last 90")
    # Reports still cover the pruned days, from the history.
    assert report(capsys) == daily
    assert report(capsys, "models")["totals"] == models["totals"]
    assert report(capsys, "tools")["totals"] == tools["totals"]  # what used the tokens: the history's days too
    assert json.loads((env.budget / "budget.json").read_text())["retention"] == {"days": 90}
    _, out, _ = run(capsys, "set", "retention", "--days", "off")
    assert "keeps every response" in out
    assert json.loads((env.budget / "budget.json").read_text())["retention"] == {"days": None}


def test_the_sync_prunes_once_a_day_and_only_what_history_holds(env, capsys, clock):
    now = clock["now"]
    sessions(env, now)
    run(capsys, "set", "retention", "--days", "90")
    # A late-found old session: not in the history, so the next day's sync keeps it.
    write_session(env.projects, [line(mid="late", rid="late", ts=ts(now - timedelta(days=95)), out=777, session="late")],
                  session="late")
    clock["now"] = now + timedelta(days=1)
    before = report(capsys)
    assert "late" in {e.session for e, _ in index.entries()}
    assert before["totals"]["outputTokens"] == 1_000 * 3 + 3 + 2_000 * 3 + 3 + 40 * 3 + 3 + 777
    # The history saved (report --save), the day after's sync prunes it; the report is unchanged.
    run_json(capsys, "report", "daily", "--save")
    clock["now"] = now + timedelta(days=2)
    assert report(capsys) == before
    assert labelled_sessions() == {"new"} and slots_match_entries()


def test_retention_with_a_malformed_history_changes_nothing(env, capsys, clock):
    from ai_budget.state import budget_file

    sessions(env, clock["now"])
    (env.budget / "history").mkdir()
    (env.budget / "history" / "testbox.tsv").write_text("garbage\n")
    code, _, err = run(capsys, "set", "retention", "--days", "90")
    assert code == 2 and "testbox.tsv: line 1" in err and len(err.strip().splitlines()) == 1
    assert not (env.budget / "budget.json").exists() and len(index.entries()) == 10
    # Set by hand with the history still malformed: the sync keeps every row and says why.
    data = budget_file.default_budget()
    data["retention"] = {"days": 90}
    (env.budget / "budget.json").write_text(json.dumps(data))
    code, _, err = run(capsys, "usage")
    assert code == 0 and "retention: nothing pruned" in err and len(index.entries()) == 10


@pytest.mark.parametrize("value", ["0", "-1", "34", "abc", "1.5", "40000", ""])
def test_bad_retention_is_one_line(env, capsys, clock, value):
    code, _, err = run(capsys, "set", "retention", "--days", value)
    assert code == 2 and "--days: must be" in err and len(err.strip().splitlines()) == 1


def test_bad_retention_in_budget_json_is_named(env, capsys):
    from ai_budget.state import budget_file

    data = budget_file.default_budget()
    for bad in (0, 34, "90", True, 1.5, 40_000):
        data["retention"] = {"days": bad}
        (env.budget / "budget.json").write_text(json.dumps(data))
        code, _, err = run(capsys, "status", "--no-fetch")
        assert code == 2 and "'retention.days'" in err, bad


def install_family(env, clock):
    """The real capture of a session, its fork and the fork's fork (one family), with the
    clock set 40 days after its last line."""
    from ai_budget.timefmt import parse_iso

    folder = env.projects / "-tmp-proj"
    folder.mkdir(parents=True)
    last = None
    for name in ("parent", "fork", "fork-of-fork"):
        shutil.copy(FIXTURE / f"{name}.jsonl", folder / f"{name}.jsonl")
        for text in (folder / f"{name}.jsonl").read_text().splitlines():
            when = parse_iso(json.loads(text).get("timestamp"))
            last = when if when and (last is None or when > last) else last
    clock["now"] = (last + timedelta(days=40)).replace(microsecond=0)
    return folder


def test_a_session_family_goes_whole_and_its_extras_stay(env, capsys, clock):
    install_family(env, clock)
    before = report(capsys)
    assert before["totals"]["notInTranscript"]["outputTokens"] > 0
    code, data, _ = run_json(capsys, "set", "retention", "--days", "35")
    assert code == 0 and data["pruned"]["sessions"] == 3 and index.entries() == []
    assert slots_match_entries()
    assert report(capsys) == before  # lines from the history, what only cost-state records hold from the extras


def ts_of(e) -> str:
    from ai_budget.timefmt import ms_to_iso

    return ms_to_iso(e.ts_ms)


def append_fresh_response(path, now, mid: str) -> dict:
    """A copy of the file's first response, an hour ago, under new ids, appended to it."""
    first = next(l for l in path.read_text().splitlines() if '"usage"' in l and '"assistant"' in l)
    fresh = json.loads(first)
    fresh["message"]["id"], fresh["requestId"] = f"{mid}-id", f"{mid}-req"
    fresh["timestamp"] = ts(now - timedelta(hours=1))
    with open(path, "a") as handle:
        handle.write(json.dumps(fresh) + "\n")
    return fresh


def test_a_family_with_one_active_member_is_kept(env, capsys, clock):
    folder = install_family(env, clock)
    fresh = append_fresh_response(folder / "fork.jsonl", clock["now"], "fresh")
    before = report(capsys)
    assert ("fork", fresh["timestamp"]) in {(e.session, ts_of(e)) for e, _ in index.entries()}
    code, data, _ = run_json(capsys, "set", "retention", "--days", "35")
    assert code == 0 and data["pruned"]["sessions"] == 0
    assert report(capsys) == before


def test_a_pruned_session_resumed_later_is_read_whole_again(env, capsys, clock):
    """A pruned session's file that grows is read again from the start: its cost-state
    records are cumulative, and against only the new lines they would count the pruned
    ones as calls no line holds."""
    folder = install_family(env, clock)
    before = report(capsys)
    run_json(capsys, "set", "retention", "--days", "35")
    fresh = append_fresh_response(folder / "parent.jsonl", clock["now"], "resumed")
    after = report(capsys)
    assert len(index.entries(session="parent")) > 1  # the pruned lines are back with the new one
    added = fresh["message"]["usage"]["output_tokens"]
    assert after["totals"]["outputTokens"] == before["totals"]["outputTokens"] + added
    assert after["totals"]["notInTranscript"] == before["totals"]["notInTranscript"]
    assert slots_match_entries()


def test_set_retention_shrinks_the_index_file(env, capsys, clock):
    now = clock["now"]
    for n in range(40):  # enough old rows to fill pages
        write_session(env.projects, [line(mid=f"o{n}-{i}", rid=f"o{n}-{i}", ts=ts(now - timedelta(days=100, minutes=i)),
                                          session=f"o{n}") for i in range(100)], session=f"o{n}")
    report(capsys)
    size = index.db_path().stat().st_size
    assert run_json(capsys, "set", "retention", "--days", "35")[1]["pruned"]["rows"] == 4000
    assert index.db_path().stat().st_size < size / 2 and report(capsys)["totals"]["entries"] == 4000


def test_pruning_while_other_runs_sync_stays_exact(env, capsys, clock):
    """set retention and three report runs at once (children, the real clock: the sessions
    are placed against it): one prune, every sync under the index lock, slots exact."""
    from datetime import datetime, timezone

    from conftest import REPO

    now = datetime.now(timezone.utc).replace(microsecond=0)
    clock["now"] = now
    sessions(env, now)
    before = report(capsys)
    cmd = [sys.executable, str(REPO / "scripts" / "budget.py")]
    procs = [subprocess.Popen(cmd + ["report", "daily", "--json", "--tz", "UTC"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(3)]
    procs.append(subprocess.Popen(cmd + ["set", "retention", "--days", "90", "--json"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE))
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [o[1] for o in outs]
    assert json.loads(outs[-1][0])["pruned"]["rows"] == 6
    for out, _err in outs[:3]:
        assert rounded(json.loads(out))["totals"] == before["totals"]  # before or after the prune: the same
    assert labelled_sessions() == {"new"} and slots_match_entries() and report(capsys) == before
