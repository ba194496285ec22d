"""Attribution: which tools, subagent types and skills used the tokens. Names only."""

import json
import shutil

import pytest

from ai_budget.analysis import pricing
from ai_budget.sources import transcripts
from ai_budget.sources.dedup import Deduper
from ai_budget.state import index
from conftest import CORPUS, line, run, run_json, write_session


def sync():
    return index.sync(pricing.load())


def tool_use(name, call_id="toolu_1", **args):
    return {"type": "tool_use", "id": call_id, "name": name, "input": {"secret": "never stored", **args}}


def said(blocks, **kw):
    """An assistant line whose content is exactly `blocks` (one per line, as 2.1.x writes them)."""
    obj = json.loads(line(**kw))
    obj["message"]["content"] = blocks
    return json.dumps(obj, separators=(",", ":"))


def result(call_id, agent_id=None, agent_type=None, usage=True):
    """The user line with a Task/Agent call's result (with the subagent's usage, as 2.1.x writes it)."""
    outcome = {"status": "completed", "prompt": "secret prompt", "content": [{"type": "text", "text": "secret"}]}
    if agent_id:
        outcome["agentId"] = agent_id
    if agent_type:
        outcome["agentType"] = agent_type
    if usage:
        outcome["usage"] = {"input_tokens": 9, "output_tokens": 9}
    return json.dumps({"type": "user", "sessionId": "s1", "version": "2.1.39", "timestamp": "2026-01-01T10:00:05.000Z",
                       "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id,
                                                                "content": "secret"}]},
                       "toolUseResult": outcome}, separators=(",", ":"))


def rows():
    """{message id: (tools, skill, agent type, subagent)} from the index."""
    by_ts = {e.ts_ms: e.message_id for e, _ in index.entries()}
    return {by_ts[r[0]]: tuple(r[11:15]) for r in index.attributed()}


def ts(second):
    return f"2026-01-01T10:00:{second:02d}.000Z"


# ---------------------------------------------------------------- extraction


def test_lines_of_one_response_union_their_tools(env):
    write_session(env.projects, [
        said([{"type": "text", "text": "x"}], mid="m1", rid="r1", ts=ts(1), out=1),
        said([tool_use("Read")], mid="m1", rid="r1", ts=ts(1), out=2),
        said([tool_use("Bash", "toolu_2")], mid="m1", rid="r1", ts=ts(1), out=30),
        said([tool_use("Read", "toolu_3")], mid="m1", rid="r1", ts=ts(1), out=30),
        said([{"type": "text", "text": "done"}], mid="m2", rid="r2", ts=ts(2)),
    ])
    sync()
    assert rows() == {"m1": ("Bash,Read", None, None, 0), "m2": (None, None, None, 0)}


def test_tools_arriving_in_a_later_sync_join_the_stored_row(env):
    path = write_session(env.projects, [said([tool_use("Read")], mid="m1", rid="r1", out=2)])
    sync()
    with open(path, "a") as f:
        f.write(said([tool_use("Edit", "toolu_2")], mid="m1", rid="r1", out=1) + "\n")  # smaller: not kept, still merged
    sync()
    assert rows()["m1"][0] == "Edit,Read"
    assert [e.output for e, _ in index.entries()] == [2]


def test_skill_from_the_line_or_from_the_skill_call(env):
    write_session(env.projects, [
        said([tool_use("Skill", skill="budget-check")], mid="m1", rid="r1", ts=ts(1)),
        said([{"type": "text", "text": "x"}], mid="m2", rid="r2", ts=ts(2), extra={"attributionSkill": "budget-check"}),
        said([{"type": "text", "text": "x"}], mid="m3", rid="r3", ts=ts(3)),
    ])
    sync()
    got = rows()
    assert got["m1"][:2] == ("Skill", "budget-check") and got["m2"][1] == "budget-check" and got["m3"][1] is None


def test_subagent_type_from_attribution_agent_and_meta_json(env):
    """Claude Code 2.1.3xx: attributionAgent on the subagent's lines; a sidecar meta.json too."""
    write_session(env.projects, [said([tool_use("Agent", "toolu_9", subagent_type="Explore")], mid="m1", rid="r1", ts=ts(1))],
                  subagents={"agent-aaa": [said([tool_use("Glob")], mid="m2", rid="r2", side=True, ts=ts(2),
                                                extra={"agentId": "aaa", "attributionAgent": "Explore"})],
                             "agent-bbb": [said([], mid="m3", rid="r3", side=True, ts=ts(3), extra={"agentId": "bbb"})]})
    (env.projects / "-home-me-proj" / "s1" / "subagents" / "agent-bbb.meta.json").write_text(
        json.dumps({"agentType": "my-reviewer", "description": "secret", "toolUseId": "toolu_8"}))
    sync()
    got = rows()
    assert got["m1"] == ("Agent", None, None, 0)
    assert got["m2"] == ("Glob", None, "Explore", 1) and got["m3"] == (None, None, "my-reviewer", 1)


def test_subagent_type_through_the_task_call_in_older_versions(env):
    """2.1.3x: the subagent file names only its agent id; the parent's Task call names the type
    and its result (or an agent_progress copy) ties the two, possibly in a later sync."""
    path = write_session(env.projects, [said([tool_use("Task", "toolu_7", subagent_type="Plan")], mid="m1", rid="r1",
                                             ts=ts(1))],
                         subagents={"agent-a1": [said([tool_use("Read")], mid="m2", rid="r2", side=True, ts=ts(2),
                                                      extra={"agentId": "a1"})]})
    sync()
    assert rows()["m2"] == ("Read", None, None, 1)  # not tied yet: an unknown subagent
    with open(path, "a") as f:
        f.write(result("toolu_7", agent_id="a1") + "\n")
    sync()
    assert rows()["m2"] == ("Read", None, "Plan", 1)


def test_agent_progress_copy_finds_its_type_through_its_parent_call(env):
    copy = json.loads(said([tool_use("WebFetch")], mid="m2", rid="r2", ts=ts(2)))
    progress = {"type": "progress", "sessionId": "s1", "version": "2.1.39", "timestamp": ts(2), "parentToolUseID": "toolu_7",
                "data": {"type": "agent_progress", "agentId": "a1", "prompt": "secret",
                         "message": {"type": "assistant", "timestamp": ts(2), "message": copy["message"], "requestId": "r2"}}}
    write_session(env.projects, [said([tool_use("Task", "toolu_7", subagent_type="claude-code-guide")], mid="m1", rid="r1",
                                      ts=ts(1)), json.dumps(progress, separators=(",", ":"))])
    sync()
    assert rows()["m2"] == ("WebFetch", None, "claude-code-guide", 1)


def test_inline_sidechain_of_2_0_takes_the_pending_task_type(env):
    old = {"version": "2.0.13"}
    write_session(env.projects, [
        said([tool_use("Task", "toolu_1", subagent_type="general-purpose")], mid="m1", rid="r1", ts=ts(1), extra=old),
        said([], mid="m2", rid="r2", ts=ts(2), side=True, extra=old),
        result("toolu_1"),
        said([], mid="m3", rid="r3", ts=ts(6), side=True, extra=old),  # after the result: no Task runs
    ])
    sync()
    got = rows()
    assert got["m2"][2] == "general-purpose" and got["m3"] == (None, None, None, 1)


def test_compaction_agent(env):
    write_session(env.projects, [], subagents={"agent-acompact-abc123": [
        said([], mid="m1", rid="r1", side=True, extra={"agentId": "acompact-abc123"})]})
    sync()
    assert rows()["m1"][2:] == ("(compaction)", 1)


@pytest.mark.parametrize("name, stored", [
    ("x" * 10_000, "x" * transcripts.NAME_MAX),
    ("Bash\u202eevil\n\x00", "Bash?evil??"),
    ("mcp__srv__lookup", "mcp__srv__lookup"),
    ("plugin:skill@1.0", "plugin:skill@1.0"),
    ("Ünïcode_工具", "Ünïcode_工具"),
    ("a,b", "a?b"),  # the separator of a row's names
    (42, "(invalid)"), (None, "(invalid)"), ({"k": 1}, "(invalid)"), ("", "(invalid)"),
])
def test_hostile_tool_names_are_bounded_and_sanitised(env, name, stored):
    write_session(env.projects, [said([{"type": "tool_use", "id": "t", "name": name, "input": {}}], mid="m1", rid="r1",
                                      extra={"attributionSkill": name})])
    sync()
    assert rows()["m1"][:2] == (stored, None if name is None else stored)  # attributionSkill null: no skill


def test_many_tools_in_one_response_are_capped(env):
    write_session(env.projects, [said([tool_use(f"T{i:05d}", f"id{i}") for i in range(5000)], mid="m1", rid="r1")])
    sync()
    assert len(rows()["m1"][0].split(",")) == transcripts.NAMES_MAX


def test_no_input_ever_reaches_the_index(env):
    write_session(env.projects, [said([tool_use("Bash", command="rm -rf secret-path")], mid="m1", rid="r1"),
                                 result("toolu_1", agent_id="a1", agent_type="Plan")],
                  subagents={"agent-a1": [said([], mid="m2", rid="r2", side=True, extra={"agentId": "a1"})]})
    sync()
    dump = "\n".join(index.connect().iterdump())
    assert "secret" not in dump and "never stored" not in dump and "rm -rf" not in dump


@pytest.mark.parametrize("step", [1, -1])
def test_dedup_merge_keeps_names_whichever_line_wins(step):
    lines = [said([tool_use("Read")], mid="m1", rid="r1", out=1),
             said([tool_use("Bash")], mid="m1", rid="r1", out=9, extra={"attributionSkill": "sk"})]
    kept = Deduper().extend(transcripts.parse_line(l.encode()) for l in lines[::step]).kept
    assert [(e.output, e.tools, e.skill) for e in kept] == [(9, "Bash,Read", "sk")]


def test_an_index_of_the_previous_version_is_rebuilt(env):
    """A version-5 index (no name columns) as the previous release left it: the next run rebuilds
    it quietly, not as a damaged file set aside."""
    import sqlite3
    from ai_budget import notices
    write_session(env.projects, [said([tool_use("Read")], mid="m1", rid="r1")])
    sync()
    con = sqlite3.connect(index.db_path())
    for column in ("tools", "skill", "agent", "agent_ref"):
        con.execute(f"ALTER TABLE entries DROP COLUMN {column}")
    con.executescript("DROP TABLE agent_links; UPDATE meta SET value = '5' WHERE key = 'version'; PRAGMA user_version = 5;")
    con.close()
    notices.drain()
    sync()
    assert rows() == {"m1": ("Read", None, None, 0)} and notices.drain() == []


def _corpus_copy(env):
    shutil.copytree(CORPUS / "claude" / "projects", env.projects, dirs_exist_ok=True)
    return sorted(env.projects.rglob("*.jsonl"))


def test_corpus_read_in_pieces_attributes_as_a_cold_build(env, tmp_path, monkeypatch):
    files = _corpus_copy(env)
    sync()
    cold = sorted(index.attributed())
    kinds = {r[13] for r in cold}
    assert {"claude-code-guide", "Plan", "general-purpose", "(compaction)"} <= kinds
    monkeypatch.setenv("AI_BUDGET_CACHE_DIR", str(tmp_path / "cache2"))
    whole = {f: f.read_bytes() for f in files}
    for f in files:
        f.write_bytes(b"")
    for third in (1, 2, 3):  # every file grows by a third of its lines between syncs
        for f, data in whole.items():
            lines = data.splitlines(keepends=True)
            # 2.0.x inline side chains are tied to a Task call read in the same pass (README): that file at once
            f.write_bytes(b"".join(lines[:len(lines) * (3 if b'"version":"2.0.' in data else third) // 3]))
        sync()
    assert sorted(index.attributed()) == cold


# ---------------------------------------------------------------- report tools|agents|skills

FIELDS = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens", "totalTokens")


def _sums(rows):
    return {f: sum(r[f] for r in rows) for f in FIELDS}


@pytest.mark.skipif(not CORPUS.is_dir(), reason="tests/fixtures/corpus-public not present")
@pytest.mark.parametrize("tz", ["UTC", "Pacific/Kiritimati", "America/Adak"])
def test_corpus_breakdowns_total_exactly_the_daily_report(env, monkeypatch, capsys, tz):
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(CORPUS / "claude"))
    daily = run_json(capsys, "report", "daily", "--tz", tz)[1]
    theirs = json.loads((CORPUS / "expected" / "ccusage-20.0.24_claude_daily.json").read_text())["totals"]
    assert daily["totals"]["totalTokens"] == theirs["totalTokens"] == 4106478
    for kind, field in (("tools", "tool"), ("agents", "agent"), ("skills", "skill")):
        data = run_json(capsys, "report", kind, "--tz", tz)[1]
        rows = data[kind]
        assert _sums(rows) == _sums([data["totals"]]) == _sums([daily["totals"]]), kind
        assert sum(r["totalCost"] for r in rows) == pytest.approx(daily["totals"]["totalCost"], abs=1e-6)
        assert data["totals"]["totalCost"] == pytest.approx(daily["totals"]["totalCost"], abs=1e-8)
        assert data["totals"]["entries"] == daily["totals"]["entries"]
        assert len({r[field] for r in rows}) == len(rows) and "API-equivalent" in data["costNote"] and data["rule"]
    agents = {r["agent"]: r["entries"] for r in run_json(capsys, "report", "agents", "--tz", tz)[1]["agents"]}
    assert agents == {"(main)": 78, "Plan": 5, "claude-code-guide": 3, "general-purpose": 1, "(compaction)": 1}
    tools = {r["tool"]: r for r in run_json(capsys, "report", "tools", "--tz", tz)[1]["tools"]}
    assert tools["Bash"]["entries"] == 29 and tools["(none)"]["entries"] == 9 and "Task" in tools


def test_split_gives_the_remainder_to_the_first_name(env, capsys):
    write_session(env.projects, [said([tool_use("Read"), tool_use("Bash", "t2"), tool_use("Grep", "t3")],
                                      mid="m1", rid="r1", inp=10, out=2, cache_read=100)])
    data = run_json(capsys, "report", "tools", "--tz", "UTC")[1]
    got = {r["tool"]: (r["inputTokens"], r["outputTokens"], r["cacheReadTokens"], r["entries"]) for r in data["tools"]}
    assert got == {"Bash": (4, 2, 34, 1), "Grep": (3, 0, 33, 1), "Read": (3, 0, 33, 1)}
    assert sum(r["totalCost"] for r in data["tools"]) == pytest.approx(data["totals"]["totalCost"])
    assert data["totals"]["entries"] == 1


def test_report_options_and_text(env, capsys):
    write_session(env.projects, [said([tool_use("Read")], mid="m1", rid="r1", ts="2026-01-01T23:30:00.000Z",
                                      extra={"attributionSkill": "budget-log"})], project="-a")
    write_session(env.projects, [said([tool_use("Bash")], mid="m2", rid="r2", ts="2026-01-03T10:00:00.000Z")],
                  project="-b", session="s2")
    tools = lambda *a: {r["tool"] for r in run_json(capsys, "report", "tools", *a)[1]["tools"]}  # noqa: E731
    assert tools("--tz", "UTC") == {"Read", "Bash"}
    assert tools("--tz", "UTC", "--until", "2026-01-01") == {"Read"}
    assert tools("--tz", "Asia/Kolkata", "--until", "2026-01-01") == set()  # 23:30 UTC is the 2nd there
    assert tools("--tz", "UTC", "--since", "20260102") == {"Bash"}
    assert tools("--tz", "UTC", "--project=-b") == {"Bash"}
    skills = run_json(capsys, "report", "skills", "--tz", "UTC")[1]["skills"]
    assert {r["skill"]: r["entries"] for r in skills} == {"budget-log": 1, "(none)": 1}
    code, out, err = run(capsys, "report", "skills", "--tz", "UTC", "--breakdown")
    assert code == 0 and "budget-log" in out and "claude-sonnet-4-5" in out and "API-equivalent" in out
    code, _, err = run(capsys, "report", "tools", "--since", "2026-13-01")
    assert code == 2 and "--since" in err


def test_history_days_show_as_unattributed(env, capsys):
    from ai_budget.state import history_file
    (env.budget / "history").mkdir()
    history_file.write(env.budget / "history" / "desktop.tsv", {("2026-01-02", "claude-opus-4-5"): (1, 1, 100, 0, 0, 0.5, 0)})
    write_session(env.projects, [said([tool_use("Read")], mid="m1", rid="r1")])
    daily = run_json(capsys, "report", "daily", "--tz", "UTC")[1]["totals"]
    for kind, field in (("tools", "tool"), ("agents", "agent"), ("skills", "skill")):
        data = run_json(capsys, "report", kind, "--tz", "UTC")[1]
        rows = {r[field]: r for r in data[kind]}
        assert rows["(unattributed)"]["outputTokens"] == 100 and "history" in data["rule"]
        assert _sums(data[kind]) == _sums([daily])


@pytest.mark.parametrize("meta", ["fifo", "huge", "garbage", "list", "dir"])
def test_hostile_meta_json_never_hangs_or_fails(env, meta):
    import os
    write_session(env.projects, [], subagents={"agent-a1": [said([], mid="m1", rid="r1", side=True, extra={"agentId": "a1"})]})
    path = env.projects / "-home-me-proj" / "s1" / "subagents" / "agent-a1.meta.json"
    if meta == "fifo":
        os.mkfifo(path)
    elif meta == "dir":
        path.mkdir()
    else:
        path.write_text({"huge": json.dumps({"agentType": "x" * 200_000}), "garbage": "{not json",
                         "list": json.dumps([{"agentType": "Plan"}])}[meta])
    sync()
    assert rows()["m1"] == (None, None, None, 1)


@pytest.mark.parametrize("kind, stored", [(42, "(invalid)"), ("y" * 5000, "y" * transcripts.NAME_MAX),
                                          ("a\u0301\u200bb", "a??b"), (None, None)])
def test_hostile_subagent_types_are_bounded(env, kind, stored):
    write_session(env.projects, [said([tool_use("Task", "toolu_7", subagent_type=kind)], mid="m1", rid="r1", ts=ts(1)),
                                 result("toolu_7", agent_id="a1")],
                  subagents={"agent-a1": [said([], mid="m2", rid="r2", side=True, ts=ts(2), extra={"agentId": "a1"})]})
    sync()
    assert rows()["m2"] == (None, None, stored, 1)
