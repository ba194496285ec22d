"""Calls only Claude Code's cost-state records hold (/compact, auto-compact):
a real Claude Code 2.1.328 capture (sanitised: ids, numbers and timestamps only)
of a session with /compact, resumed, forked, compacted in the fork and forked
again, against the fake API's ground truth of every response."""

import json
import shutil
from datetime import timezone
from pathlib import Path

import pytest

from ai_budget.analysis import reports
from ai_budget.sources import cost_state
from ai_budget.state import index
from ai_budget.sources import transcripts
from conftest import run, run_json

FIXTURE = Path(__file__).parent / "fixtures" / "cost_state"
TRUTH = json.loads((FIXTURE / "truth.json").read_text())["sessions"]
KEYS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
REPORT_KEYS = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")


def install(env, names):
    folder = env.projects / "-tmp-proj"
    folder.mkdir(parents=True)
    for session, name in names.items():
        shutil.copy(FIXTURE / f"{session}.jsonl", folder / f"{name}.jsonl")
    return folder


# Which file comes first decides which session keeps a copied line (as in ccusage): both orders.
@pytest.mark.parametrize("names", [{"parent": "parent", "fork": "fork", "fork-of-fork": "fork-of-fork"},
                                   {"parent": "a-parent", "fork": "b-fork", "fork-of-fork": "c-fork-of-fork"}])
def test_compaction_resume_and_fork_equal_the_ground_truth(env, capsys, names):
    folder = install(env, names)
    grand, grand_ours = dict.fromkeys(KEYS, 0), dict.fromkeys(KEYS, 0)
    lines_only = 0
    for session, name in names.items():
        code, t, _ = run_json(capsys, "tokens", str(folder / f"{name}.jsonl"))
        assert code == 0
        extra = t["not_in_transcript"]
        assert extra["source"] == "cost-state"
        if names["parent"] < names["fork"]:  # else the fork's file keeps the line it copied, as in ccusage
            assert {k: t[k] + extra[k] for k in KEYS} == {k: TRUTH[session][k] for k in KEYS}, session
        assert (extra["output_tokens"] > 0) == (TRUTH[session]["compact_responses"] > 0)
        for k in KEYS:
            grand_ours[k] += t[k] + extra[k]
        for k in KEYS:
            grand[k] += TRUTH[session][k]
        lines_only += t["total_tokens"]
    assert grand_ours == grand  # nothing counted twice, nothing lost, across parent and forks
    daily = run_json(capsys, "report", "daily", "--tz", "UTC")[1]
    totals, extra = daily["totals"], daily["totals"]["notInTranscript"]
    assert totals["totalTokens"] == lines_only  # the line figures stay what ccusage counts
    assert [totals[f] + extra[f] for f in REPORT_KEYS] == [grand[k] for k in KEYS]
    assert extra["source"] == "cost-state" and extra["totalCost"] > 0 and "notInTranscriptNote" in daily
    assert sum(d["notInTranscript"]["outputTokens"] for d in daily["daily"] if "notInTranscript" in d) == extra["outputTokens"]
    for kind in ("weekly", "monthly", "session", "projects", "models"):
        other = run_json(capsys, "report", kind, "--tz", "UTC")[1]["totals"]
        assert other["notInTranscript"]["totalTokens"] == extra["totalTokens"], kind
    text = run(capsys, "report", "daily", "--tz", "UTC")[1]
    assert "+ not in transcript lines (from cost-state)" in text and "cost-state records" in text
    assert "+ not in transcript lines (from cost-state)" in run(capsys, "tokens", str(folder / f"{names['parent']}.jsonl"))[1]


def test_the_compaction_is_placed_at_its_record(env, capsys):
    folder = install(env, {"parent": "parent"})
    run_json(capsys, "tokens", str(folder / "parent.jsonl"))
    (row,) = index.extra_rows(session="parent")
    lines = [e.ts_ms for e in transcripts.read_entries(folder / "parent.jsonl")]
    assert lines[0] < row[2] < lines[1]  # after the first response, before the next: where /compact ran
    assert row[4:6] == (12, 106)  # input, output of the fake's compact response


def test_a_copied_transcript_outside_the_projects_root(env, capsys, tmp_path):
    copy = tmp_path / "elsewhere" / "parent.jsonl"
    copy.parent.mkdir()
    shutil.copy(FIXTURE / "parent.jsonl", copy)
    t = run_json(capsys, "tokens", str(copy))[1]
    assert {k: t[k] + t["not_in_transcript"][k] for k in KEYS} == {k: TRUTH["parent"][k] for k in KEYS}


def test_bad_cost_state_lines_are_skipped(env, capsys):
    folder = install(env, {"parent": "parent"})
    with open(folder / "parent.jsonl", "a") as f:
        f.write('{"type":"cost-state","modelUsage":{"m":{"inputTokens":-1}}}\n{"type":"cost-state","modelUsage":[]}\n'
                '{"type":"cost-state", "modelUsage": {"m": {"outputTokens": 1.5}}}\n{"type":"cost-state"\n')
    code, t, _ = run_json(capsys, "tokens", str(folder / "parent.jsonl"))
    assert code == 0 and t["output_tokens"] + t["not_in_transcript"]["output_tokens"] == TRUTH["parent"]["output_tokens"]


RESUMED = FIXTURE / "resumed-parent"


# Another real capture (with a subagent): a, /compact, fork b of a, fork c of b, /compact in c, resume c,
# resume a. a's last record (after its resume) fits inside c's first one field by field, but was
# written later: it is not c's base. Both file orders: a fork's copy never takes its parent's line.
@pytest.mark.parametrize("order", ["as-run", "reversed"])
def test_a_parent_resumed_after_its_forks(env, capsys, order):
    truth = json.loads((RESUMED / "truth.json").read_text())["sessions"]
    folder = env.projects / "-tmp-proj"
    names = {s: (s if order == "as-run" else f"{9 - i}-{s}") for i, s in enumerate(truth)}
    shutil.copytree(RESUMED, folder, ignore=lambda _d, files: [f for f in files if f.endswith(".json")])
    for session, name in names.items():
        for path in sorted(folder.rglob(f"{session}*"), reverse=True):  # the subagent folder before the file
            path.rename(path.with_name(path.name.replace(session, name, 1)))
    for session, name in names.items():
        t = run_json(capsys, "tokens", "--session", name)[1]
        lines = {"responses": t["exchanges"], **{k: t[k] for k in KEYS}}
        assert lines == truth[session]["lines"], session
        assert {k: t[k] + t["not_in_transcript"][k] for k in KEYS} == \
               {k: v for k, v in truth[session]["served"].items() if k != "responses"}, session
        assert t["unattributed"]["total_tokens"] == 0
    totals = run_json(capsys, "report", "session", "--tz", "UTC")[1]["totals"]
    served = [sum(s["served"][k] for s in truth.values()) for k in KEYS]
    assert [totals[f] + totals["notInTranscript"][f] for f in REPORT_KEYS] == served and "unattributed" not in totals


def test_an_ambiguous_fork_base_is_reported_unattributed():
    """Two records written before the fork both fit inside its first one, neither inside the other:
    which one it was forked from cannot be told, so its extra is not guessed onto it."""
    def rec(ts, api, out):
        return transcripts.CostState(ts, ts, 1, api, api, {"m": (1, out, 0, 0, 0, 0)})
    records = {"p": [rec(100, 10, 50)], "s": [rec(150, 20, 40)], "f": [rec(200, 30, 90)]}
    rows = {"p": [(90, "m", (1, 50, 0, 0, 0, 0))], "s": [(140, "m", (1, 40, 0, 0, 0, 0))],
            "f": [(190, "m", (0, 10, 0, 0, 0, 0))]}
    out = {(s, attributed): v[1] for s, _ts, _m, v, attributed in cost_state.extras(records, rows)}
    assert out == {("f", False): 30}  # 90 − max(50, 40) − 10: the smaller figure, labelled apart
    row = reports.Usage(200, "m", False, "proj", "f", 0, 0, 30, 0, 0, 0.0, 0, 200, 200, cost_state="unattributed")
    data = reports.build("session", [row], timezone.utc, None, None, None)
    assert data["totals"]["unattributed"]["outputTokens"] == 30 and "notInTranscript" not in data["totals"]
    assert data["sessions"][0]["unattributed"]["source"] == "cost-state" and "unattributedNote" in data
