"""The daily workflow in the real Claude Code 2.1.328, default permission mode, offline.

What the fake server logs is the judge: what reached the model, which tool calls
Claude Code refused, and every response's usage (the ground truth for tokens)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from harness import User, requirements, serve_and_run

# The command the /budget-log skill prescribes, as Claude Code renders it into the request.
PRESCRIBED_LOG = re.compile(r'python3 "[^"`]*/scripts/budget\.py" log --session "[^"`]+" --task "TYPE:UNITS:DESCRIPTION"')
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def texts(body) -> str:
    """Every text the request carried (system prompt, messages, tool results), for searching."""
    return json.dumps(body or {}, ensure_ascii=False).encode().decode("unicode_escape", "ignore")


def user_texts(body) -> list[str]:
    out = []
    for m in (body or {}).get("messages", []):
        content = m.get("content")
        blocks = [content] if isinstance(content, str) else [b.get("text", "") for b in content or []
                                                              if isinstance(b, dict) and b.get("type") == "text"]
        out += [b for b in blocks if m.get("role") == "user"]
    return out


def model_requests(truth, session=None):
    return [r["body"] for r in truth["requests"] if r["path"].startswith("/v1/messages") and r["body"]
            and r["body"].get("tools") and (session is None or r["headers"].get("x-claude-code-session-id") == session)]


def ground_truth(truth, session=None, upto=None) -> dict:
    """Summed usage of the responses Claude Code writes to transcripts (main agent and subagents)."""
    rows = [r for r in truth["responses"] if r["kind"] in ("main", "agent")
            and (session is None or r["session_id"] == session) and (upto is None or r["n"] <= upto)]
    return {"responses": len(rows), **{k: sum(r["usage"][k] for r in rows) for k in TOKEN_FIELDS}}


def log_call(task: str, extra: str = ""):
    """A fake model turn: a Bash tool use of exactly the command the skill prescribes."""
    def step(body):
        found = PRESCRIBED_LOG.search("\n".join(user_texts(body)))
        if not found:  # an answer, not an error: a failing server only makes Claude Code retry
            return [{"type": "text", "text": "MISSING: the skill's command is not in the request"}]
        command = found.group(0).replace("TYPE:UNITS:DESCRIPTION", task) + extra
        return [{"type": "tool_use", "name": "Bash", "input": {"command": command, "description": "Log the session"}}]
    return step


@pytest.fixture
def user(tmp_path):
    return User(tmp_path, requirements())


def installed(user: User, *flags: str) -> None:
    proc = user.budget_cli("install", *flags)
    assert proc.returncode == 0, proc.stderr


def test_budget_check_brief_reaches_the_model(user):
    installed(user)
    result, truth = serve_and_run(lambda fake: user.claude("/budget-check", fake.url))
    assert result["_returncode"] == 0 and result["permission_denials"] == []
    assert "permission check failed" not in result["result"] and "requires approval" not in result["result"]
    rendered = [t for body in model_requests(truth) for t in user_texts(body) if "Show the brief above" in t]
    assert rendered, "the skill's text never reached the model"
    brief = rendered[0]
    assert "**Claude:** 5h 12.0%" in brief and "**Recommendation:**" in brief and "- Start with" in brief
    assert "Flashcard content — SMA209/SMA212" in brief  # the whole backlog: the skill's brief is not cut
    assert "Traceback" not in brief


def test_session_start_brief_is_in_the_request(user):
    installed(user, "--hooks")
    result, truth = serve_and_run(lambda fake: user.claude("hello", fake.url))
    assert result["_returncode"] == 0
    bodies = model_requests(truth, result["session_id"])
    assert bodies and all("**Claude:** 5h 12.0%" in texts(b) and "**Recommendation:**" in texts(b) for b in bodies)
    assert "SessionStart" in user.debug_log(result["session_id"]) and "Traceback" not in texts(bodies[0])


def test_budget_log_runs_as_shipped_and_counts_the_session(user):
    """Skills only: the skill's own allowed-tools must approve its command, in the invoking turn."""
    installed(user)
    settings = user.config / "settings.json"
    settings.write_text(json.dumps({}))  # nothing allowed but what the skill itself allows
    scenarios = {"The user said: flashcard 3": [log_call("flashcard:3:e2e cards")]}

    def script(fake):
        return user.claude("/budget-log flashcard 3 e2e cards", fake.url)

    result, truth = serve_and_run(script, scenarios=scenarios)
    assert result["_returncode"] == 0 and result["permission_denials"] == [], result["permission_denials"]
    sid = result["session_id"]
    tool_use = next(r for r in truth["responses"] if r["scenario"] and r["stop_reason"] == "tool_use")
    tool_result = next(t for body in model_requests(truth, sid) for t in [texts(body)] if "Session logged to" in t)
    assert "sessions/" in tool_result and "commit " in tool_result

    logs = sorted((user.budget / "sessions").glob("*.md"))
    assert len(logs) == 1 and "flashcard 3 units — e2e cards" in logs[0].read_text()
    record = json.loads(re.search(r"<!-- ai-budget:session (\{.*\}) -->", logs[0].read_text()).group(1))
    expected = ground_truth(truth, sid, upto=tool_use["n"])
    assert {"responses": record["tokens"]["exchanges"], **{k: record["tokens"][k] for k in TOKEN_FIELDS}} == expected
    assert "session:" in subprocess.run(["git", "log", "-1", "--format=%s"], cwd=user.budget,
                                        capture_output=True, text=True).stdout
    # The /budget-log turn's responses carry attributionSkill (2.1.328): `report skills` names the skill.
    skills = {r["skill"]: r["entries"] for r in json.loads(user.budget_cli("report", "skills", "--json").stdout)["skills"]}
    assert skills.get("budget-log", 0) >= 1


def test_budget_log_after_asking_and_nothing_broader(user):
    """/budget-log with no arguments asks first; the command then runs in a later turn (install
    keeps the skill's rules), and a command chained onto it is still refused."""
    installed(user, "--hooks", "--statusline")
    outside = user.root / "pwned"
    scenarios = {"The user said: \n": [[{"type": "text", "text": "What did you complete this session?"}]],
                 "ANSWER": [log_call("flashcard:2:asked")],
                 "CHAINED": [log_call("flashcard:1:chained", f" && touch {outside}")]}

    def script(fake):
        asked = user.claude("/budget-log", fake.url)
        answered = user.claude("ANSWER flashcard 2", fake.url, "--resume", asked["session_id"])
        chained = user.claude("/budget-log CHAINED", fake.url)
        return asked, answered, chained

    (asked, answered, chained), _ = serve_and_run(script, scenarios=scenarios)
    assert asked["result"] == "What did you complete this session?"
    assert answered["permission_denials"] == [] and answered["session_id"] == asked["session_id"]
    assert "flashcard 2 units — asked" in "".join(p.read_text() for p in (user.budget / "sessions").glob("*.md"))
    assert [d["tool_name"] for d in chained["permission_denials"]] == ["Bash"] and not outside.exists()


def test_tokens_and_reports_equal_the_ground_truth(user):
    """Tool use, a foreground subagent, a resume and a fork: every response counted once."""
    installed(user, "--hooks")
    scenarios = {
        "WORK": [[{"type": "text", "text": "Listing."}, {"type": "tool_use", "name": "Bash", "input": {"command": "ls", "description": "list"}}],
                 [{"type": "tool_use", "name": "Agent", "input": {"description": "helper", "prompt": "SUBTASK list files",
                                                                   "subagent_type": "general-purpose", "run_in_background": False}}],
                 [{"type": "text", "text": "All done."}]],
        "SUBTASK": [[{"type": "tool_use", "name": "Bash", "input": {"command": "pwd", "description": "where"}}],
                    [{"type": "text", "text": "sub done"}]],
        "MORE": [[{"type": "tool_use", "name": "Bash", "input": {"command": "echo more", "description": "e"}}], [{"type": "text", "text": "ok"}]],
        "FORKED": [[{"type": "text", "text": "forked ok"}]],
    }

    def script(fake):
        first = user.claude("WORK on it", fake.url)
        user.claude("MORE again", fake.url, "--resume", first["session_id"])
        fork = user.claude("FORKED branch", fake.url, "--resume", first["session_id"], "--fork-session")
        return first["session_id"], fork["session_id"]

    (parent, fork), truth = serve_and_run(script, scenarios=scenarios)
    assert any(r["kind"] == "agent" for r in truth["responses"]) and parent != fork
    assert any(p.parent.name == "subagents" for p in user.transcripts())
    for sid in (parent, fork):
        got = json.loads(user.budget_cli("tokens", "--session", sid, "--json").stdout)
        assert {"responses": got["exchanges"], **{k: got[k] for k in TOKEN_FIELDS}} == ground_truth(truth, sid), sid
    whole = ground_truth(truth)
    daily = json.loads(user.budget_cli("report", "daily", "--json").stdout)["totals"]
    sessions = json.loads(user.budget_cli("report", "session", "--json").stdout)["totals"]
    for totals in (daily, sessions):
        assert (totals["inputTokens"], totals["outputTokens"], totals["cacheCreationTokens"], totals["cacheReadTokens"]) == \
               (whole["input_tokens"], whole["output_tokens"], whole["cache_creation_input_tokens"], whole["cache_read_input_tokens"])
    # What used the tokens, from what 2.1.328 writes (attributionAgent, the Agent call): the breakdowns total daily.
    keys = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")
    named = {}
    for kind, field in (("tools", "tool"), ("agents", "agent"), ("skills", "skill")):
        rows = json.loads(user.budget_cli("report", kind, "--json").stdout)[kind]
        assert [sum(r[k] for r in rows) for k in keys] == [daily[k] for k in keys], kind
        named[kind] = {r[field]: r["entries"] for r in rows}
    subagent = sum(1 for r in truth["responses"] if r["kind"] == "agent")
    assert named["agents"]["general-purpose"] == subagent and "(unknown subagent)" not in named["agents"]
    assert {"Bash", "Agent"} <= set(named["tools"]) and set(named["skills"]) == {"(none)"}


def test_compaction_is_counted_apart_across_resume_and_fork(user):
    """/compact is written only into cost-state records: `tokens` shows it as its own figure, and
    lines plus that figure equal every response the fake served, per session, fork included."""
    installed(user)

    def script(fake):
        first = user.claude("hello there", fake.url)
        user.claude("/compact", fake.url, "--resume", first["session_id"])
        fork = user.claude("after the fork", fake.url, "--resume", first["session_id"], "--fork-session")
        user.claude("/compact", fake.url, "--resume", fork["session_id"])
        return first["session_id"], fork["session_id"]

    (parent, fork), truth = serve_and_run(script)
    assert sum(r["kind"] == "compact" for r in truth["responses"]) == 2
    for sid in (parent, fork):
        got = json.loads(user.budget_cli("tokens", "--session", sid, "--json").stdout)
        served = [r for r in truth["responses"] if r["session_id"] == sid]
        lines = ground_truth(truth, sid)
        assert {"responses": got["exchanges"], **{k: got[k] for k in TOKEN_FIELDS}} == lines, sid
        extra = got["not_in_transcript"]
        assert extra["source"] == "cost-state"
        for k in TOKEN_FIELDS:
            assert got[k] + extra[k] == sum(r["usage"][k] for r in served), (sid, k)


def test_terminal_check_then_a_new_session_then_log(user):
    """No hooks: the only start is a `check` run in a terminal before Claude was started."""
    installed(user)
    scenarios = {"The user said: feature 1": [log_call("feature:1:terminal flow")]}

    def script(fake):
        check = user.budget_cli("check", url=fake.url)
        return check, user.claude("/budget-log feature 1 terminal flow", fake.url)

    (check, result), _ = serve_and_run(script, scenarios=scenarios)
    assert check.returncode == 0, check.stderr
    assert result["permission_denials"] == []
    text = "".join(p.read_text() for p in (user.budget / "sessions").glob("*.md"))
    assert "feature 1 unit — terminal flow" in text and "5h window 12.0%→12.0%" in text
    assert "no session-start snapshot" not in text


def test_parent_resumed_after_forks_of_forks(user):
    """A parent with a subagent and /compact, a fork of it, a fork of that fork which compacts and is
    resumed, then the parent resumed: the parent's later record must not become the inner fork's
    base. Per session, lines equal the ground truth and lines plus the figures apart equal all served."""
    installed(user)
    scenarios = {
        "WORK": [[{"type": "tool_use", "name": "Agent", "input": {"description": "helper", "prompt": "SUBTASK list files",
                                                                   "subagent_type": "general-purpose", "run_in_background": False}}],
                 [{"type": "text", "text": "All done."}]],
        "SUBTASK": [[{"type": "tool_use", "name": "Bash", "input": {"command": "pwd", "description": "where"}}],
                    [{"type": "text", "text": "sub done"}]],
    }

    def script(fake):
        a = user.claude("WORK on it", fake.url)["session_id"]
        user.claude("/compact", fake.url, "--resume", a)
        b = user.claude("fork one", fake.url, "--resume", a, "--fork-session")["session_id"]
        c = user.claude("fork two", fake.url, "--resume", b, "--fork-session")["session_id"]
        user.claude("/compact", fake.url, "--resume", c)
        user.claude("again in c", fake.url, "--resume", c)
        user.claude("back in a", fake.url, "--resume", a)
        return a, b, c

    sessions, truth = serve_and_run(script, scenarios=scenarios)
    assert len(set(sessions)) == 3 and any(r["kind"] == "agent" for r in truth["responses"])
    assert sum(r["kind"] == "compact" for r in truth["responses"]) == 2
    figures = {}
    for sid in sessions:
        got = json.loads(user.budget_cli("tokens", "--session", sid, "--json").stdout)
        served = {k: sum(r["usage"][k] for r in truth["responses"] if r["session_id"] == sid) for k in TOKEN_FIELDS}
        extra = got["not_in_transcript"]
        # (output tokens) lines: truth, ours; all served: truth, ours
        figures[sid] = (ground_truth(truth, sid)["output_tokens"], got["output_tokens"],
                        served["output_tokens"], got["output_tokens"] + extra["output_tokens"])
        assert {"responses": got["exchanges"], **{k: got[k] for k in TOKEN_FIELDS}} == ground_truth(truth, sid), figures
        assert {k: got[k] + extra[k] for k in TOKEN_FIELDS} == served, figures
        assert got["unattributed"]["total_tokens"] == 0  # one chain: nothing ambiguous
    whole = {k: sum(r["usage"][k] for r in truth["responses"]) for k in TOKEN_FIELDS}
    totals = json.loads(user.budget_cli("report", "session", "--json").stdout)["totals"]
    extra = totals["notInTranscript"]
    report_keys = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")
    assert [totals[f] + extra[f] for f in report_keys] == [whole[k] for k in TOKEN_FIELDS], figures
    assert "unattributed" not in totals
