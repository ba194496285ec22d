"""budget serve through a real HTTP client (http.client) against the server on a free
loopback port: the JSON API, the forms' POST, the DNS-rebinding and CSRF guards, bad
input validated as the CLI validates it, GETs that write nothing, the usage API's
cache and back-off reused by the minute refresh, the optional Admin API, and the
command's start and clean stop."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest

import dashboard_data
from ai_budget.commands import serve
from ai_budget.sources import admin_api
from conftest import REPO, TOKEN, run, run_json, write_credentials

ADMIN_KEY = "-".join(["sk", "ant", "admin01", "FAKE_ADMIN_KEY_that_must_never_leak_42"])


@pytest.fixture
def server(env, clock, monkeypatch):
    monkeypatch.delenv(admin_api.KEY_ENV, raising=False)
    admin_api._memo.clear()
    srv = serve.make_server(0, lambda: clock["now"])
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def call(srv, method, path, body=None, headers=None, host="default", token=True):
    """(status, headers, parsed JSON or text)."""
    con = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)  # a POST commits: git is slow on a loaded machine
    head = {"Content-Type": "application/json"} if body is not None else {}
    if token and method == "POST":
        head[serve.TOKEN_HEADER] = srv.token
    head.update(headers or {})
    raw = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    con.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    if host is not None:
        con.putheader("Host", f"127.0.0.1:{srv.port}" if host == "default" else host)
    for k, v in head.items():
        con.putheader(k, v)
    if raw is not None and "Content-Length" not in head:
        con.putheader("Content-Length", str(len(raw)))
    con.endheaders(raw)
    resp = con.getresponse()
    data = resp.read()
    con.close()
    ctype = resp.getheader("Content-Type", "")
    return resp.status, resp, json.loads(data) if data and ctype.startswith("application/json") else data.decode()


def tree(*roots):
    """Every file under the roots with a hash of its bytes."""
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for root in roots for p in sorted(root.rglob("*")) if p.is_file()}


def populate(env, clock, five=42.0):
    dashboard_data.populate(env.budget, env.projects, clock["now"], five)


# ---------------------------------------------------------------- the JSON API

@pytest.mark.parametrize("five, state", [(42.0, "normal"), (70.0, "warning"), (89.9, "warning"), (90.0, "critical"),
                                         (None, "none")])
def test_status_is_what_the_page_shows(env, clock, server, five, state):
    populate(env, clock, five)
    status, resp, data = call(server, "GET", "/api/status")
    assert status == 200 and resp.getheader("Cache-Control") == "no-store"
    assert data["ok"] and data["state"] == state
    if five is None:
        assert data["claude"]["source"] == "none" and data["local"]["month"]["responses"] == 0
        assert data["api_credits"]["entries"] == 0 and data["sessions_today"]["count"] == 0
        assert "fetch" in data["commands"]["fetch"]
        return
    c = data["claude"]
    assert c["five_hour"]["util"] == five and c["source"] == "statusline" and data["plan"] == "max"
    assert [s["model"] for s in c["scoped_weekly"] if s["active"]] == ["Sonnet"]
    assert c["five_hour"]["pace"]["expected_pct"] > 0
    assert data["alerts"]["warn_at"] == 70 and data["alerts"]["critical_at"] == 90
    assert data["sessions_today"]["count"] == 3
    assert {m["model"] for m in data["models_today"]} == {"claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"}
    assert data["sessions_today"]["cost_usd"] == pytest.approx(data["local"]["today"]["cost_usd"], abs=1e-3)
    assert data["local"]["month"]["cost_usd"] >= data["local"]["today"]["cost_usd"] > 0
    a = data["api_credits"]
    assert (a["balance_usd"], a["entries"], a["burn_days"]) == (163.0, 5, 28.0)
    assert a["burn_usd_per_day"] == round(87 / 28, 2) and a["runway_days"] == round(163 / (87 / 28), 1)
    assert data["copilot"]["used"] == 285 and data["gemini"]["status"] == "active"
    assert data["backlog"]["estimates"] and data["recommendation"]
    assert {c["task_type"]: c["samples"] for c in data["calibration"]}["flashcard"] == 3
    assert len(data["ledgers"]["copilot"]) == 1 and data["admin"] is None


def test_history_per_day_with_its_bounds(env, clock, server):
    populate(env, clock)
    status, _, data = call(server, "GET", "/api/history?days=30")
    assert status == 200 and len(data["days"]) == 30
    assert data["days"][-1]["date"] == clock["now"].astimezone().strftime("%Y-%m-%d")
    assert data["total_cost_usd"] == round(sum(d["cost_usd"] for d in data["days"]), 2) > 0
    assert data["days"][-1]["cost_usd"] == pytest.approx(call(server, "GET", "/api/status")[2]["local"]["today"]["cost_usd"], abs=1e-3)
    assert sum(1 for d in data["days"] if d["tokens"] == 0) >= 4  # the idle days are there, as zeros
    assert len(call(server, "GET", "/api/history")[2]["days"]) == 30
    assert len(call(server, "GET", "/api/history?days=1")[2]["days"]) == 1
    for bad in ("0", "367", "abc", "", "1.5", "-3", "7&days=8", "%EF%BC%93", "9" * 5000, "0" * 40 + "7"):
        status, _, data = call(server, "GET", f"/api/history?days={bad}")
        assert status == 400 and not data["ok"] and data["error"].startswith("days: must be a whole number from 1 to 366")
        assert "\n" not in data["error"]


@pytest.mark.parametrize("hour, minute", [(23, 50), (0, 5)])
def test_days_are_local_days_around_midnight(env, clock, server, hour, minute):
    """Just before and just after local midnight (in any zone the suite runs in): the
    chart's last day is today's local date and holds exactly what the Today card shows."""
    clock["now"] = clock["now"].astimezone().replace(hour=hour, minute=minute)
    populate(env, clock)
    status = call(server, "GET", "/api/status")[2]
    days = call(server, "GET", "/api/history?days=2")[2]["days"]
    today = clock["now"].astimezone().strftime("%Y-%m-%d")
    assert days[-1]["date"] == today
    assert days[-1]["cost_usd"] == pytest.approx(status["local"]["today"]["cost_usd"], abs=1e-3)
    assert sum(d["cost_usd"] for d in days) == pytest.approx(days[0]["cost_usd"] + status["local"]["today"]["cost_usd"], abs=1e-3)


def test_a_get_writes_nothing(env, clock, server):
    populate(env, clock)
    call(server, "GET", "/api/status")  # warms the index (a cache, outside the repo)
    before = tree(env.budget, env.claude, env.home)
    for path in ("/", "/app.js", "/style.css", "/api/status", "/api/history?days=30", "/api/history?days=0", "/nope"):
        call(server, "GET", path)
    call(server, "HEAD", "/api/status")
    assert tree(env.budget, env.claude, env.home) == before


def test_the_page_and_its_files(env, clock, server):
    status, resp, page = call(server, "GET", "/")
    assert status == 200 and f'content="{server.token}"' in page and "{{TOKEN}}" not in page
    csp = resp.getheader("Content-Security-Policy")
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "connect-src 'self'" in csp
    assert resp.getheader("X-Frame-Options") == "DENY" and resp.getheader("X-Content-Type-Options") == "nosniff"
    for path, kind in (("/app.js", "text/javascript"), ("/style.css", "text/css")):
        status, resp, body = call(server, "GET", path)
        assert status == 200 and resp.getheader("Content-Type").startswith(kind) and body
    assert "http" not in call(server, "GET", "/app.js")[2].replace("http://www.w3.org/2000/svg", "")  # no CDN, offline
    assert call(server, "GET", "/../budget.json")[0] == 404
    assert call(server, "PUT", "/api/balances", {})[0] == 405
    other = serve.make_server(0, lambda: clock["now"])
    assert other.token != server.token  # a fresh token per run
    other.server_close()


# ---------------------------------------------------------------- the guards

@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1", "localhost", "127.0.0.1:1",
                                  "localhost.evil.example:{port}", "127.0.0.1:{port}.evil", "[::1]:{port}",
                                  "127.0.0.2:{port}", "LOCALHOST:{port}x", None])
def test_a_foreign_host_header_is_refused(env, clock, server, host):
    host = host.format(port=server.port) if host else None
    for method, path, body in (("GET", "/", None), ("GET", "/api/status", None), ("POST", "/api/balances", {"what": "api", "balance": "1"})):
        status, _, data = call(server, method, path, body, host=host)
        assert status == 403 and data["error"].startswith("refused: the Host header"), (method, path)
    assert not (env.budget / "ledgers").exists()


def test_two_host_headers_are_refused_whichever_comes_first(env, clock, server):
    """The first Host was checked, a second ignored: a proxy that obeys the last one could pass a foreign name."""
    for hosts in ((f"127.0.0.1:{server.port}", "evil.example"), ("evil.example", f"127.0.0.1:{server.port}"),
                  (f"127.0.0.1:{server.port}",) * 2):
        con = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        con.putrequest("GET", "/api/status", skip_host=True)
        for host in hosts:
            con.putheader("Host", host)
        con.endheaders()
        resp = con.getresponse()
        assert resp.status == 403 and b"the Host header" in resp.read()
        con.close()


def test_both_loopback_names_are_served(env, clock, server):
    assert call(server, "GET", "/api/status", host=f"localhost:{server.port}")[0] == 200
    assert call(server, "POST", "/api/balances", {"what": "api", "balance": "10"}, host=f"localhost:{server.port}",
                headers={"Origin": f"http://localhost:{server.port}"})[0] == 200


@pytest.mark.parametrize("headers, token, status, needle", [
    ({}, False, 403, "missing or wrong X-Budget-Token"),
    ({serve.TOKEN_HEADER: "wrong"}, False, 403, "missing or wrong X-Budget-Token"),
    ({serve.TOKEN_HEADER: ""}, False, 403, "missing or wrong X-Budget-Token"),
    ({"Origin": "http://evil.example"}, True, 403, "cross-origin"),
    ({"Origin": "http://127.0.0.1:1"}, True, 403, "cross-origin"),
    ({"Origin": "null"}, True, 403, "cross-origin"),
    ({"Sec-Fetch-Site": "cross-site"}, True, 403, "cross-site"),
    ({"Sec-Fetch-Site": "same-site"}, True, 403, "cross-site"),
    ({"Content-Type": "text/plain"}, True, 415, "must be JSON"),
    ({"Content-Type": "application/x-www-form-urlencoded"}, True, 415, "must be JSON"),
])
def test_a_post_needs_the_token_and_the_same_origin(env, clock, server, headers, token, status, needle):
    populate(env, clock)
    before = tree(env.budget)
    got, _, data = call(server, "POST", "/api/balances", {"what": "api", "balance": "1"}, headers=headers, token=token)
    assert got == status and needle in data["error"] and not data["ok"]
    assert tree(env.budget) == before


def test_bodies_are_bounded_and_must_be_json_objects(env, clock, server):
    populate(env, clock)
    before = tree(env.budget)
    # Refused on the declared length, before a byte of the body is read.
    for length in (str(serve.MAX_BODY + 1), "99999999999"):
        assert call(server, "POST", "/api/balances", b"{}", headers={"Content-Length": length})[0] == 413
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:  # chunked: no Content-Length
        sock.sendall(f"POST /api/balances HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n{serve.TOKEN_HEADER}: {server.token}\r\n"
                     f"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                     f"e\r\n{{\"what\":\"api\"}}\r\n0\r\n\r\n".encode())
        assert sock.recv(100).startswith(b"HTTP/1.1 411 ")
    for body, needle in ((b"{nope", "the body is not JSON"), (b"[1]", "must be a JSON object"), (b"[" * 5000 + b"]" * 5000, "not JSON"),
                         ({"balance": "1"}, "what: must be one of api, copilot, gemini"),
                         ({"what": "alerts", "warn_at": "10"}, "what: must be one of"),
                         ({"what": "../x", "balance": "1"}, "what: must be one of")):
        status, _, data = call(server, "POST", "/api/balances", body)
        assert status == 400 and needle in data["error"], body
    assert tree(env.budget) == before


def test_a_client_that_sends_less_than_it_announced_is_let_go(env, clock, server, capfd, monkeypatch):
    monkeypatch.setattr(serve.Handler, "timeout", 0.5)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"POST /api/balances HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Length: 100\r\n\r\n{{".encode())
        assert sock.recv(100) == b""  # closed after the handler's timeout, no answer owed
    assert call(server, "GET", "/api/status")[0] == 200  # and the server goes on
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("fields, argv", [
    ({"what": "api", "balance": "abc"}, ["api", "--balance", "abc"]),
    ({"what": "api", "balance": "-5"}, ["api", "--balance", "-5"]),
    ({"what": "api", "balance": "nan"}, ["api", "--balance", "nan"]),
    ({"what": "api", "balance": "1e300"}, ["api", "--balance", "1e300"]),
    ({"what": "api", "balance": "10", "topup": "x"}, ["api", "--balance", "10", "--topup", "x"]),
    ({"what": "copilot", "used": "lots"}, ["copilot", "--used", "lots"]),
    ({"what": "copilot", "unit": "tokens"}, ["copilot", "--unit", "tokens"]),
    ({"what": "copilot", "resets_at": "tomorrow"}, ["copilot", "--resets-at", "tomorrow"]),
    ({"what": "gemini", "limit": "inf"}, ["gemini", "--limit", "inf"]),
    ({"what": "gemini", "status": "a\nb"}, ["gemini", "--status", "a\nb"]),
])
def test_form_input_is_validated_exactly_as_the_cli(env, clock, server, capsys, fields, argv):
    populate(env, clock)
    before = tree(env.budget)
    status, _, data = call(server, "POST", "/api/balances", fields)
    code, _, err = run(capsys, "set", *argv)
    assert status == 400 and code == 2
    assert err.strip() == f"budget set: {data['error']}"
    assert tree(env.budget) == before


def test_form_fields_the_cli_does_not_have_are_refused(env, clock, server):
    for fields, needle in (({"what": "api"}, "--balance: required"),
                           ({"what": "api", "balance": 12}, "--balance: must be given as text"),
                           ({"what": "api", "balance": None, "x": "1"}, "unknown field 'x'"),
                           ({"what": "copilot", "used": ["1"]}, "--used: must be given as text"),
                           ({"what": "gemini", "plan": "pro"}, "unknown field 'plan'")):
        status, _, data = call(server, "POST", "/api/balances", fields)
        assert status == 400 and needle in data["error"], fields


def test_a_ledger_entry_from_the_page_is_committed_and_in_check(env, clock, server, capsys):
    populate(env, clock)
    status, _, data = call(server, "POST", "/api/balances", {"what": "api", "balance": "150.5", "topup": "20"},
                           headers={"Origin": f"http://127.0.0.1:{server.port}", "Sec-Fetch-Site": "same-origin"})
    assert status == 200 and data["text"] == "API credits: $150.50 balance after a $20.00 top-up"
    assert data["commit"]["committed"] and data["api"]["balance_usd"] == 150.5
    log = subprocess.run(["git", "-C", str(env.budget), "log", "-1", "--format=%s", "--name-only"], capture_output=True, text=True).stdout
    assert log.splitlines()[0] == "balance: API credits: $150.50 balance after a $20.00 top-up"
    assert "ledgers/api.jsonl" in log
    last = json.loads((env.budget / "ledgers" / "api.jsonl").read_text().splitlines()[-1])
    assert last == {"at": data["api"]["at"], "balance_usd": 150.5, "topup_usd": 20}
    code, check, _ = run_json(capsys, "check", "--no-fetch")
    assert check["api_credits"]["balance_usd"] == 150.5 and check["api_credits"]["entries"] == 6
    assert "API      $150.50 balance" in run(capsys, "check", "--no-fetch")[1]

    status, _, data = call(server, "POST", "/api/balances", {"what": "copilot", "used": "300", "resets_at": "2099-01-01"})
    assert status == 200 and data["copilot"]["used"] == 300 and data["commit"]["committed"]
    code, check, _ = run_json(capsys, "check", "--no-fetch")
    assert check["copilot"]["used"] == 300 and check["copilot"]["resets_at"] == "2099-01-01T00:00:00Z"
    entries = [json.loads(l) for l in (env.budget / "ledgers" / "copilot.jsonl").read_text().splitlines()]
    assert entries[-1]["used"] == 300 and len(entries) == 2
    status, _, data = call(server, "POST", "/api/balances", {"what": "gemini", "status": "paused", "used": "50", "limit": "40"})
    assert status == 200 and "exceeds limit" in data["warnings"][0]
    assert call(server, "GET", "/api/status")[2]["gemini"]["status"] == "paused"
    files = subprocess.run(["git", "-C", str(env.budget), "show", "--name-only", "--format=", "HEAD"], capture_output=True, text=True).stdout
    assert sorted(files.split()) == ["budget.json", "ledgers/gemini.jsonl"]


def test_cli_set_appends_to_the_ledgers_and_commits(env, clock, capsys):
    code, data, _ = run_json(capsys, "set", "api", "--balance", "100")
    assert code == 0 and data["commit"]["committed"]
    clock["now"] += timedelta(days=2)
    run(capsys, "set", "api", "--balance", "90")
    run(capsys, "set", "copilot", "--used", "12")
    run(capsys, "set", "alerts", "--warn-at", "60")  # no ledger, no commit, as before
    code, check, _ = run_json(capsys, "check", "--no-fetch")
    a = check["api_credits"]
    assert (a["balance_usd"], a["burn_usd_per_day"], a["runway_days"]) == (90, 5.0, 18.0)
    log = subprocess.run(["git", "-C", str(env.budget), "log", "--format=%s"], capture_output=True, text=True).stdout.splitlines()
    assert log == ["balance: Copilot: 12 of 1500 credits used, resets " + check["copilot"]["resets_at"][:10],
                   "balance: API credits: $90.00 balance", "balance: API credits: $100.00 balance"]
    (env.budget / "ledgers" / "api.jsonl").write_text('{"at": "2026-01-01T00:00:00Z", "balance_usd": 5}\nnot json\n')
    code, _, err = run(capsys, "set", "api", "--balance", "1")
    assert code == 2 and "ledgers/api.jsonl: line 2 is not JSON; left untouched" in err
    assert (env.budget / "ledgers" / "api.jsonl").read_text().endswith("not json\n")
    code, check, err = run_json(capsys, "check", "--no-fetch")  # a broken ledger is a warning, not a failed brief
    assert "line 2 is not JSON" in check["api_credits"]["problem"] and "line 2 is not JSON" in err


@pytest.mark.parametrize("line, needle", [
    ('{"at": "2026-01-01T00:00:00Z", "balance_usd": NaN}', "'balance_usd' must be a number"),
    ('{"at": "2026-01-01T00:00:00Z", "balance_usd": -1}', "'balance_usd' must be a number"),
    ('{"at": "2026-01-01T00:00:00Z", "balance_usd": "12"}', "'balance_usd' must be a number"),
    ('{"at": "2026-01-01T00:00:00Z", "balance_usd": 1, "topup_usd": Infinity}', "'topup_usd' must be a number"),
    ('{"at": "2026-01-01T00:00:00Z"}', "'balance_usd' must be a number"),
    ('{"at": "yesterday", "balance_usd": 1}', "needs an object with an 'at' time"),
    ('[1]', "needs an object with an 'at' time"),
    ('[' * 100_000, "is not JSON"),
])
def test_a_hostile_ledger_is_reported_and_left_alone(env, clock, server, capsys, line, needle):
    path = env.budget / "ledgers" / "api.jsonl"
    path.parent.mkdir()
    path.write_text('{"at": "2026-01-01T00:00:00Z", "balance_usd": 5}\n' + line + "\n")
    before = path.read_bytes()
    status, _, data = call(server, "GET", "/api/status")
    assert status == 200 and needle in data["api_credits"]["problem"] and "line 2" in data["api_credits"]["problem"]
    code, out, err = run(capsys, "check", "--no-fetch", "--json")
    assert needle in json.loads(out)["api_credits"]["problem"]
    status, _, data = call(server, "POST", "/api/balances", {"what": "api", "balance": "3"})
    assert status == 400 and needle in data["error"]
    assert path.read_bytes() == before


def test_importing_core_loads_no_http_client():
    """The hooks import core; http and ssl load only when the usage or Admin API is asked."""
    code = "import sys; import ai_budget.core; print('ssl' in sys.modules or 'http.client' in sys.modules)"
    out = subprocess.run([sys.executable, "-S", "-c", code], cwd=REPO / "scripts", capture_output=True, text=True).stdout
    assert out.strip() == "False"


def test_concurrent_entries_are_all_kept(env, clock, server):
    threads = [threading.Thread(target=call, args=(server, "POST", "/api/balances", {"what": "api", "balance": str(100 + i)}))
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = (env.budget / "ledgers" / "api.jsonl").read_text().splitlines()
    assert sorted(json.loads(l)["balance_usd"] for l in lines) == list(range(100, 108))


# ---------------------------------------------------------------- the usage API: cache and back-off

USAGE = {"five_hour": {"utilization": 33.0, "resets_at": None}, "seven_day": {"utilization": 12.0, "resets_at": None}}


def test_the_minute_refresh_reuses_the_usage_api_cache_and_gate(env, clock, api, server):
    write_credentials(env.claude)
    api.answer(200, USAGE)
    for _ in range(3):  # the page's refresh, once a minute
        assert call(server, "GET", "/api/status")[2]["claude"]["five_hour"]["util"] == 33.0
        clock["now"] += timedelta(seconds=60)
    assert len(api.requests) == 1
    api.answer(429, {}, {"Retry-After": "600"})
    data = call(server, "GET", "/api/status")[2]  # the cache is 3 minutes old: one new request, refused
    assert len(api.requests) == 2 and "rate-limited" in data["claude"]["problem"]
    for _ in range(5):
        clock["now"] += timedelta(seconds=60)
        call(server, "GET", "/api/status")
    assert len(api.requests) == 2  # the gate holds for Retry-After
    assert TOKEN not in json.dumps(data)


# ---------------------------------------------------------------- the Admin API

def admin_pages():
    cost1 = {"data": [{"starting_at": "x", "ending_at": "y", "results": [
        {"amount": "1234.5", "currency": "USD", "model": "claude-sonnet-4-5", "cost_type": "tokens"},
        {"amount": "200", "currency": "USD", "model": "claude-opus-4-1", "cost_type": "tokens"}]}],
        "has_more": True, "next_page": "page_2"}
    cost2 = {"data": [{"results": [{"amount": "66", "currency": "USD", "model": None, "cost_type": "code_execution"}]},
                      {"results": []}], "has_more": False, "next_page": None}
    usage = {"data": [{"results": [{"uncached_input_tokens": 1000, "output_tokens": 500, "cache_read_input_tokens": 9000,
                                    "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 50},
                                    "model": "claude-sonnet-4-5"}]}], "has_more": False, "next_page": None}
    return cost1, cost2, usage


def test_admin_api_fills_the_month_and_the_key_never_shows(env, clock, api, server, monkeypatch, capfd):
    monkeypatch.setenv(admin_api.KEY_ENV, ADMIN_KEY)
    monkeypatch.setenv(admin_api.BASE_ENV, api.url)
    populate(env, clock)
    for page in admin_pages():
        api.answer(200, page)
    status, _, data = call(server, "GET", "/api/status")
    admin = data["admin"]
    assert admin["problem"] is None and admin["spend_usd"] == round((1234.5 + 200 + 66) / 100, 2)
    by = {m["model"]: m for m in admin["by_model"]}
    assert by["claude-sonnet-4-5"]["cost_usd"] == 12.345 and by["claude-sonnet-4-5"]["output_tokens"] == 500
    assert by["claude-sonnet-4-5"]["cache_write_tokens"] == 150 and by["other"]["cost_usd"] == 0.66
    paths = [r["path"] for r in api.requests]
    assert paths[0].startswith("/v1/organizations/cost_report?") and "group_by%5B%5D=description" in paths[0]
    assert "page=page_2" in paths[1] and paths[2].startswith("/v1/organizations/usage_report/messages?")
    assert "bucket_width=1d" in paths[2] and "group_by%5B%5D=model" in paths[2]
    heads = [{k.lower(): v for k, v in r["headers"].items()} for r in api.requests]
    assert all(h.get("x-api-key") == ADMIN_KEY and h.get("anthropic-version") == "2023-06-01" for h in heads)
    call(server, "GET", "/api/status")
    assert len(api.requests) == 3  # kept in memory for 5 minutes
    out, err = capfd.readouterr()
    blob = json.dumps(data) + out + err + "".join(p.read_text(errors="replace") for p in env.root.rglob("*") if p.is_file()
                                                  and ".git" not in p.parts and p.suffix != ".sqlite")
    assert ADMIN_KEY not in blob and "admin01" not in blob


@pytest.mark.parametrize("answer, needle", [
    ((401, {"type": "error", "error": {"type": "authentication_error", "message": "bad key " + ADMIN_KEY}}), "key rejected (401)"),
    ((403, {}), "forbidden (403)"),
    ((500, {}), "server error 500"),
    ((200, "not json"), "not JSON"),
    ((200, {"data": [{"results": [{"amount": "nan"}]}]}), "out of range"),
    ((302, "", {"Location": "http://evil.example/"}), "unexpected HTTP 302"),
])
def test_admin_api_failures_are_one_line_without_the_key(env, clock, api, server, monkeypatch, capfd, answer, needle):
    monkeypatch.setenv(admin_api.KEY_ENV, ADMIN_KEY)
    monkeypatch.setenv(admin_api.BASE_ENV, api.url)
    api.answer(*answer)
    status, _, data = call(server, "GET", "/api/status")
    problem = data["admin"]["problem"]
    assert status == 200 and needle in problem and "\n" not in problem
    out, err = capfd.readouterr()
    assert ADMIN_KEY not in json.dumps(data) + out + err


def test_an_unusable_admin_key_is_refused_before_any_request(env, clock, api, server, monkeypatch):
    monkeypatch.setenv(admin_api.KEY_ENV, "sk-ant-admin01-abc\x7fdef")
    monkeypatch.setenv(admin_api.BASE_ENV, api.url)
    data = call(server, "GET", "/api/status")[2]
    assert "not a usable key" in data["admin"]["problem"] and "abc" not in data["admin"]["problem"] and not api.requests


def test_admin_api_timeout_is_bounded(env, clock, api, server, monkeypatch):
    monkeypatch.setenv(admin_api.KEY_ENV, ADMIN_KEY)
    monkeypatch.setenv(admin_api.BASE_ENV, api.url)
    monkeypatch.setattr(admin_api, "TIMEOUT_S", 0.5)
    api.answer(200, {"data": []}, delay=2)
    data = call(server, "GET", "/api/status")[2]
    assert "no answer within" in data["admin"]["problem"]


# ---------------------------------------------------------------- the command

def start(env, *argv):
    proc = subprocess.Popen([sys.executable, "-S", str(REPO / "scripts" / "budget.py"), "serve", *argv], env=os.environ.copy(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_serve_prints_its_url_and_stops_cleanly(env, stop):
    proc, first = start(env, "--port", "0")
    try:
        assert first.startswith("Dashboard: http://127.0.0.1:") and "Ctrl-C" in first
        port = int(first.split("http://127.0.0.1:")[1].split("/")[0])
        con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        con.request("GET", "/")
        assert con.getresponse().status == 200
        con.close()
        proc.send_signal(stop)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0 and err == "" and out.strip() == "Dashboard stopped."


def test_ctrl_c_is_not_held_by_an_idle_connection(env):
    proc, first = start(env, "--port", "0")
    try:
        port = int(first.split("http://127.0.0.1:")[1].split("/")[0])
        with socket.create_connection(("127.0.0.1", port), timeout=10), \
                socket.create_connection(("127.0.0.1", port), timeout=10) as half:
            half.sendall(f"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())  # never finished
            con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            con.request("GET", "/app.js", headers={"Host": f"127.0.0.1:{port}"})
            assert con.getresponse().status == 200  # the idle two block no one
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=5)
    finally:
        proc.kill()
    assert proc.returncode == 0 and out.strip() == "Dashboard stopped." and err == ""


def test_ctrl_c_during_a_post_lets_its_commit_finish(env, tmp_path, monkeypatch):
    """The handlers are daemon threads: Ctrl-C while a POST was between its ledger write and
    its commit ended the process there (a ledger line never committed, or left staged)."""
    real_git, marker = shutil.which("git"), tmp_path / "committing"
    fake = tmp_path / "bin" / "git"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\ncase " $* " in *" commit "*) touch {marker}; sleep 0.5;; esac\nexec {real_git} "$@"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    proc, first = start(env, "--port", "0")
    try:
        port = int(first.split("http://127.0.0.1:")[1].split("/")[0])
        con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        page = con.request("GET", "/") or con.getresponse().read().decode()
        token = page.split('name="budget-token" content="')[1].split('"')[0]
        con.request("POST", "/api/balances", body=json.dumps({"what": "api", "balance": "12"}),
                    headers={"Content-Type": "application/json", serve.TOKEN_HEADER: token})
        for _ in range(200):
            if marker.exists():
                break
            time.sleep(0.01)  # not Event.wait: under libfaketime (CI) a timed condition wait never returns
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    finally:
        proc.kill()
    git = ["git", "-C", str(env.budget)]
    assert subprocess.run(git + ["log", "-1", "--format=%s"], capture_output=True, text=True).stdout.strip() == \
        "balance: API credits: $12.00 balance"
    assert subprocess.run(git + ["status", "--porcelain"], capture_output=True, text=True).stdout == ""


def test_serve_listens_on_loopback_only(env, clock, server):
    """Bound to 127.0.0.1 itself (no traffic is sent to the machine's other addresses to show it)."""
    assert server.server_address[0] == "127.0.0.1"
    assert server.socket.getsockname()[0] == "127.0.0.1"
    assert server.socket.family == socket.AF_INET


def test_an_accept_with_nothing_waiting_never_blocks_the_loop(env, clock):
    """select() can say a connection waits that is gone by accept(); the loop must go on."""
    srv = serve.make_server(0, lambda: clock["now"])
    try:
        assert srv.socket.getblocking() is False
        worker = threading.Thread(target=srv._handle_request_noblock, daemon=True)  # what serve_forever calls
        worker.start()
        worker.join(10)
        assert not worker.is_alive()
    finally:
        srv.server_close()


def test_bad_ports_are_one_line(env, capsys):
    for port in ("abc", "-1", "70000", "1.5"):
        code, out, err = run(capsys, "serve", "--port", port)
        assert code == 2 and err.startswith("budget serve: --port: must be a whole number") and err.count("\n") == 1
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        code, out, err = run(capsys, "serve", "--port", str(busy.getsockname()[1]))
    finally:
        busy.close()
    assert code == 2 and "cannot listen on 127.0.0.1" in err and "--port 0" in err and err.count("\n") == 1


@pytest.mark.parametrize("what, flag", [("copilot", "--used"), ("copilot", "--limit"), ("gemini", "--used")])
def test_a_count_budget_json_refuses_never_reaches_the_ledger(env, clock, capsys, what, flag):
    """1e16 passed set's parsing, was appended to the ledger, then refused by budget.json's
    check: the ledger kept a line it calls malformed, and every later `set` failed on it."""
    code, _, err = run(capsys, "set", what, flag, "1e16")
    assert code == 2 and f"{what}.{flag[2:]}" in err and err.count("\n") == 1
    assert not (env.budget / "ledgers" / f"{what}.jsonl").exists()
    code, _, err = run(capsys, "set", what, flag, "12")
    assert code == 0, err


def test_a_balance_a_concurrent_commit_took_along_warns_nothing(env, clock, capsys, monkeypatch):
    """Two `set`s at once: the first to commit takes the other's ledger line along (both appended,
    then commits in turn); the second found 'nothing to commit' and warned so, though its line is committed."""
    from ai_budget.outputs import gitrepo

    run(capsys, "set", "api", "--balance", "100")
    real = gitrepo.commit

    def after_a_concurrent_one(repo, files, message):
        real(repo, files, "balance: the other set")
        return real(repo, files, message)

    monkeypatch.setattr(gitrepo, "commit", after_a_concurrent_one)
    code, out, err = run(capsys, "set", "api", "--balance", "90")
    assert code == 0 and err == "" and out.strip() == "API credits: $90.00 balance"
    shown = subprocess.run(["git", "-C", str(env.budget), "show", "HEAD:ledgers/api.jsonl"], capture_output=True, text=True).stdout
    assert '"balance_usd": 90' in shown
