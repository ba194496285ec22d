"""Shared fixtures: every test runs in temp homes, never the real ~/.claude,
and never touches the network (the usage API is a local http.server stub)."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from ai_budget import cli  # noqa: E402

# Real public transcripts (MIT, see its SOURCES.md) with ccusage 20.0.24's figures: parity runs in every clone.
CORPUS = REPO / "tests" / "fixtures" / "corpus-public"
# A fake token; assembled so no committed file holds the real-token pattern.
TOKEN = "-".join(["sk", "ant", "oat01", "FAKE_TEST_VALUE_that_must_never_leak_0123"])


@pytest.fixture
def env(tmp_path, monkeypatch):
    home = tmp_path / "home"
    budget = tmp_path / "budget"
    claude = tmp_path / "claude"
    for d in (home, budget, claude / "projects"):
        d.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AI_BUDGET_HOME", str(budget))
    monkeypatch.setenv("AI_BUDGET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(claude))
    monkeypatch.setenv("AI_BUDGET_API_BASE", "http://127.0.0.1:9")
    monkeypatch.setenv("AI_BUDGET_CLAUDE_VERSION", "2.1.240")
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("AI_BUDGET_MACHINE", "testbox")
    monkeypatch.setattr(sys, "platform", "linux")  # never ask a real Keychain
    return type("Env", (), {"root": tmp_path, "home": home, "budget": budget, "claude": claude,
                            "cache": tmp_path / "cache", "projects": claude / "projects"})


@pytest.fixture
def clock(monkeypatch):
    """The CLI's clock, pinned at 12:00 local time today so a simulated day of a few
    hours never crosses midnight, whatever the real hour or zone."""
    noon = datetime.now().astimezone().replace(hour=12, minute=0, second=0, microsecond=0)
    state = {"now": noon.astimezone(timezone.utc)}
    monkeypatch.setattr(cli, "now_utc", lambda: state["now"])
    return state


def write_credentials(claude_dir: Path, token: str = TOKEN, **extra) -> Path:
    oauth = {"accessToken": token, "refreshToken": "-".join(["sk", "ant", "ort01", "FAKE_REFRESH"]),
             "expiresAt": int(time.time() * 1000) + 3_600_000,
             "scopes": ["user:inference", "user:profile"], "subscriptionType": "max",
             "rateLimitTier": "default_claude_max_5x"}
    oauth.update(extra)
    path = claude_dir / ".credentials.json"
    path.write_text(json.dumps({"claudeAiOauth": oauth}))
    return path


class StubAPI:
    """Replays queued (status, body, headers, delay) answers; records requests."""

    def __init__(self):
        self.answers: list = []
        self.requests: list = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                stub.requests.append({"path": self.path, "headers": dict(self.headers)})
                status, body, headers, delay = stub.answers.pop(0) if stub.answers else (500, "{}", {}, 0)
                if delay:
                    time.sleep(delay)
                raw = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def answer(self, status=200, body=None, headers=None, delay=0.0):
        self.answers.append((status, body if body is not None else {}, headers or {}, delay))


@pytest.fixture
def api(env, monkeypatch):
    stub = StubAPI()
    monkeypatch.setenv("AI_BUDGET_API_BASE", stub.url)
    yield stub
    stub.server.shutdown()


def run(capsys, *argv):
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def unfaked_environ() -> dict:
    """os.environ without an outer faketime's settings (CI runs the suite under one): for a
    child that runs faketime itself, or whose standard streams are closed (libfaketime then
    holds fd 1 or 2, and the child's writes there would corrupt the clock it shares)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("FAKETIME") and k != "LD_PRELOAD"}


def run_cli(*argv, input=None, timeout=30, **popen):
    """The CLI as Claude Code runs it, in a child process (env from the fixtures unless given):
    (CompletedProcess, seconds taken)."""
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-S", str(REPO / "scripts" / "budget.py"), *argv],
                          env=popen.pop("env", None) or os.environ.copy(),
                          input=input, stdout=popen.pop("stdout", subprocess.PIPE), stderr=subprocess.PIPE,
                          text=True, timeout=timeout, **popen)
    return proc, time.monotonic() - started


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    return code, json.loads(out), err


def line(mid=None, rid=None, ts="2026-01-01T10:00:01.000Z", side=None, inp=10, out=5, model="claude-sonnet-4-5",
         cache_read=0, cache_write=0, c5=None, c1=None, session="s1", extra=None) -> str:
    """One assistant transcript line (compact JSON, as Claude Code writes it)."""
    usage = {"input_tokens": inp, "output_tokens": out, "cache_read_input_tokens": cache_read,
             "cache_creation_input_tokens": cache_write}
    if c5 is not None or c1 is not None:
        usage["cache_creation"] = {"ephemeral_5m_input_tokens": c5 or 0, "ephemeral_1h_input_tokens": c1 or 0}
    message = {"model": model, "role": "assistant", "content": [{"type": "text", "text": "hidden words"}], "usage": usage}
    if mid:
        message["id"] = mid
    obj = {"parentUuid": None, "isSidechain": bool(side), "sessionId": session, "version": "2.1.39",
           "type": "assistant", "message": message, "timestamp": ts}
    if rid:
        obj["requestId"] = rid
    obj.update(extra or {})
    return json.dumps(obj, separators=(",", ":"))


def write_session(projects: Path, lines, project="-home-me-proj", session="s1", subagents=None) -> Path:
    folder = projects / project
    folder.mkdir(parents=True, exist_ok=True)
    main = folder / f"{session}.jsonl"
    main.write_text("".join(l + "\n" for l in lines))
    for name, sub_lines in (subagents or {}).items():
        sub = folder / session / "subagents"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{name}.jsonl").write_text("".join(l + "\n" for l in sub_lines))
    return main
