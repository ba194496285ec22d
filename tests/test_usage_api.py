"""The OAuth usage client against a local stub: shapes, errors, cache, 429 gate,
and the token never leaving memory."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from ai_budget.sources import usage_api
from ai_budget.state import budget_file
from conftest import TOKEN, run, run_json, write_credentials


def _in(hours: float) -> str:
    """A reset time relative to the real clock, in the API's format (microseconds, +00:00)."""
    return (datetime.now(timezone.utc) + timedelta(hours=hours)).isoformat()


FIVE_RESET = _in(2.5)
FLAT = {
    "five_hour": {"utilization": 33.0, "resets_at": FIVE_RESET},
    "seven_day": {"utilization": 13.0, "resets_at": _in(100)},
    "seven_day_opus": None,
    "seven_day_sonnet": {"utilization": 1.0, "resets_at": _in(120)},
    "extra_usage": {"is_enabled": True, "monthly_limit": 2000, "used_credits": 150, "utilization": 7.5},
    "iguana_necktie": None,
}
LIMITS = {
    "five_hour": None, "seven_day": None,
    "limits": [
        {"kind": "session", "group": "session", "percent": 9, "resets_at": "2026-11-22T19:00:00+00:00", "scope": None, "is_active": False},
        {"kind": "weekly_all", "group": "weekly", "percent": 26, "resets_at": "2026-11-27T00:00:00+00:00", "scope": None, "is_active": False},
        {"kind": "weekly_scoped", "group": "weekly", "percent": 91, "resets_at": "2026-11-26T00:00:00+00:00",
         "scope": {"model": {"id": None, "display_name": "Fable"}, "surface": None}, "is_active": True},
        {"kind": "weekly_scoped", "group": "weekly", "percent": 0, "resets_at": None,
         "scope": {"model": {"display_name": "Mythos"}}, "is_active": False},
        {"kind": "weekly_all", "percent": None},
        {"kind": "inactive_pool", "percent": 50},
    ],
}


def test_flat_shape_and_headers(env, api, capsys):
    write_credentials(env.claude)
    api.answer(200, FLAT)
    code, out, err = run(capsys, "fetch")
    assert code == 0, err
    assert "Claude 5h:  33.0%" in out and "Claude 7d:  13.0%" in out and "(in " in out
    assert "extra usage: $1.50 of $20.00" in out
    headers = {k.lower(): v for k, v in api.requests[0]["headers"].items()}
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["anthropic-beta"] == "oauth-2025-04-20"
    assert headers["user-agent"] == "claude-code/2.1.240"
    saved = json.loads((env.budget / "budget.json").read_text())["claude"]
    assert (saved["five_hour"]["util"], saved["seven_day"]["util"], saved["plan"]) == (33.0, 13.0, "max")
    assert saved["five_hour"]["resets_at"][:19] == FIVE_RESET[:19]
    assert saved["extra_usage"]["used_usd"] == 1.5 and saved["scoped_weekly"][0]["model"] == "Sonnet"


def test_limits_array_wins_and_marks_binding():
    parsed = usage_api.parse_usage(LIMITS)
    assert parsed["five_hour"]["util"] == 9 and parsed["seven_day"]["util"] == 26
    assert parsed["scoped_weekly"] == [{"model": "Fable", "util": 91.0, "resets_at": "2026-11-26T00:00:00Z", "active": True}]
    assert parsed["binding"] == "weekly_scoped:Fable"


def test_null_buckets_mean_no_window_running():
    parsed = usage_api.parse_usage({"five_hour": None, "seven_day": {"utilization": 4.0, "resets_at": None}})
    assert parsed["five_hour"] == {"util": 0.0, "resets_at": None}


@pytest.mark.parametrize("status, body, needle", [
    (401, {"type": "error", "error": {"type": "authentication_error"}}, "401"),
    (403, {"error": {"message": "OAuth token does not meet scope requirement user:profile"}}, "user:profile"),
    (500, "oops", "server error 500"),
    (200, "<html>not json</html>", "unusable response"),
    (200, {"hello": "world"}, "unusable response"),
])
def test_errors_keep_last_known_values(env, api, capsys, status, body, needle):
    write_credentials(env.claude)
    api.answer(200, FLAT)
    assert run(capsys, "fetch")[0] == 0
    api.answer(status, body)
    code, out, err = run(capsys, "fetch", "--force")
    assert code == 1
    assert needle in err and "Traceback" not in err
    assert "33.0%" in out and "STALE" in out
    assert json.loads((env.budget / "budget.json").read_text())["claude"]["five_hour"]["util"] == 33.0


def test_cache_serves_repeat_calls(env, api, capsys):
    write_credentials(env.claude)
    api.answer(200, FLAT)
    run(capsys, "fetch")
    code, data, _ = run_json(capsys, "fetch")
    assert code == 0 and data["claude"]["source"] == "api (cached)"
    assert len(api.requests) == 1


@pytest.mark.parametrize("retry_after, minimum", [("0", 290), (None, 290), ("1200", 1190)])
def test_429_closes_the_gate(env, api, capsys, retry_after, minimum):
    write_credentials(env.claude)
    api.answer(429, {"error": {"type": "rate_limit_error"}}, {"Retry-After": retry_after} if retry_after else {})
    code, out, err = run(capsys, "fetch")
    assert code == 1 and "rate-limited" in err
    cache = json.loads((env.cache / "usage-api.json").read_text())
    from ai_budget.timefmt import now_utc, parse_iso
    assert (parse_iso(cache["blocked_until"]) - now_utc()).total_seconds() >= minimum
    api.answer(200, FLAT)
    code, out, err = run(capsys, "fetch", "--force")
    assert code == 1 and len(api.requests) == 1  # gated: no second request


def test_slow_server_times_out(env, api, capsys, monkeypatch):
    write_credentials(env.claude)
    monkeypatch.setattr(usage_api, "TIMEOUT_S", 0.3)
    api.answer(200, FLAT, delay=1.5)
    code, out, err = run(capsys, "fetch")
    assert code == 1 and "no answer within" in err


def test_credential_problems(env, api, capsys):
    code, _, err = run(capsys, "fetch")
    assert code == 1 and "no Claude login" in err
    write_credentials(env.claude, expiresAt=1000)
    code, _, err = run(capsys, "fetch")
    assert code == 1 and "expired" in err and "never refreshes" in err
    write_credentials(env.claude, scopes=["user:inference"])
    code, _, err = run(capsys, "fetch")
    assert code == 1 and "user:profile" in err
    (env.claude / ".credentials.json").write_text('{"accessToken": "%s"}' % TOKEN)  # the plan's flat guess
    api.answer(200, FLAT)
    assert run(capsys, "fetch")[0] == 0
    assert not api.answers


def test_token_never_leaves_memory(env, api, capsys):
    cred_path = write_credentials(env.claude)
    cred_before = cred_path.read_bytes()
    outputs = []
    for status, body in ((200, FLAT), (401, {}), (429, {})):
        api.answer(status, body)
        outputs += run(capsys, "fetch", "--force")[1:]
        outputs += run(capsys, "fetch", "--force", "--json")[1:]
    assert all(TOKEN not in o for o in outputs)
    for f in env.root.rglob("*"):
        if f.is_file() and f != cred_path:
            assert TOKEN.encode() not in f.read_bytes(), f
    assert cred_path.read_bytes() == cred_before  # never refreshed or rewritten


def test_keychain_service_names(monkeypatch):
    from ai_budget.sources import credentials
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    assert credentials.keychain_services() == ["Claude Code-credentials"]
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", "/Users/me/.claude-work")
    first = credentials.keychain_services()[0]
    assert first.startswith("Claude Code-credentials-") and len(first) == len("Claude Code-credentials-") + 8


@pytest.mark.parametrize("source, named", [("api", "from the usage API"), ("statusline", "from the status line"), (None, "")])
def test_stale_line_names_its_source_and_time(env, capsys, clock, source, named):
    seen = clock["now"] - timedelta(hours=3, minutes=10)
    path = env.budget / "budget.json"
    data = budget_file.default_budget()
    data["claude"].update(five_hour={"util": 40.0, "resets_at": None}, seven_day={"util": 10.0, "resets_at": None}, source=source,
                          last_fetched=seen.isoformat().replace("+00:00", "Z"))
    path.write_text(json.dumps(data))
    _, out, _ = run(capsys, "check", "--no-fetch")
    stale = next(l for l in out.splitlines() if "STALE" in l and "Claude" not in l).strip()
    assert stale == f"STALE — last reading{' ' + named if named else ''} at {seen.astimezone():%H:%M} (3h 10m ago)"
