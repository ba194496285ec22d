"""One answer to "how much of my Claude plan is used?", from the best source:
a fresh status-line snapshot, else the OAuth API (cached, gated), else the last
known values from budget.json marked stale with their age."""

from __future__ import annotations

from datetime import datetime

from ..errors import SourceUnavailable
from ..timefmt import iso, parse_iso
from . import statusline_snapshot

SNAPSHOT_FRESH_S = 300
STALE_AFTER_S = 15 * 60


ENDS_SAME_S = 120  # the usage API recomputes resets_at on every call: ends this close are one window's
ENDS_KEEP = 200  # about six weeks of windows used back to back


def _from_budget(claude: dict) -> dict:
    return {
        "five_hour": _window(claude.get("five_hour")),
        "seven_day": _window(claude.get("seven_day")),
        "scoped_weekly": claude.get("scoped_weekly") or [],
        "binding": claude.get("binding"),
        "extra_usage": claude.get("extra_usage"),
    }


def _window(stored) -> dict:
    stored = stored or {}
    return {"util": stored.get("util"), "resets_at": stored.get("resets_at")}


def note_end(ends: list, resets_at: str | None) -> list:
    """`ends` (ISO times, oldest first) with a newly observed 5-hour window end, unless
    one within ENDS_SAME_S is there already; at most ENDS_KEEP, the newest kept."""
    when = parse_iso(resets_at)
    known = [(parse_iso(e), e) for e in ends]
    known = [(t, e) for t, e in known if t]
    if when is None or any(abs((t - when).total_seconds()) <= ENDS_SAME_S for t, _ in known):
        return [e for _, e in known]
    return [e for _, e in sorted(known + [(when, resets_at)])][-ENDS_KEEP:]


def last_known(budget: dict, now: datetime, problem: str | None) -> dict:
    claude = budget.get("claude", {})
    last = parse_iso(claude.get("last_fetched"))
    if last is None:
        return _finish(_from_budget(claude), "none", None, now, problem or "no utilisation recorded yet")
    return _finish(_from_budget(claude), claude.get("source") or "last known", last, now, problem)


def from_api(got: dict, now: datetime) -> dict:
    result = dict(got["usage"])
    result["plan"] = got["credential"].subscription_type
    result["rate_limit_tier"] = got["credential"].rate_limit_tier
    source = "api (cached)" if got["from_cache"] else "api"
    return _finish(result, source, parse_iso(got["fetched_at"]), now, None)


def _with_snapshot(budget: dict, snap: dict) -> dict:
    claude = budget.get("claude", {})
    result = _from_budget(claude)  # scoped/extra usage come only from the API, at its own time
    result["limits_as_of"] = claude.get("last_fetched")
    for key in ("five_hour", "seven_day"):
        if snap.get(key):
            result[key] = snap[key]
    return result


def current(budget: dict, now: datetime, allow_fetch: bool = True, force: bool = False,
            max_age: float | None = None) -> dict:
    """Utilisation plus 'source', 'observed_at', 'age_s', 'stale', 'problem'.
    Never raises for an unavailable source: the reason is in 'problem'."""
    problem = None
    snap = statusline_snapshot.read()
    observed = parse_iso(snap.get("observed_at")) if snap else None
    usable_snap = observed is not None and (snap.get("five_hour") or snap.get("seven_day"))
    if not force and usable_snap and 0 <= (now - observed).total_seconds() <= SNAPSHOT_FRESH_S:
        return _finish(_with_snapshot(budget, snap), "statusline", observed, now, None)
    if allow_fetch:
        try:
            from . import usage_api  # http and ssl: loaded only to fetch, not on every status line run

            age = usage_api.CACHE_TTL_S if max_age is None else max_age
            return from_api(usage_api.fetch(now, force=force, max_age=age), now)
        except SourceUnavailable as exc:
            problem = str(exc)
    last = parse_iso(budget.get("claude", {}).get("last_fetched"))
    if usable_snap and (last is None or observed > last):  # an older snapshot beats nothing
        return _finish(_with_snapshot(budget, snap), "statusline", observed, now, problem)
    return last_known(budget, now, problem)


def _finish(result: dict, source: str, observed: datetime | None, now: datetime, problem: str | None) -> dict:
    age = (now - observed).total_seconds() if observed else None
    result.update({
        "source": source,
        "observed_at": iso(observed),
        "age_s": age,
        "stale": age is None or age > STALE_AFTER_S,
        "problem": problem,
    })
    for key in ("five_hour", "seven_day"):
        win = result.get(key) or {}
        resets = parse_iso(win.get("resets_at"))
        # A reading from before its window's reset says nothing about the new window.
        win["reset_since"] = bool(resets and observed and resets <= now and observed < resets)
        result[key] = win
    return result


def record(claude: dict, util: dict) -> None:
    """Store a fresh reading in budget.json's claude section (callers hold the lock)."""
    if util["source"] in ("none", "last known") or util.get("observed_at") is None:
        return
    if parse_iso(util["observed_at"]) and parse_iso(claude.get("last_fetched")) and \
            parse_iso(util["observed_at"]) <= parse_iso(claude.get("last_fetched")):
        return
    for key in ("five_hour", "seven_day"):
        claude[key] = _window(util.get(key))
    claude["five_hour_ends"] = note_end(claude.get("five_hour_ends") or [], claude["five_hour"]["resets_at"])
    if util["source"].startswith("api"):
        claude["scoped_weekly"] = util.get("scoped_weekly") or []
        claude["binding"] = util.get("binding")
        claude["extra_usage"] = util.get("extra_usage")
        if util.get("plan"):
            claude["plan"] = util["plan"]
        if util.get("rate_limit_tier"):
            claude["rate_limit_tier"] = util["rate_limit_tier"]
    claude["source"] = util["source"].replace(" (cached)", "")
    claude["last_fetched"] = util["observed_at"]

