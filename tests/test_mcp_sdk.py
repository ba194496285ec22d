"""The MCP server judged by the official MCP Python SDK (mcp 2.3.0) as a client: the
pure handshake and the SDK's own opening (a server/discover probe, then initialize).
Skipped when the SDK is not installed (.ci/run installs it; the runtime never needs it)."""

import asyncio
import os
import sys

import pytest

from conftest import REPO

mcp = pytest.importorskip("mcp", reason="the MCP Python SDK is not installed (pip install mcp==2.3.0)")
from mcp import Client, ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402
from mcp.shared.exceptions import MCPError  # noqa: E402


def server(env) -> StdioServerParameters:
    keep = ("HOME", "CLAUDE_CONFIG_DIR", "AI_BUDGET_HOME", "AI_BUDGET_CACHE_DIR", "AI_BUDGET_API_BASE", "NO_COLOR")
    return StdioServerParameters(command=sys.executable, args=["-S", str(REPO / "scripts" / "budget.py"), "mcp"],
                                 env={k: os.environ[k] for k in keep if k in os.environ})


def test_the_official_sdk_handshake_tools_and_resources(env):
    async def session():
        async with stdio_client(server(env)) as (read, write):
            async with ClientSession(read, write, read_timeout_seconds=20) as s:
                init = await s.initialize()
                await s.send_ping()
                tools = {t.name: t for t in (await s.list_tools()).tools}
                brief = await s.call_tool("check_budget", {"fetch": False})
                bad = await s.call_tool("estimate_task_cost", {"task_type": "feature", "units": -1})
                with pytest.raises(MCPError) as unknown:
                    await s.call_tool("no_such_tool", {})
                resources = [str(r.uri) for r in (await s.list_resources()).resources]
                status = await s.read_resource("budget://status")
                return init, tools, brief, bad, unknown.value, resources, status

    init, tools, brief, bad, unknown, resources, status = asyncio.run(session())
    assert init.protocol_version == "2025-11-25" and init.server_info.name == "ai-budget"
    assert {"check_budget", "estimate_task_cost", "log_usage"} <= set(tools)
    assert tools["check_budget"].annotations.read_only_hint and not tools["log_usage"].annotations.read_only_hint
    assert not brief.is_error and "claude" in brief.structured_content
    assert bad.is_error and "units" in bad.content[0].text and unknown.error.code == -32602
    assert resources == ["budget://status", "usage://today", "pricing://models"]
    assert status.contents[0].mime_type == "application/json"


def test_the_sdk_probe_falls_back_to_initialize_at_once(env):
    async def probe():
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with Client(server(env)) as client:  # mode="auto": server/discover first, as Claude Code does
            return client.session.protocol_version, loop.time() - started

    version, took = asyncio.run(probe())
    assert version == "2025-11-25" and took < 5  # a silent probe would cost the SDK's 10 s timeout
