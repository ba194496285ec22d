"""Claude subscription utilisation from GET /api/oauth/usage (undocumented).

Behaves like the well-behaved clients (reference §1.6): successes cached for a
few minutes, a 429 closes a gate until Retry-After (0 or absent: 5 minutes),
one request at a time across processes, and the token never leaves memory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from .. import paths
from ..errors import SourceUnavailable
from ..state.atomic import dump_json, locked, write_atomic
from ..timefmt import iso, now_utc, parse_iso
from . import credentials

CACHE_TTL_S = 180
DEFAULT_BACKOFF_S = 300
TIMEOUT_S = 10
FALLBACK_CLAUDE_VERSION = "2.1.0"


class RateLimited(SourceUnavailable):
    def __init__(self, message: str, retry_at: datetime):
        super().__init__(message)
        self.retry_at = retry_at


# ---------------------------------------------------------------- parsing (pure)

def _pct(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _window(obj) -> dict | None:
    if not isinstance(obj, dict):
        return None
    return {"util": _pct(obj.get("utilization")), "resets_at": iso(parse_iso(obj.get("resets_at")))}


def parse_usage(payload) -> dict:
    """Normalise both response shapes. limits[] wins per category; flat keys fill
    in; a null flat bucket means 0 % (no window running); unknown keys are ignored."""
    if not isinstance(payload, dict):
        raise ValueError("response is not a JSON object")
    result = {"five_hour": None, "seven_day": None, "scoped_weekly": [], "binding": None, "extra_usage": None}
    for key in ("five_hour", "seven_day"):
        if key in payload:
            win = _window(payload[key])
            result[key] = win if win and win["util"] is not None else {"util": 0.0, "resets_at": None}
    for flat, label in (("seven_day_opus", "Opus"), ("seven_day_sonnet", "Sonnet")):
        win = _window(payload.get(flat))
        if win and win["util"] is not None and (win["util"] > 0 or win["resets_at"]):
            result["scoped_weekly"].append({"model": label, **win, "active": False})
    limits = payload.get("limits")
    if isinstance(limits, list):
        scoped_from_limits = []
        for item in limits:
            if not isinstance(item, dict):
                continue
            pct = _pct(item.get("percent"))
            if pct is None:
                continue
            resets = iso(parse_iso(item.get("resets_at")))
            kind = item.get("kind")
            active = item.get("is_active") is True
            if kind == "session":
                result["five_hour"] = {"util": pct, "resets_at": resets}
            elif kind == "weekly_all":
                result["seven_day"] = {"util": pct, "resets_at": resets}
            elif kind == "weekly_scoped":
                if pct == 0 and not resets and not active:
                    continue  # placeholder entry
                scope = item.get("scope") if isinstance(item.get("scope"), dict) else {}
                model = scope.get("model") if isinstance(scope.get("model"), dict) else {}
                name = model.get("display_name") or model.get("id") or "scoped"
                scoped_from_limits.append({"model": name, "util": pct, "resets_at": resets, "active": active})
            else:
                continue
            if active:
                result["binding"] = kind if kind != "weekly_scoped" else f"weekly_scoped:{name}"
        if scoped_from_limits:
            result["scoped_weekly"] = scoped_from_limits
    extra = payload.get("extra_usage")
    if isinstance(extra, dict):
        def dollars(value):
            return round(value / 100, 2) if _pct(value) is not None else None  # API sends cents
        result["extra_usage"] = {
            "enabled": extra.get("is_enabled") is True,
            "used_usd": dollars(extra.get("used_credits")),
            "limit_usd": dollars(extra.get("monthly_limit")),
            "utilization": _pct(extra.get("utilization")),
            "currency": extra.get("currency") if isinstance(extra.get("currency"), str) else "USD",
        }
    if result["five_hour"] is None and result["seven_day"] is None and not result["scoped_weekly"]:
        raise ValueError("response has no five_hour, seven_day or limits[] data")
    return result


def retry_after_seconds(value: str | None, now: datetime) -> int:
    """Seconds or an HTTP date; 0, absent or junk → the default back-off."""
    if value:
        value = value.strip()
        if value.isdigit():
            seconds = int(value)
            return seconds if seconds > 0 else DEFAULT_BACKOFF_S
        try:
            when = parsedate_to_datetime(value)
            seconds = int((when - now).total_seconds())
            return seconds if seconds > 0 else DEFAULT_BACKOFF_S
        except (TypeError, ValueError):
            pass
    return DEFAULT_BACKOFF_S


# ---------------------------------------------------------------- HTTP

def claude_code_version() -> str:
    """The installed Claude Code's version for the User-Agent (a non-Claude UA gets 429)."""
    exe = shutil.which("claude")
    if exe:
        try:
            out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=3).stdout
            match = re.search(r"\d+\.\d+\.\d+", out)
            if match:
                return match.group(0)
        except (OSError, subprocess.TimeoutExpired):
            pass
    return FALLBACK_CLAUDE_VERSION


def request_usage(token: str, now: datetime) -> dict:
    url = paths.api_base() + "/api/oauth/usage"
    req = urllib.request.Request(url, headers={
        "Authorization": f"Bearer {token}",
        "anthropic-beta": "oauth-2025-04-20",
        "User-Agent": f"claude-code/{os.environ.get('AI_BUDGET_CLAUDE_VERSION') or claude_code_version()}",
        "Accept": "application/json",
    })
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            body = resp.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 429:
            wait = retry_after_seconds(exc.headers.get("Retry-After"), now)
            raise RateLimited(
                f"usage API rate-limited (429); not asking again for {wait // 60 or 1} min",
                now + timedelta(seconds=wait),
            ) from None
        if exc.code == 401:
            raise SourceUnavailable("usage API: token rejected (401, expired or revoked); run `claude` to log in again") from None
        if exc.code == 403:
            raise SourceUnavailable("usage API: forbidden (403); the token lacks the user:profile scope — log in with `claude`, not a setup-token") from None
        if exc.code >= 500:
            raise SourceUnavailable(f"usage API: server error {exc.code}; try again later") from None
        raise SourceUnavailable(f"usage API: unexpected HTTP {exc.code}") from None
    except TimeoutError:
        raise SourceUnavailable(f"usage API: no answer within {TIMEOUT_S}s") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            raise SourceUnavailable(f"usage API: no answer within {TIMEOUT_S}s") from None
        raise SourceUnavailable(f"usage API unreachable ({reason})") from None
    except OSError as exc:
        raise SourceUnavailable(f"usage API unreachable ({exc.__class__.__name__})") from None
    try:
        return parse_usage(json.loads(body))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceUnavailable(f"usage API: unusable response ({exc})") from None


# ---------------------------------------------------------------- cache + gate

def cache_path():
    return paths.cache_dir() / "usage-api.json"


def _read_cache() -> dict:
    try:
        data = json.loads(cache_path().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def fetch(now: datetime | None = None, force: bool = False, max_age: float = CACHE_TTL_S) -> dict:
    """{'usage': parsed, 'fetched_at': iso, 'from_cache': bool, 'credential': Credential}.
    Raises SourceUnavailable (RateLimited while the gate is closed)."""
    now = now or now_utc()
    cred = credentials.read()
    path = cache_path()
    with locked(path):
        cache = _read_cache()
        if cache.get("token_fp") != cred.fingerprint:
            cache = {"token_fp": cred.fingerprint}
        fetched_at = parse_iso(cache.get("fetched_at"))
        if not force and fetched_at and cache.get("usage") and (now - fetched_at).total_seconds() < max_age:
            return {"usage": cache["usage"], "fetched_at": cache["fetched_at"], "from_cache": True, "credential": cred}
        blocked = parse_iso(cache.get("blocked_until"))
        if blocked and blocked > now:
            raise RateLimited(
                f"usage API rate-limited; next attempt after {blocked.astimezone().strftime('%H:%M')}", blocked
            )
        try:
            usage = request_usage(cred.token, now)
        except RateLimited as exc:
            cache["blocked_until"] = iso(max(exc.retry_at, blocked or exc.retry_at))
            write_atomic(path, dump_json(cache), mode=0o600)
            raise
        cache.update({"usage": usage, "fetched_at": iso(now), "blocked_until": None})
        write_atomic(path, dump_json(cache), mode=0o600)
        return {"usage": usage, "fetched_at": iso(now), "from_cache": False, "credential": cred}
