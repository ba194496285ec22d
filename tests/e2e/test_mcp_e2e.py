"""`budget mcp` under the real Claude Code 2.1.328, offline: registered as a user
MCP server, health-checked by `claude mcp list`, and called by the (fake) model
in `claude -p`, its answer reaching the next model request."""

from __future__ import annotations

import json
import subprocess

import pytest

from harness import User, requirements, serve_and_run

TOOL = "mcp__ai-budget__check_budget"


@pytest.fixture
def user(tmp_path):
    return User(tmp_path, requirements())


def claude_cmd(user: User, *args: str, url: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(user.binary), *args], cwd=user.project, env=user.env(url), capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def check_budget_answer(bodies) -> dict:
    """The first tool result the model was sent, as JSON: Claude Code gives it the structuredContent itself."""
    answers = [b for body in bodies for m in body.get("messages", [])
               if m.get("role") == "user" and isinstance(m.get("content"), list)
               for b in m["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]
    assert answers and not any(r.get("is_error") for r in answers), answers
    content = answers[0]["content"]
    data = json.loads(content if isinstance(content, str) else "".join(c.get("text", "") for c in content))
    assert data["claude"]["five_hour"]["used_pct"] == 12.0 and data["claude"]["source"].startswith("api")
    return data


@pytest.mark.parametrize("register", ["claude mcp add", "budget install --mcp"])
def test_check_budget_over_mcp_reaches_the_model(user, monkeypatch, register):
    monkeypatch.setenv("ENABLE_TOOL_SEARCH", "false")  # schemas upfront: the model can call the tool at once
    if register == "claude mcp add":
        added = claude_cmd(user, "mcp", "add", "-s", "user", "ai-budget", "--",
                           "python3", "-S", str(user.budget / "scripts" / "budget.py"), "mcp")
    else:
        added = user.budget_cli("install", "--mcp")
    assert added.returncode == 0, added.stderr
    assert "ai-budget" in json.loads((user.config / ".claude.json").read_text())["mcpServers"]
    scenarios = {"MCPCHECK": [[{"type": "tool_use", "name": TOOL, "input": {}}], [{"type": "text", "text": "done"}]]}

    def script(fake):
        listed = claude_cmd(user, "mcp", "list", url=fake.url)
        return listed, user.claude("MCPCHECK how is my budget?", fake.url, "--allowedTools", TOOL)

    (listed, result), truth = serve_and_run(script, scenarios=scenarios)
    assert "ai-budget:" in listed.stdout and "✔ Connected" in listed.stdout, listed.stdout + listed.stderr
    assert result["_returncode"] == 0 and result["permission_denials"] == [], result
    bodies = [r["body"] for r in truth["requests"] if r["path"].startswith("/v1/messages") and r["body"]]
    assert any(t["name"] == TOOL for b in bodies for t in b.get("tools", [])), "the tool was not offered"
    assert check_budget_answer(bodies)["recommendation"]["start"]["text"]


def test_the_plugin_installs_from_its_marketplace_and_loads(user):
    """The repo as a local marketplace: its server's tool, its skills and its SessionStart hook all load."""
    tool = "mcp__plugin_ai-budget_ai-budget__check_budget"
    for args in (("plugin", "validate", str(user.budget)), ("plugin", "marketplace", "add", str(user.budget)),
                 ("plugin", "install", "ai-budget@ai-budget")):
        proc = claude_cmd(user, *args)
        assert proc.returncode == 0 and "✔" in proc.stdout, proc.stdout + proc.stderr
    scenarios = {"PLUGINCHECK": [[{"type": "tool_use", "name": tool, "input": {}}], [{"type": "text", "text": "done"}]]}

    def script(fake):
        listed = claude_cmd(user, "mcp", "list", url=fake.url)
        return listed, user.claude("PLUGINCHECK", fake.url, "--allowedTools", tool)

    (listed, result), truth = serve_and_run(script, scenarios=scenarios)
    assert "plugin:ai-budget:ai-budget" in listed.stdout and "✔ Connected" in listed.stdout, listed.stdout
    assert result["_returncode"] == 0 and result["permission_denials"] == [], result
    bodies = [r["body"] for r in truth["requests"] if r["path"].startswith("/v1/messages") and r["body"]
              and r["body"].get("tools")]
    everything = json.dumps(bodies, ensure_ascii=False)
    assert all(f"ai-budget:{name}" in everything for name in ("budget-check", "budget-log", "budget-tools"))  # the skills
    assert "**Claude:** 5h 12.0%" in everything  # the SessionStart hook's brief
    check_budget_answer(bodies)
