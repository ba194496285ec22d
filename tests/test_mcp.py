"""`budget mcp` driven over stdio with raw JSON-RPC lines, as Claude Code 2.1.328
and the MCP Python SDK send them (shared reference: mcp-and-plugins.md)."""

import json
import os
import select
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from ai_budget.timefmt import iso, now_utc
from conftest import REPO, line, run_cli, write_credentials, write_session

BACKLOG = "# Backlog\n\n## Now\n\n[H] Flashcards SMA101 (flashcard x10)\n[L] Fix typo in footer\n"
PROBE = {"jsonrpc": "2.0", "id": "server-discover-probe-1", "method": "server/discover",
         "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}}


class Server:
    def __init__(self, env_extra=None):
        self.proc = subprocess.Popen([sys.executable, "-S", str(REPO / "scripts" / "budget.py"), "mcp"],
                                     env={**os.environ, **(env_extra or {})}, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.next_id = 0

    def send(self, message) -> None:
        raw = message if isinstance(message, bytes) else json.dumps(message).encode()
        self.proc.stdin.write(raw + b"\n")
        self.proc.stdin.flush()

    def recv(self, timeout=30) -> dict:
        ready = select.select([self.proc.stdout], [], [], timeout)[0]
        assert ready, "no reply"
        raw = self.proc.stdout.readline()
        assert raw.endswith(b"\n") and raw.count(b"\n") == 1 and b": " not in raw[:20]  # one compact line
        return json.loads(raw)

    def silent(self, wait=0.3) -> bool:
        return not select.select([self.proc.stdout], [], [], wait)[0]

    def request(self, method, params=None) -> dict:
        mid, self.next_id = self.next_id, self.next_id + 1
        self.send({"jsonrpc": "2.0", "id": mid, "method": method, **({"params": params} if params is not None else {})})
        reply = self.recv()
        assert reply["id"] == mid and reply["jsonrpc"] == "2.0"
        return reply

    def open(self, version="2025-11-25") -> dict:
        reply = self.request("initialize", {"protocolVersion": version, "capabilities": {},
                                            "clientInfo": {"name": "test", "version": "0"}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return reply["result"]

    def call(self, name, arguments=None) -> dict:
        return self.request("tools/call", {"name": name, "arguments": arguments or {}})["result"]

    def close(self) -> tuple[int, bytes]:
        self.proc.stdin.close()
        code = self.proc.wait(timeout=5)
        rest, err = self.proc.stdout.read(), self.proc.stderr.read()
        assert rest == b""
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code, err


@pytest.fixture
def server(env):
    s = Server()
    yield s
    if s.proc.poll() is None:
        s.proc.kill()
        s.proc.wait()
    for stream in (s.proc.stdin, s.proc.stdout, s.proc.stderr):
        if not stream.closed:
            stream.close()


@pytest.fixture
def state(env, api):
    """A backlog, a transcript from today and a usage API reading of 30% / 20%."""
    (env.budget / "tasks").mkdir()
    (env.budget / "tasks" / "backlog.md").write_text(BACKLOG)
    write_credentials(env.claude)
    now = now_utc()
    stamp = (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write_session(env.projects, [line(mid="m1", rid="r1", ts=stamp, out=2000)])
    reset = now + timedelta(hours=2)
    api.answer(200, {"five_hour": {"utilization": 30.0, "resets_at": iso(reset)},
                     "seven_day": {"utilization": 20.0, "resets_at": iso(reset + timedelta(days=2))}})
    return env


def test_claude_code_opening_probe_then_initialize(server):
    server.send(PROBE)
    reply = server.recv()
    assert reply == {"jsonrpc": "2.0", "id": "server-discover-probe-1",
                     "error": {"code": -32601, "message": "Method not found: server/discover"}}
    result = server.open()
    assert result["protocolVersion"] == "2025-11-25" and result["serverInfo"]["name"] == "ai-budget"
    assert result["capabilities"] == {"tools": {}, "resources": {}} and "check_budget" in result["instructions"]
    assert server.silent()  # notifications/initialized is never answered
    server.send({"method": "tools/list", "jsonrpc": "2.0", "id": 1})  # no params, as Claude Code sends it
    tools = {t["name"]: t for t in server.recv()["result"]["tools"]}
    assert set(tools) == {"check_budget", "estimate_task_cost", "get_usage_history", "get_offload_recommendations",
                          "log_usage", "configure_budget"}
    for t in tools.values():
        assert t["inputSchema"]["type"] == "object" and "Call it" in t["description"] and len(t["description"]) < 2048
    assert {n for n, t in tools.items() if t["annotations"]["readOnlyHint"]} == \
        {"check_budget", "estimate_task_cost", "get_usage_history", "get_offload_recommendations"}
    assert server.close() == (0, b"")


@pytest.mark.parametrize("asked, answered", [("2025-11-25", "2025-11-25"), ("2025-06-18", "2025-06-18"),
                                             ("2025-03-26", "2025-03-26"), ("2024-11-05", "2024-11-05"),
                                             ("2026-07-28", "2025-11-25"), (None, "2025-11-25")])
def test_initialize_straight_away_negotiates(server, asked, answered):
    assert server.open(asked)["protocolVersion"] == answered
    assert server.request("ping")["result"] == {}
    assert server.close()[0] == 0


def test_protocol_faults_are_answered_and_the_server_keeps_going(server):
    server.open()
    server.send(b"this is not json")
    assert server.recv() == {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}}
    server.send([{"jsonrpc": "2.0", "id": 5, "method": "ping"}])
    assert server.recv()["error"]["code"] == -32600
    server.send({"jsonrpc": "1.0", "id": 6, "method": "ping"})
    assert server.recv() == {"jsonrpc": "2.0", "id": 6, "error": {"code": -32600, "message": "Invalid Request"}}
    server.send({"jsonrpc": "2.0", "id": 7, "result": {}})  # a client's response: we sent no request
    server.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}})
    server.send(b"")
    assert server.silent()
    assert server.request("prompts/list")["error"]["code"] == -32601
    assert server.request("tools/call", {"name": "nope"})["error"] == {"code": -32602, "message": "Unknown tool: nope"}
    assert server.request("tools/list", [1])["error"]["code"] == -32602
    assert server.request("resources/read", {})["error"]["code"] == -32602
    assert server.request("resources/read", {"uri": "budget://missing"})["error"] == \
        {"code": -32002, "message": "Resource not found", "data": {"uri": "budget://missing"}}
    assert server.request("ping")["result"] == {}
    assert server.close() == (0, b"")


@pytest.mark.parametrize("name, arguments, says", [
    ("estimate_task_cost", {"units": "x"}, 'arguments.units: expected an integer, got "x"'),
    ("estimate_task_cost", {"complexity": "huge"}, "arguments.complexity: must be one of trivial, simple"),
    ("estimate_task_cost", {"task_type": "parser", "units": 2}, "task type 'parser' is unknown"),
    ("get_usage_history", {"days": 0}, "arguments.days: must be at least 1"),
    ("check_budget", {"color": True}, "arguments: unknown field 'color'"),
    ("log_usage", {"tasks": [{"units": 2}]}, "arguments.tasks[0]: missing 'type'"),
    ("configure_budget", {}, "give at least one of: alerts, copilot, gemini, api, limits"),
    ("configure_budget", {"alerts": {"warn_at": "abc"}}, "budget set: --warn-at: must be a number, got 'abc'"),
])
def test_bad_arguments_are_tool_errors_in_one_line(env, server, name, arguments, says):
    server.open()
    result = server.call(name, arguments)
    assert result["isError"] is True and "structuredContent" not in result
    text = result["content"][0]["text"]
    assert says in text and "\n" not in text


def tree(root):
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()}


def test_reads_change_no_file(state, server):
    # A first index sync and a usage API reading older than 3 minutes are the caches reads may write.
    run_cli("report", "daily", "--json")
    run_cli("fetch", "--json")
    before = tree(state.root)
    server.open()
    for name, arguments in (("check_budget", {}), ("check_budget", {"fetch": False}), ("estimate_task_cost", {"complexity": "simple"}),
                            ("get_usage_history", {"days": 3}), ("get_offload_recommendations", {"planned_task_pct": 90})):
        assert "isError" not in server.call(name, arguments), name
    for uri in ("budget://status", "usage://today", "pricing://models"):
        assert json.loads(server.request("resources/read", {"uri": uri})["result"]["contents"][0]["text"])
    assert server.close()[0] == 0
    assert tree(state.root) == before


def test_every_read_tool_and_resource(state, server):
    server.open()
    budget = server.call("check_budget")
    data = budget["structuredContent"]
    assert data["claude"]["five_hour"]["used_pct"] == 30.0 and data["claude"]["source"] == "api"
    assert budget["content"][0]["text"].startswith("Claude 5h 30%, 7d 20% (api); start: Flashcards SMA101")
    assert len(json.dumps(data)) < 4000  # compact: it is what the model reads

    est = server.call("estimate_task_cost", {"complexity": "simple", "files": 20})["structuredContent"]
    # the simple tier's 1,000–2,500 output tokens × 3.00 for 20 files, at 250 tokens per 1 % (no calibration yet)
    assert est["estimate_pct"] == 21.0 and est["range_pct"] == [12.0, 30.0]
    assert est["basis"] == "simple tier: 1,000–2,500 output tokens × 3.00 for 20 files"
    assert est["headroom_pct"] == 70.0 and est["fits_before_reset"] is True and est["api_equivalent_usd"] > 0
    assert run_cli("calibrate", "--add-type", "parser", "--unit", "per file")[0].returncode == 0
    assert run_cli("calibrate", "parser", "2", "50")[0].returncode == 0
    calibrated = server.call("estimate_task_cost", {"task_type": "parser", "units": 4})["structuredContent"]
    assert calibrated["estimate_pct"] == 100.0 and calibrated["fits_before_reset"] is False
    assert calibrated["basis"] == "calibrated: 25.00 %/file, 1 sample"

    history = server.call("get_usage_history", {"days": 2})["structuredContent"]
    assert len(history["days"]) == 1 and history["days"][0]["output_tokens"] == 2000
    assert list(history["days"][0]["by_model"]) == ["claude-sonnet-4-5"]
    assert server.call("get_usage_history", {"project": "elsewhere"})["structuredContent"]["days"] == []

    recs = server.call("get_offload_recommendations", {"planned_task_pct": 90, "model": "opus", "bulk_api": True})
    actions = [r["action"] for r in recs["structuredContent"]["recommendations"]]
    assert actions[0] == "switch_model" and "defer" in actions and actions[-1] == "batch_api"
    assert all(r["reason"] for r in recs["structuredContent"]["recommendations"])

    listed = server.request("resources/list")["result"]["resources"]
    assert [r["uri"] for r in listed] == ["budget://status", "usage://today", "pricing://models"]
    assert server.request("resources/templates/list")["result"] == {"resourceTemplates": []}
    status = json.loads(server.request("resources/read", {"uri": "budget://status"})["result"]["contents"][0]["text"])
    assert status["claude"]["five_hour"]["util"] == 30.0
    today = json.loads(server.request("resources/read", {"uri": "usage://today"})["result"]["contents"][0]["text"])
    assert today["today"]["output_tokens"] == 2000
    prices = json.loads(server.request("resources/read", {"uri": "pricing://models"})["result"]["contents"][0]["text"])
    assert "updated" in prices and "claude-sonnet-4-5" in prices["models"]
    assert server.close()[0] == 0


def test_check_budget_agrees_with_check_json(state, server):
    server.open()
    mcp = server.call("check_budget")["structuredContent"]
    proc, _ = run_cli("check", "--json")
    cli = json.loads(proc.stdout)
    for key in ("five_hour", "seven_day"):
        assert mcp["claude"][key]["used_pct"] == cli["claude"][key]["util"]
        assert mcp["claude"][key]["resets_at"] == cli["claude"][key]["resets_at"]
        assert mcp["claude"][key]["pace"] == cli["claude"][key]["pace"]
    assert mcp["local"] == cli["local"]
    assert mcp["copilot"]["remaining"] == cli["copilot"]["remaining"] and mcp["gemini"]["status"] == cli["gemini"]["status"]
    plan = cli["backlog"]
    assert mcp["recommendation"]["headroom_pct"] == plan["headroom_pct"]
    assert mcp["recommendation"]["start"]["text"] == plan["start"]["text"]
    assert [t["text"] for t in mcp["recommendation"]["then"]] == [t["text"] for t in plan["then"]]


def test_writes_go_through_the_cli(state, server):
    server.open()
    result = server.call("configure_budget", {"copilot": {"used": "12"}, "alerts": {"warn_at": "60"}})
    assert result["structuredContent"]["changed"]["copilot"]["used"] == 12
    saved = json.loads((state.budget / "budget.json").read_text())
    assert saved["copilot"]["used"] == 12 and saved["alerts"]["warn_at"] == 60
    failed = server.call("configure_budget", {"alerts": {"warn_at": "50"}, "gemini": {"used": "-3"}})
    assert failed["isError"] is True and "(alerts already saved)" in failed["content"][0]["text"]
    limited = server.call("configure_budget", {"limits": {"daily": "10", "monthly": "off"}, "api": {"balance": "42.50"}})
    assert limited["structuredContent"]["changed"]["limits"]["daily"] == 10
    assert json.loads((state.budget / "budget.json").read_text())["limits"]["daily"] == 10
    assert '"balance_usd": 42.5' in (state.budget / "ledgers" / "api.jsonl").read_text()

    logged = server.call("log_usage", {"lessons": ["keep it short"], "commit": False})
    assert "isError" not in logged and logged["structuredContent"]["ok"] is True
    assert "keep it short" in "".join(p.read_text() for p in (state.budget / "sessions").glob("*.md"))
    assert server.close()[0] == 0


@pytest.mark.parametrize("how", ["eof", signal.SIGTERM, signal.SIGINT])
def test_a_quiet_exit_within_a_second(env, server, how):
    server.open()
    started = time.monotonic()
    if how == "eof":
        server.proc.stdin.close()
    else:
        server.proc.send_signal(how)
    code = server.proc.wait(timeout=5)
    assert time.monotonic() - started < 1.0 and code == 0
    assert server.proc.stderr.read() == b"" and server.proc.stdout.read() == b""
