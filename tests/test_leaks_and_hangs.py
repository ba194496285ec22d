"""Issue 11, leaks and hangs: the token never appears in a message or leaves the
API's host, and no slow server, held lock, open stdin or FIFO makes a command,
hook or the status line wait without bound. Servers are loopback stubs."""

import fcntl
import json
import os
import socket
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from ai_budget.sources import usage_api
from conftest import TOKEN, StubAPI, line, run, run_cli, write_credentials, write_session

FLAT = {"five_hour": {"utilization": 33.0, "resets_at": None}, "seven_day": {"utilization": 13.0, "resets_at": None}}


def _last_known(env, util=40.0):
    env.budget.joinpath("budget.json").write_text(json.dumps({"schema_version": 3, "claude": {
        "five_hour_util": util, "seven_day_util": 10.0, "source": "api",
        "last_fetched": (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()}}))


@pytest.mark.parametrize("bad", ["\n", " trailing", "\x00", "é", "\r\nX-Injected: 1"])
def test_a_token_with_a_bad_character_is_refused_without_printing_it(env, api, bad):
    write_credentials(env.claude, token=TOKEN + bad)
    api.answer(200, FLAT)
    for argv in (("fetch",), ("check", "--markdown"), ("hook", "session-start")):
        proc, _ = run_cli(*argv, input="{}")
        assert TOKEN not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr, argv
    proc, _ = run_cli("fetch")
    assert proc.returncode == 1 and "character not allowed in a token" in proc.stderr
    assert not api.requests


def test_a_redirect_is_not_followed(env, api, capsys):
    other = StubAPI()  # another origin: same address, another port
    try:
        write_credentials(env.claude)
        other.answer(200, FLAT)
        api.answer(302, {}, {"Location": other.url + "/steal"})
        code, out, err = run(capsys, "fetch")
        assert code == 1 and "redirected (HTTP 302); not followed" in err and err.count("\n") == 1
        assert other.requests == []
    finally:
        other.server.shutdown()


class Drip:
    """A usage API that sends its headers, then the body one byte every `gap` seconds,
    for at most `limit` seconds (so even the old, never-timing-out client ends)."""

    def __init__(self, body: bytes, gap: float, limit: float):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.body, self.gap, self.limit = body, gap, limit
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn):
        end = time.monotonic() + self.limit
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(self.body))
                for i in range(len(self.body)):
                    if time.monotonic() > end:
                        return
                    conn.sendall(self.body[i:i + 1])
                    time.sleep(self.gap)
            except OSError:
                pass


def test_a_slow_drip_api_is_cut_at_one_deadline(env, capsys, monkeypatch):
    body = json.dumps(FLAT).encode()
    drip = Drip(body, gap=0.1, limit=8)  # about 10 s for the whole body: every byte well inside any timeout
    monkeypatch.setenv("AI_BUDGET_API_BASE", drip.url)
    monkeypatch.setattr(usage_api, "TIMEOUT_S", 1)
    write_credentials(env.claude)
    _last_known(env)
    started = time.monotonic()
    code, out, err = run(capsys, "check", "--markdown")
    took = time.monotonic() - started
    drip.sock.close()
    assert took < 3, f"check took {took:.1f}s against a 1 s deadline"
    assert code == 0 and "40.0%" in out and "no answer within 1s" in out


def test_a_process_waiting_for_the_fetch_lock_gives_up_and_serves_the_last_values(env, api, capsys, monkeypatch):
    monkeypatch.setattr(usage_api, "TIMEOUT_S", 0.5)
    write_credentials(env.claude)
    _last_known(env, 41.0)
    api.answer(200, FLAT)
    env.cache.mkdir(parents=True, exist_ok=True)
    holder = open(env.cache / "usage-api.json.lock", "a+b")  # another process, stuck in its request
    fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
    release = threading.Timer(8, holder.close)  # the old code waited for ever: end it
    release.daemon = True
    release.start()
    started = time.monotonic()
    code, out, err = run(capsys, "check")
    took = time.monotonic() - started
    release.cancel()
    holder.close()
    assert took < 4, f"check waited {took:.1f}s for the lock"
    assert code == 1 and "41.0%" in out and "another process" in err and not api.requests


def test_hooks_and_statusline_do_not_wait_for_a_stdin_that_never_closes(env):
    for argv in (("statusline",), ("hook", "session-start"), ("hook", "user-prompt-submit"), ("hook", "stop")):
        reader, writer = os.pipe()
        os.write(writer, b'{"session_id": "s1"}')  # and never closed, as a hung parent would leave it
        try:
            proc, took = run_cli(*argv, stdin=reader, timeout=10)
        finally:
            os.close(writer)
            os.close(reader)
        assert proc.returncode == 0 and took < 5 and "Traceback" not in proc.stderr, (argv, took)


def test_a_fifo_named_jsonl_is_never_opened(env):
    main = write_session(env.projects, [line(mid="m1", rid="r1", out=700)])
    os.mkfifo(main.parent / "fifo.jsonl")  # nobody ever writes to it: opening it blocks for ever
    (main.parent / "s1" / "subagents").mkdir(parents=True)
    os.mkfifo(main.parent / "s1" / "subagents" / "agent-fifo.jsonl")
    payload = json.dumps({"session_id": "s1", "transcript_path": str(main)})
    for argv in (("report", "daily", "--json"), ("check", "--no-fetch"), ("tokens", "--session", "s1", "--json"),
                 ("tokens", str(main), "--json"), ("hook", "session-start"), ("statusline",)):
        proc, took = run_cli(*argv, input=payload, timeout=10)
        assert took < 5 and proc.returncode in (0, 1) and "Traceback" not in proc.stderr, (argv, proc.stderr)
    assert json.loads(run_cli("tokens", "--session", "s1", "--json")[0].stdout)["output_tokens"] == 700
