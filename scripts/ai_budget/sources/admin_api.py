"""This month's Anthropic API spend and its per-model split from the Admin API
(organisations only), when `ANTHROPIC_ADMIN_API_KEY` is set.

`GET /v1/organizations/cost_report` (amounts are decimal strings in cents) and
`GET /v1/organizations/usage_report/messages` grouped by model, one day a bucket,
every page. The key is read from the environment for each request and never
stored, cached, logged or put in a message; answers (and failures) are kept in
memory for 5 minutes, so a page refreshed every minute asks at most that often.
One 10 s deadline covers all pages; redirects are not followed."""

from __future__ import annotations

import json
import os
import _thread  # threading's lock without threading's import (every check loads this module)
import time
from datetime import datetime

from ..atomic import sha256_hex  # the built-in sha256: hashlib loads OpenSSL (3 ms of every check)
from ..errors import SourceUnavailable
from ..timefmt import iso
from .readings import number

KEY_ENV = "ANTHROPIC_ADMIN_API_KEY"
BASE_ENV = "AI_BUDGET_ADMIN_API_BASE"
DEFAULT_BASE = "https://api.anthropic.com"
TIMEOUT_S = 10
MAX_PAGES = 20
MEMO_S = 300
MAX_CENTS = 1e12
LABEL = "Admin API"

_memo: dict = {}
_memo_lock = _thread.allocate_lock()


def configured() -> bool:
    return bool(os.environ.get(KEY_ENV, "").strip())


def _key() -> str:
    key = os.environ.get(KEY_ENV, "").strip()
    # A header can carry neither whitespace nor control characters; saying which would quote the key.
    if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        raise SourceUnavailable(f"{LABEL}: {KEY_ENV} is not a usable key (it holds whitespace, control or non-ASCII characters)")
    return key


def _get(path: str, params: list[tuple[str, str]], key: str, deadline: float) -> dict:
    import urllib.error  # http and ssl: loaded only to fetch (core, and so the hooks, import this module)
    import urllib.parse
    import urllib.request

    from .usage_api import _opener, _read_capped

    base = (os.environ.get(BASE_ENV) or DEFAULT_BASE).rstrip("/")
    req = urllib.request.Request(f"{base}{path}?{urllib.parse.urlencode(params)}", headers={
        "x-api-key": key, "anthropic-version": "2023-06-01", "Accept": "application/json",
        "User-Agent": "ai-budget"})
    left = deadline - time.monotonic()
    if left <= 0:
        raise SourceUnavailable(f"{LABEL}: no answer within {TIMEOUT_S}s")
    try:
        with _opener(deadline).open(req, timeout=left) as resp:
            body = _read_capped(resp, LABEL)
    except SourceUnavailable:
        raise
    except urllib.error.HTTPError as exc:
        reason = {401: "key rejected (401)", 403: "forbidden (403): an organisation's Admin key (sk-ant-admin…) is needed",
                  429: "rate-limited (429); trying again in 5 min"}.get(exc.code)
        if reason is None:
            reason = f"server error {exc.code}" if exc.code >= 500 else f"unexpected HTTP {exc.code}"
        raise SourceUnavailable(f"{LABEL}: {reason}") from None
    except TimeoutError:
        raise SourceUnavailable(f"{LABEL}: no answer within {TIMEOUT_S}s") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError) or "timed out" in str(exc.reason):
            raise SourceUnavailable(f"{LABEL}: no answer within {TIMEOUT_S}s") from None
        raise SourceUnavailable(f"{LABEL} unreachable ({exc.reason.__class__.__name__})") from None
    except (OSError, ValueError) as exc:  # never the text: it can quote a header
        raise SourceUnavailable(f"{LABEL} unreachable ({exc.__class__.__name__})") from None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise SourceUnavailable(f"{LABEL}: the answer is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise SourceUnavailable(f"{LABEL}: the answer has no 'data' list")
    return data


def _pages(path: str, params: list, key: str, deadline: float):
    page = None
    for _ in range(MAX_PAGES):
        data = _get(path, params + ([("page", page)] if page else []), key, deadline)
        yield from (b for b in data["data"] if isinstance(b, dict))
        page = data.get("next_page")
        if data.get("has_more") is not True or not isinstance(page, str) or not page:
            return
    raise SourceUnavailable(f"{LABEL}: more than {MAX_PAGES} pages; not counted")


def _model(item: dict) -> str:
    name = item.get("model")
    return "".join(c for c in name if c.isprintable())[:60] if isinstance(name, str) and name else "other"


def _count(value) -> int:
    n = number(value, 1e15)
    return int(n) if n is not None else 0


def month(month_start: datetime, now: datetime) -> dict:
    """{'spend_usd', 'by_model': [{model, cost_usd, input_tokens, output_tokens, cache_read_tokens,
    cache_write_tokens}], 'since', 'fetched_at'}, largest cost first. Raises SourceUnavailable."""
    key = _key()
    memo_key = (sha256_hex(key.encode())[:16], iso(month_start))
    with _memo_lock:
        hit = _memo.get(memo_key)
        if hit and time.monotonic() - hit[0] < MEMO_S:
            if isinstance(hit[1], SourceUnavailable):
                raise hit[1]
            return hit[1]
        try:
            result = _fetch(month_start, now, key)
        except SourceUnavailable as exc:
            _memo[memo_key] = (time.monotonic(), exc)
            raise
        _memo[memo_key] = (time.monotonic(), result)
        return result


def _fetch(month_start: datetime, now: datetime, key: str) -> dict:
    deadline = time.monotonic() + TIMEOUT_S
    span = [("starting_at", iso(month_start)), ("ending_at", iso(now)), ("bucket_width", "1d"), ("limit", "31")]
    models: dict[str, dict] = {}

    def row(name):
        return models.setdefault(name, {"model": name, "cost_usd": 0.0, "input_tokens": 0, "output_tokens": 0,
                                        "cache_read_tokens": 0, "cache_write_tokens": 0})

    spend = 0.0
    for bucket in _pages("/v1/organizations/cost_report", span + [("group_by[]", "description")], key, deadline):
        for item in bucket.get("results") or []:
            if not isinstance(item, dict):
                continue
            try:
                cents = float(item.get("amount"))
            except (TypeError, ValueError):
                raise SourceUnavailable(f"{LABEL}: a cost amount is not a number") from None
            if not 0 <= cents <= MAX_CENTS:  # NaN fails too
                raise SourceUnavailable(f"{LABEL}: a cost amount is out of range")
            spend += cents / 100
            row(_model(item))["cost_usd"] += cents / 100
    for bucket in _pages("/v1/organizations/usage_report/messages", span + [("group_by[]", "model")], key, deadline):
        for item in bucket.get("results") or []:
            if not isinstance(item, dict):
                continue
            r = row(_model(item))
            cache = item.get("cache_creation") if isinstance(item.get("cache_creation"), dict) else {}
            r["input_tokens"] += _count(item.get("uncached_input_tokens"))
            r["output_tokens"] += _count(item.get("output_tokens"))
            r["cache_read_tokens"] += _count(item.get("cache_read_input_tokens"))
            r["cache_write_tokens"] += _count(cache.get("ephemeral_5m_input_tokens")) + _count(cache.get("ephemeral_1h_input_tokens"))
    by_model = sorted(({**r, "cost_usd": round(r["cost_usd"], 4)} for r in models.values()), key=lambda r: -r["cost_usd"])
    return {"spend_usd": round(spend, 2), "by_model": by_model, "since": iso(month_start), "fetched_at": iso(now)}
