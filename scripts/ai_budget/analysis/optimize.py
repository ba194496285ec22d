"""`budget optimize`: findings from the user's own counts, each with an estimated
saving in API-equivalent dollars at list prices. Pure: index rows, session log
records and prices in, findings out. Token counts and names only, never content.

Rows are index.attributed() tuples: (ts_ms, model, fast, project, session, input,
output, cache_5m, cache_1h, cache_read, cost, tools, skill, agent type, subagent, agent ref)."""

from __future__ import annotations

from statistics import median

from ..sources.transcripts import COMPACTION
from .reports import UNKNOWN_AGENT

SMALL_OUTPUT = 500  # output tokens below which a response is "small"
TTL_MS = (300_000, 3_600_000)  # how long a 5-minute and a 1-hour cache write lives unread
GROWTH_MIN_RESPONSES = 20  # a session's own turns before its context growth is judged
GROWTH_FACTOR = 2.0  # the last quarter's context against the first quarter's
GROWTH_MIN_CONTEXT = 50_000  # tokens: below this a growing context costs little
FANOUT_MIN_AGENTS = 3  # subagents in one session that make a fan-out
LIMIT_PCT = 100.0  # a logged session that ended with the 5-hour window here ran into the limit
TOP = 5  # sessions listed per finding
ESTIMATE = "API-equivalent $ at list prices (estimate)"
NOTE = ("Savings are estimates: what the same token counts would have cost at Anthropic's list prices (a subscription "
        "is billed by plan, so they show where the window goes, not a bill). Facts come from token counts only.")


def is_opus(model: str | None) -> bool:
    return bool(model) and "opus" in model.lower()


def _at(prices, model: str, r) -> float:
    """What row r's tokens would have cost on `model`."""
    return prices.cost(model, r[0], r[5], r[6], r[7], r[8], r[9]) or 0.0


def _context(r) -> int:
    return r[5] + r[7] + r[8] + r[9]


def _finding(key: str, title: str, facts: dict, saving: float | None, advice: str, found: bool,
             basis: str = ESTIMATE) -> dict:
    return {"id": key, "title": title, "found": found, "facts": facts,
            "saving_usd": None if saving is None else round(saving, 4), "saving_basis": basis, "advice": advice}


def opus_small(rows, prices, families: dict) -> dict:
    small = [r for r in rows if is_opus(r[1]) and r[6] < SMALL_OUTPUT and r[10] is not None]
    opus = sum(1 for r in rows if is_opus(r[1]))
    cost = sum(r[10] for r in small)
    at = {f: sum(_at(prices, families[f], r) for r in small) for f in ("sonnet", "haiku") if f in families}
    facts = {"opus_responses": opus, "small_responses": len(small), "small_output_below": SMALL_OUTPUT,
             "cost_usd": round(cost, 4), **{f"at_{f}_usd": round(v, 4) for f, v in at.items()}}
    saving = cost - at["sonnet"] if "sonnet" in at and small else None
    return _finding("opus_small_responses", "Opus used for small responses", facts, saving,
                    f"{len(small)} of {opus} Opus responses wrote fewer than {SMALL_OUTPUT} output tokens; the saving is "
                    "what they cost on Opus less what the same tokens cost on Sonnet (at_haiku_usd: on Haiku). Use "
                    "/model sonnet (or haiku) for quick turns; a switch in the middle of a session writes its cache "
                    "again, which the estimate leaves out.", bool(small))


def _chains(rows) -> dict:
    """Rows per conversation that shares a cache: a session's own turns, and each subagent's."""
    chains: dict = {}
    for r in rows:
        chains.setdefault((r[3], r[4], (r[15] or "?") if r[14] else None), []).append(r)
    return chains


def cache_efficiency(rows, prices, chains: dict) -> dict:
    inp = sum(r[5] for r in rows)
    written = sum(r[7] + r[8] for r in rows)
    read = sum(r[9] for r in rows)
    unread = at_end = 0
    premium = 0.0
    for chain in chains.values():
        for r, nxt in zip(chain, chain[1:] + [None]):
            if nxt is None:  # a session's (or subagent's) last write: nothing could read it
                at_end += r[7] + r[8]
                continue
            rates = prices.rates(r[1], r[0])
            for w, ttl, rate in ((r[7], TTL_MS[0], "cache_5m"), (r[8], TTL_MS[1], "cache_1h")):
                if w and (nxt[0] - r[0] > ttl or not nxt[9]):
                    unread += w
                    if rates:  # paid for writing, never read: dearer than plain input
                        premium += w * (getattr(rates, rate) - rates.input) / 1_000_000
    facts = {"cache_read_share_pct": round(100 * read / (inp + written + read), 1) if inp + written + read else None,
             "cache_write_tokens": written, "cache_read_tokens": read, "unread_write_tokens": unread,
             "unread_at_session_end_tokens": at_end}
    return _finding("cache_efficiency", "Cache efficiency", facts, premium,
                    "Cache writes are dearer than plain input and pay off only when a later request reads them. Writes "
                    "no request read within their lifetime (5 minutes or 1 hour), other than a session's last, cost the "
                    "saving more than plain input would have: resume within 5 minutes, or /clear before a long break "
                    "rather than coming back to a cold cache.", unread > 0)


def context_growth(prices, chains: dict) -> dict:
    grown, saving = [], 0.0
    checked = 0
    for (project, session, ref), chain in chains.items():
        if ref is not None or len(chain) < GROWTH_MIN_RESPONSES:
            continue
        checked += 1
        quarter = len(chain) // 4
        base = median(_context(r) for r in chain[:quarter])
        end = median(_context(r) for r in chain[-quarter:])
        if not base or end < GROWTH_FACTOR * base or end < GROWTH_MIN_CONTEXT:
            continue
        # Had it been split once the context doubled, each later turn would start again near the first quarter's.
        extra = 0.0
        doubled = False
        for r in chain:
            doubled = doubled or _context(r) >= GROWTH_FACTOR * base
            rates = prices.rates(r[1], r[0]) if doubled else None
            if rates:
                extra += max(0, _context(r) - base) * rates.cache_read / 1_000_000
        saving += extra
        grown.append({"project": project, "session": session, "responses": len(chain), "first_quarter_context": int(base),
                      "last_quarter_context": int(end), "growth": round(end / base, 1), "saving_usd": round(extra, 4)})
    grown.sort(key=lambda g: -g["saving_usd"])
    facts = {"sessions_checked": checked, "sessions_growing": len(grown), "top": grown[:TOP]}
    return _finding("context_growth", "Context growing within a session", facts, saving if grown else None,
                    f"In these sessions the context each turn re-reads grew {GROWTH_FACTOR:g}× or more from the first "
                    "quarter of the session to the last. Split at a checkpoint (commit, /budget-log, then /clear or a new "
                    "session with a short summary) once it has doubled; the saving counts the re-read context above the "
                    "first quarter's after that point, at cache-read prices.", bool(grown))


def fan_outs(rows, prices, families: dict) -> dict:
    sessions: dict = {}
    for r in rows:
        s = sessions.setdefault((r[3], r[4]), {"cost": 0.0, "agents": set(), "types": set(), "sub_cost": 0.0, "sub": []})
        s["cost"] += r[10] or 0.0
        if r[14] and r[13] != COMPACTION:  # /compact's agent is no fan-out
            s["agents"].add(r[15] or "?")
            s["types"].add(r[13] or UNKNOWN_AGENT)
            s["sub_cost"] += r[10] or 0.0
            s["sub"].append(r)
    flagged, saving = [], 0.0
    for (project, session), s in sessions.items():
        if len(s["agents"]) < FANOUT_MIN_AGENTS:
            continue
        cheaper = sum((r[10] or 0.0) - _at(prices, families["sonnet"], r) for r in s["sub"]
                      if is_opus(r[1]) and r[10] is not None) if "sonnet" in families else 0.0
        saving += cheaper
        flagged.append({"project": project, "session": session, "subagents": len(s["agents"]), "types": sorted(s["types"]),
                        "subagent_cost_usd": round(s["sub_cost"], 4),
                        "share_pct": round(100 * s["sub_cost"] / s["cost"], 1) if s["cost"] else None,
                        "saving_usd": round(cheaper, 4)})
    flagged.sort(key=lambda f: -f["subagent_cost_usd"])
    facts = {"sessions_with_subagents": sum(1 for s in sessions.values() if s["agents"]),
             "fan_outs": len(flagged), "min_subagents": FANOUT_MIN_AGENTS, "top": flagged[:TOP]}
    return _finding("subagent_fan_outs", "Expensive subagent fan-outs", facts, saving if flagged else None,
                    f"Sessions that started {FANOUT_MIN_AGENTS} or more subagents: each reads its own context from "
                    "scratch. Send fewer, narrower subagents, and give their definitions `model: sonnet` (or haiku); the "
                    "saving is their Opus responses at Sonnet prices.", bool(flagged))


def limit_hits(records: list, since_iso: str, windows: int, critical_at: float) -> dict:
    logged = [r for r in records if str(r.get("ended_at") or "") >= since_iso]
    hits, near = [], 0
    for r in logged:
        after = (r.get("delta") or {}).get("after")
        if type(after) in (int, float) and after >= LIMIT_PCT:
            hits.append({"session": r.get("session_id"), "date": r.get("date"), "five_hour_pct": after})
        elif type(after) in (int, float) and after >= critical_at:
            near += 1
    facts = {"logged_sessions": len(logged), "ran_into_limit": len(hits), "ended_above_critical": near,
             "five_hour_windows_seen": windows, "sessions": hits[-TOP:]}
    return _finding("limit_hits", "Sessions that ran into the limit", facts, None,
                    "Logged sessions whose 5-hour window ended at 100%: work waited for the reset. Plan with `budget "
                    "check`: defer what does not fit to the reset, split a long task at a checkpoint, move light work to "
                    "Copilot or Gemini (the offload rules below).", bool(hits),
                    basis="the wait until the reset")


def findings(rows, prices, families: dict, records: list, since_iso: str, windows: int, critical_at: float) -> list[dict]:
    chains = _chains(rows)
    out = [opus_small(rows, prices, families), cache_efficiency(rows, prices, chains), context_growth(prices, chains),
           fan_outs(rows, prices, families), limit_hits(records, since_iso, windows, critical_at)]
    return sorted(out, key=lambda f: (not f["found"], -(f["saving_usd"] or 0)))
