"""Calls only Claude Code's cost-state records hold (/compact, auto-compact):
a real Claude Code 2.1.328 capture (sanitised: ids, numbers and timestamps only)
of a session with /compact, resumed, forked, compacted in the fork and forked
again, against the fake API's ground truth of every response."""

import json
import shutil
from pathlib import Path

import pytest

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
