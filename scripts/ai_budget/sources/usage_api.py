"""Claude subscription utilisation from GET /api/oauth/usage (undocumented).

Behaves like the well-behaved clients (Claude Code itself, ccusage, CodexBar): successes cached for a
few minutes, a 429 closes a gate until Retry-After (0 or absent: 5 minutes),
one request at a time across processes, and the token never leaves memory
(nor this host: redirects are not followed). One deadline bounds each request,
and a process waiting for another's request gives up in bounded time.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from .. import paths
from ..errors import SourceUnavailable
from ..atomic import dump_json, write_atomic
from ..timefmt import iso, now_utc, parse_iso
from . import credentials
from .readings import number, percentage

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

CACHE_TTL_S = 180
DEFAULT_BACKOFF_S = 300
TIMEOUT_S = 10  # the whole request, not each read
MAX_BACKOFF_S = 6 * 3600  # a Retry-After beyond this is a server bug, not a reason to go blind for days
MAX_BODY = 1 << 20  # the real answer is about 1 KB
MAX_CENTS = 1e9
FALLBACK_CLAUDE_VERSION = "2.1.0"


class RateLimited(SourceUnavailable):
    def __init__(self, message: str, retry_at: datetime):
        super().__init__(message)
        self.retry_at = retry_at


# ---------------------------------------------------------------- parsing (pure)

def _label(value, longest: int = 60) -> str | None:
    """A name from the API as we may show and store it: printable, one line, short."""
    if not isinstance(value, str):
        return None
    text = "".join(c for c in value if c.isprintable()).strip()[:longest]
    return text or None


def _window(obj, key: str) -> dict | None:
    """{'util', 'resets_at'}; a null utilization means 0 % (no window running), an
    unusable one rejects the answer: a wrong number must never be stored."""
    if not isinstance(obj, dict):
        return None
    raw = obj.get("utilization")
    util = percentage(raw)
    if util is None and raw is not None:
        raise ValueError(f"{key}.utilization is not a percentage: {raw!r:.40}")
    return {"util": util, "resets_at": iso(parse_iso(obj.get("resets_at")))}


def parse_usage(payload) -> dict:
    """Normalise both response shapes. limits[] wins per category; flat keys fill
    in; a null flat bucket means 0 % (no window running); unknown keys are ignored."""
    if not isinstance(payload, dict):
        raise ValueError("response is not a JSON object")
    result = {"five_hour": None, "seven_day": None, "scoped_weekly": [], "binding": None, "extra_usage": None}
    for key in ("five_hour", "seven_day"):
        if key in payload:
            win = _window(payload[key], key)
            result[key] = win if win and win["util"] is not None else {"util": 0.0, "resets_at": None}
    for flat, label in (("seven_day_opus", "Opus"), ("seven_day_sonnet", "Sonnet")):
        win = _window(payload.get(flat), flat)
        if win and win["util"] is not None and (win["util"] > 0 or win["resets_at"]):
            result["scoped_weekly"].append({"model": label, **win, "active": False})
    limits = payload.get("limits")
    if isinstance(limits, list):
        scoped_from_limits = []
        for item in limits:
            if not isinstance(item, dict):
                continue
            pct = percentage(item.get("percent"))
            if pct is None:
                if item.get("percent") is not None and item.get("kind") in ("session", "weekly_all"):
                    raise ValueError(f"limits[{item.get('kind')}].percent is not a percentage: {item['percent']!r:.40}")
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
                name = _label(model.get("display_name")) or _label(model.get("id")) or "scoped"
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
            cents = number(value, MAX_CENTS)  # the API sends cents
            return round(cents / 100, 2) if cents is not None else None
        result["extra_usage"] = {
            "enabled": extra.get("is_enabled") is True,
            "used_usd": dollars(extra.get("used_credits")),
            "limit_usd": dollars(extra.get("monthly_limit")),
            "utilization": percentage(extra.get("utilization")),
            "currency": _label(extra.get("currency"), 8) or "USD",
        }
    if result["five_hour"] is None and result["seven_day"] is None and not result["scoped_weekly"]:
        raise ValueError("response has no five_hour, seven_day or limits[] data")
    return result


def retry_after_seconds(value: str | None, now: datetime) -> int:
    """Seconds or an HTTP date, capped at MAX_BACKOFF_S; 0, absent, past or junk
    (non-ASCII digits too) → the default back-off. Never raises: the gate must be written."""
    seconds = 0.0
    value = value.strip() if isinstance(value, str) else ""
    if value.isascii() and value.isdigit():
        seconds = int(value) if len(value) < 10 else MAX_BACKOFF_S
    elif value:
        try:
            seconds = (parsedate_to_datetime(value) - now).total_seconds()
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    return int(min(seconds, MAX_BACKOFF_S)) if seconds > 0 else DEFAULT_BACKOFF_S


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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the Authorization header to wherever it points."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError with the 3xx code


class _DeadlineSocket:
    """A connected socket whose every read waits only for what is left of the
    request's deadline. A socket timeout restarts with every byte, so a server
    sending one byte a second was never timed out (and held the fetch lock that
    check and the hooks wait on)."""

    def __init__(self, sock, deadline: float):
        self._sock, self._deadline = sock, deadline

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def makefile(self, *args, **kwargs):  # http.client reads the whole response through this
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock, deadline: float):
        # The socket's own raw file: it keeps the socket open until closed, as urllib expects.
        self._sock, self._raw, self._deadline = sock, sock.makefile("rb", buffering=0), deadline

    def readable(self):
        return True

    def readinto(self, buffer):
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self._sock.settimeout(left)
        return self._raw.readinto(buffer)

    def close(self):
        self._raw.close()
        super().close()


def _opener(deadline: float):
    def bounded(base):
        class Connection(base):
            def connect(self):
                self.timeout = max(0.01, deadline - time.monotonic())
                super().connect()
                self.sock = _DeadlineSocket(self.sock, deadline)

        return Connection

    class HTTP(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(bounded(http.client.HTTPConnection), req)

    class HTTPS(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(bounded(http.client.HTTPSConnection), req, context=self._context)

    return urllib.request.build_opener(HTTP, HTTPS, _NoRedirect)


def _read_capped(resp, label: str = "usage API") -> bytes:
    length = resp.headers.get("Content-Length")
    if length and length.strip().isascii() and length.strip().isdigit() and int(length) > MAX_BODY:
        raise SourceUnavailable(f"{label}: response of {int(length):,} bytes is over the {MAX_BODY:,}-byte cap; ignored")
    chunks, size = [], 0
    while chunk := resp.read(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY:
            raise SourceUnavailable(f"{label}: response over the {MAX_BODY:,}-byte cap; ignored")
        chunks.append(chunk)
    return b"".join(chunks)


def request_usage(token: str, now: datetime) -> dict:
    url = paths.api_base() + "/api/oauth/usage"
    req = urllib.request.Request(url, headers={
        "Authorization": f"Bearer {token}",
        "anthropic-beta": "oauth-2025-04-20",
        "User-Agent": f"claude-code/{os.environ.get('AI_BUDGET_CLAUDE_VERSION') or claude_code_version()}",
        "Accept": "application/json",
    })
    timed_out = SourceUnavailable(f"usage API: no answer within {TIMEOUT_S}s")
    try:
        with _opener(time.monotonic() + TIMEOUT_S).open(req, timeout=TIMEOUT_S) as resp:
            body = _read_capped(resp)
    except SourceUnavailable:
        raise
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
        if 300 <= exc.code < 400:
            raise SourceUnavailable(f"usage API: redirected (HTTP {exc.code}); not followed, so the login never leaves the API's host") from None
        if exc.code >= 500:
            raise SourceUnavailable(f"usage API: server error {exc.code}; try again later") from None
        raise SourceUnavailable(f"usage API: unexpected HTTP {exc.code}") from None
    except TimeoutError:
        raise timed_out from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            raise timed_out from None
        raise SourceUnavailable(f"usage API unreachable ({reason.__class__.__name__})") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # Never the exception's text: http.client quotes header values in some of them.
        raise SourceUnavailable(f"usage API unreachable ({exc.__class__.__name__})") from None
    try:
        return parse_usage(json.loads(body))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
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


@contextlib.contextmanager
def _request_slot(path):
    """The one-request-at-a-time lock on `<path>.lock`, waited for at most a bit
    longer than a request may take. Yields whether another process held it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a+b") as handle:
        if fcntl is None:  # Windows: no advisory locks
            yield False
            return
        give_up, waited = time.monotonic() + TIMEOUT_S + 2, False
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= give_up:
                    raise SourceUnavailable("usage API: another process's request is still running; "
                                            "showing the last values") from None
                waited = True
                time.sleep(0.05)
        try:
            yield waited
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def fetch(now: datetime | None = None, force: bool = False, max_age: float = CACHE_TTL_S) -> dict:
    """{'usage': parsed, 'fetched_at': iso, 'from_cache': bool, 'credential': Credential}.
    Raises SourceUnavailable (RateLimited while the gate is closed)."""
    now = now or now_utc()
    cred = credentials.read()
    path = cache_path()
    with _request_slot(path) as waited:
        cache = _read_cache()
        if cache.get("token_fp") != cred.fingerprint:
            cache = {"token_fp": cred.fingerprint}
        fetched_at = parse_iso(cache.get("fetched_at"))
        # After waiting, the other process's fresh answer is the answer, even with --force.
        if (waited or not force) and fetched_at and cache.get("usage") and (now - fetched_at).total_seconds() < max_age:
            return {"usage": cache["usage"], "fetched_at": cache["fetched_at"], "from_cache": True, "credential": cred}
        blocked = parse_iso(cache.get("blocked_until"))
        if blocked and blocked > now:
            raise RateLimited(
                f"usage API rate-limited; next attempt after {blocked.astimezone().strftime('%H:%M')}", blocked
            )
        if waited:  # the other process's request just failed: a second one would double the wait
            raise SourceUnavailable("usage API: another process's request just failed; showing the last values")
        try:
            usage = request_usage(cred.token, now)
        except RateLimited as exc:
            cache["blocked_until"] = iso(max(exc.retry_at, blocked or exc.retry_at))
            write_atomic(path, dump_json(cache), mode=0o600)
            raise
        cache.update({"usage": usage, "fetched_at": iso(now), "blocked_until": None})
        write_atomic(path, dump_json(cache), mode=0o600)
        return {"usage": usage, "fetched_at": iso(now), "from_cache": False, "credential": cred}
