"""Usage reports in ccusage's JSON field names, so scripts written against
ccusage read ours unchanged. Pure: rows in, dicts out.
Costs are API-equivalent estimates; unknown models are listed, never $0."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from ..timefmt import ms_to_iso
from ..tokens import Totals, Usage

KINDS = {"daily": ("daily", "date"), "weekly": ("weekly", "week"), "monthly": ("monthly", "month"),
         "session": ("sessions", "sessionId"), "models": ("models", "modelName"), "projects": ("projects", "project"),
         "blocks": ("blocks", "id")}
COST_NOTE = "API-equivalent estimate at list prices; a subscription is billed by plan"
EXTRA_NOTE = ("notInTranscript: calls Claude Code counted in its cost-state records but wrote no transcript line for "
              "(/compact, auto-compact, background calls); not in the other figures, which count lines as ccusage does")
UNATTRIBUTED_NOTE = ("unattributed: what a forked session's cost-state records hold beyond its lines when the record it "
                     "was forked from cannot be told apart; it may belong to a related session")
BLOCK_MS = 5 * 3_600_000


# ccusage's names for our fields: in reports' rows and totals, and in a block's tokenCounts.
CCUSAGE_NAMES = (("inputTokens", "input"), ("outputTokens", "output"), ("cacheCreationTokens", "cache_create"),
                 ("cacheReadTokens", "cache_read"))
BLOCK_NAMES = (("inputTokens", "input"), ("outputTokens", "output"), ("cacheCreationInputTokens", "cache_create"),
               ("cacheReadInputTokens", "cache_read"))


def _named(t: Totals, names=CCUSAGE_NAMES) -> dict:
    return {name: getattr(t, ours) for name, ours in names}


def _bucket() -> dict:
    return {"tokens": Totals(), "cost": 0.0, "_models": {}, "_unpriced": set(), "_first": None, "_last": None}


def _add(b: dict, u: Usage) -> None:
    t = u.tokens
    b["tokens"].add(t)
    b["cost"] += u.cost
    b["_first"] = u.first_ms if b["_first"] is None else min(b["_first"], u.first_ms)
    b["_last"] = u.last_ms if b["_last"] is None else max(b["_last"], u.last_ms)
    if u.unpriced:
        b["_unpriced"].add(u.model)
    name = u.model_name
    if name:
        m = b["_models"].setdefault(name, [Totals(), 0.0])
        m[0].add(t)
        m[1] += u.cost


def _finish(b: dict, breakdown: bool = True) -> dict:
    models = sorted(b["_models"].items(), key=lambda m: -m[1][1])
    unpriced = sorted(x for x in b["_unpriced"] if x)
    t = b["tokens"]
    row = {**_named(t), "totalTokens": t.total, "totalCost": round(b["cost"], 8), "entries": t.responses,
           "modelsUsed": [name for name, _ in models]}
    if breakdown:
        row["modelBreakdowns"] = [{"modelName": name, **_named(mt), "cost": round(cost, 8)} for name, (mt, cost) in models]
    if unpriced:
        row["unpricedModels"] = unpriced
    return row


def key_of(kind: str, ts_ms: int, tz: tzinfo) -> str:
    when = datetime.fromtimestamp(ts_ms / 1000, tz)
    if kind == "weekly":  # weeks start on Sunday, as `ccusage claude weekly`
        when -= timedelta(days=(when.weekday() + 1) % 7)
    return when.strftime("%Y-%m" if kind == "monthly" else "%Y-%m-%d")


def build(kind: str, rows, tz: tzinfo, since: str | None = None, until: str | None = None,
          project: str | None = None) -> dict:
    """rows: [Usage]; since/until: inclusive YYYY-MM-DD in `tz`."""
    field_list, field = KINDS[kind]
    groups: dict[str, dict] = {}
    totals = _bucket()
    days: dict[int, str] = {}  # slot start → day; thousands of rows share a slot
    for u in rows:
        day = days.get(u.ts_ms)
        if day is None:
            day = days[u.ts_ms] = key_of("daily", u.ts_ms, tz)
        if (since and day < since) or (until and day > until) or (project and u.project != project):
            continue
        if kind == "daily":
            key = day
        elif kind in ("weekly", "monthly"):
            key = key_of(kind, u.ts_ms, tz)
        elif kind == "session":
            key = f"{u.project}\0{u.session}"
        elif kind == "models":
            key = u.model_name
            if not key:
                continue
        else:
            key = u.project
        group = groups.setdefault(key, _bucket())
        if u.cost_state:
            _add(group.setdefault(u.cost_state, _bucket()), u)
            _add(totals.setdefault(u.cost_state, _bucket()), u)
        else:
            _add(group, u)
            _add(totals, u)
    out = []
    for key, b in groups.items():
        apart = {name: b.pop(source) for source, name in _APART if source in b}
        first, last = b.pop("_first"), b.pop("_last")
        if first is None:  # only cost-state usage in this group
            first = min(x["_first"] for x in apart.values())
            last = max(x["_last"] for x in apart.values())
        row = _finish(b)
        row.update({name: _finish_extra(x) for name, x in apart.items()})
        if kind == "session":
            project_path, session = key.split("\0")
            row = {"sessionId": session, "projectPath": project_path, "firstActivity": ms_to_iso(first),
                   "lastActivity": ms_to_iso(last), **row}
        else:
            row = {field: key, **row}
        out.append(row)
    if kind == "session":
        out.sort(key=lambda r: r["lastActivity"])
    elif kind == "models":
        out.sort(key=lambda r: -r["totalCost"])
    else:
        out.sort(key=lambda r: r[field])
    apart = {name: totals.pop(source) for source, name in _APART if source in totals}
    total = _finish(totals, breakdown=False)
    total.pop("modelsUsed")
    data = {field_list: out, "totals": total, "costNote": COST_NOTE}
    for name, x in apart.items():
        total[name] = _finish_extra(x)
        data[f"{name}Note"] = EXTRA_NOTE if name == "notInTranscript" else UNATTRIBUTED_NOTE
    return data


_APART = (("cost-state", "notInTranscript"), ("unattributed", "unattributed"))


def _finish_extra(b: dict) -> dict:
    row = _finish(b)
    del row["entries"], row["modelsUsed"]  # a record does not say how many calls
    return {"source": "cost-state", **row}


# ---------------------------------------------------------------- what used the tokens

ATTRIBUTION = {"tools": ("tools", "tool"), "agents": ("agents", "agent"), "skills": ("skills", "skill")}
NONE, MAIN, UNKNOWN_AGENT, UNATTRIBUTED = "(none)", "(main)", "(unknown subagent)", "(unattributed)"
SPLIT_RULE = ("A response's tokens go to the tools it called, each name once. With k tools each gets the integer "
              "part of 1/k of every token count and 1/k of its cost; the first name alphabetically also gets the "
              "remainder, so the rows' token counts add up exactly to the totals, which are report daily's (costs to "
              "within rounding).")
ATTRIBUTION_RULES = {
    "tools": SPLIT_RULE + f" {NONE}: responses that called no tool.",
    "agents": (f"A response made by a subagent goes to the subagent's type, whole; {MAIN}: the session's own agent; "
               f"{UNKNOWN_AGENT}: a subagent or side chain whose type no line names; (compaction): the agent "
               "/compact ran in."),
    "skills": (f"A response goes, whole, to the skill it ran under (a /command or the Skill tool loaded it), or, for "
               f"the response that called the Skill tool, to the skill it asked for; {NONE}: no skill."),
}
UNATTRIBUTED_RULE = f"{UNATTRIBUTED}: days only a history file holds (another machine, or transcripts since deleted)."


def names_of(kind: str, tools: str | None, skill: str | None, agent: str | None, subagent: bool) -> list[str]:
    """What a response is attributed to, as report `kind` counts it."""
    if kind == "tools":
        return tools.split(",") if tools else [NONE]
    if kind == "skills":
        return [skill or NONE]
    return [agent or (UNKNOWN_AGENT if subagent else MAIN)]


def split(value: int, parts: int) -> list[int]:
    """`value` in `parts` integer shares that add up to it: the remainder goes to the first."""
    share, rest = divmod(value, parts)
    return [share + rest] + [share] * (parts - 1)


def attribution(kind: str, rows, history, tz: tzinfo, since: str | None = None, until: str | None = None,
                project: str | None = None) -> dict:
    """rows: index.attributed() tuples; history: [Usage] the index cannot give (unattributed).
    since/until: inclusive YYYY-MM-DD in `tz`, as build()."""
    field_list, field = ATTRIBUTION[kind]
    groups: dict[str, dict] = {}
    totals = _bucket()
    days: dict[int, str] = {}

    def wanted(ts_ms: int, proj: str) -> bool:
        slot = ts_ms - ts_ms % 900_000  # every zone's day starts on a quarter hour
        day = days.get(slot)
        if day is None:
            day = days[slot] = key_of("daily", slot, tz)
        return not ((since and day < since) or (until and day > until) or (project and proj != project))

    for ts, model, fast, proj, session, inp, out, c5, c1, cread, cost, tools, skill, agent, subagent, _ref in rows:
        if not wanted(ts, proj):
            continue
        unpriced = int(cost is None)
        cost = cost or 0.0
        _add(totals, Usage(ts, model, bool(fast), proj, session, 1, inp, out, c5 + c1, cread, cost, unpriced, ts, ts))
        names = names_of(kind, tools, skill, agent, subagent)
        k = len(names)
        for name, *counts in zip(names, split(inp, k), split(out, k), split(c5 + c1, k), split(cread, k)):
            _add(groups.setdefault(name, _bucket()), Usage(ts, model, bool(fast), proj, session, 1, *counts, cost / k,
                                                           unpriced, ts, ts))
    for u in history:
        if wanted(u.ts_ms, u.project):
            _add(totals, u)
            _add(groups.setdefault(UNATTRIBUTED, _bucket()), u)
    grand = totals["tokens"].total
    out = []
    for name, b in groups.items():
        del b["_first"], b["_last"]
        row = {field: name, **_finish(b)}
        row["sharePct"] = round(100 * row["totalTokens"] / grand, 1) if grand else 0.0
        out.append(row)
    out.sort(key=lambda r: (-r["totalCost"], -r["totalTokens"], r[field]))
    total = _finish(totals, breakdown=False)
    total.pop("modelsUsed")
    rule = ATTRIBUTION_RULES[kind] + (f" {UNATTRIBUTED_RULE}" if UNATTRIBUTED in groups else "")
    return {field_list: out, "totals": total, "rule": rule, "costNote": COST_NOTE}


# ---------------------------------------------------------------- 5-hour blocks

def _floor_hour(ms: int) -> int:
    return ms - ms % 3_600_000


def blocks(rows, now_ms: int, known_resets: list[int] = (), since_ms: int | None = None,
           until_ms: int | None = None) -> dict:
    """ccusage's 5-hour blocks from [(entry, cost)] sorted by time.
    A real window end from the usage API (`known_resets`, epoch ms) places its
    window exactly; other blocks start at the floored hour, as ccusage guesses."""
    windows = sorted((end - BLOCK_MS, end) for end in set(known_resets))

    def real_window(t):
        return next((w for w in windows if w[0] <= t < w[1]), None)

    out, cur, start, real = [], [], None, None
    for e, cost in rows:
        window = real_window(e.ts_ms)
        if cur:
            last = cur[-1][0].ts_ms
            expired = e.ts_ms >= real[1] if real else e.ts_ms - start > BLOCK_MS
            if expired or e.ts_ms - last > BLOCK_MS or (window and window != real):
                out.append(_block(start, real, cur, now_ms))
                if e.ts_ms - last > BLOCK_MS:
                    out.append(_gap(last + BLOCK_MS, e.ts_ms))
                cur = []
        if not cur:
            real = window
            start = window[0] if window else _floor_hour(e.ts_ms)
        cur.append((e, cost))
    if cur:
        out.append(_block(start, real, cur, now_ms))
    out = [b for b in out if (since_ms is None or b["_end"] > since_ms) and (until_ms is None or b["_start"] < until_ms)]
    used = [b for b in out if not b["isGap"]]
    tokens = Totals()
    for b in used:
        tokens.add(b["_tokens"])
    totals = {**_named(tokens), "totalTokens": tokens.total, "totalCost": round(sum(b["costUSD"] for b in used), 8),
              "entries": tokens.responses}
    unpriced = sorted({m for b in used for m in b.get("unpricedModels", ())})
    if unpriced:
        totals["unpricedModels"] = unpriced
    for b in out:
        del b["_start"], b["_end"], b["_tokens"]
    return {"blocks": out, "totals": totals, "costNote": COST_NOTE}


def _block(start: int, real, cur, now_ms: int) -> dict:
    end = real[1] if real else start + BLOCK_MS
    first, last = cur[0][0].ts_ms, cur[-1][0].ts_ms
    tokens = Totals.of(e for e, _ in cur)
    cost = sum(c for _, c in cur if c is not None)
    total = tokens.total
    models = list(dict.fromkeys(e.model_name for e, _ in cur if e.model_name))
    unpriced = sorted({e.model for e, c in cur if c is None and e.model})
    active = now_ms - last < BLOCK_MS and now_ms < end
    minutes = (last - first) / 60_000
    # As ccusage: a rate only for the block still running (a past block's is history, not a forecast).
    burn = None if minutes <= 0 or not active else {"tokensPerMinute": total / minutes,
                                                    "tokensPerMinuteForIndicator": (tokens.input + tokens.output) / minutes,
                                                    "costPerHour": cost / minutes * 60}
    projection = None
    if burn:
        remaining = round((end - now_ms) / 60_000)
        projection = {"totalTokens": round(total + burn["tokensPerMinute"] * remaining),
                      "totalCost": round(cost + burn["costPerHour"] / 60 * remaining, 2), "remainingMinutes": remaining}
    block = {"id": ms_to_iso(start), "startTime": ms_to_iso(start), "endTime": ms_to_iso(end),
             "actualEndTime": ms_to_iso(last), "isActive": active, "isGap": False, "entries": tokens.responses,
             "tokenCounts": _named(tokens, BLOCK_NAMES),
             "totalTokens": total, "costUSD": round(cost, 8), "models": models, "burnRate": burn, "projection": projection,
             "window": "usage-api" if real else "estimated", "_start": start, "_end": end, "_tokens": tokens}
    if unpriced:
        block["unpricedModels"] = unpriced
    return block


def _gap(start: int, end: int) -> dict:
    return {"id": f"gap-{ms_to_iso(start)}", "startTime": ms_to_iso(start), "endTime": ms_to_iso(end), "actualEndTime": None,
            "isActive": False, "isGap": True, "entries": 0, "tokenCounts": _named(Totals(), BLOCK_NAMES), "totalTokens": 0, "costUSD": 0.0,
            "models": [], "burnRate": None, "projection": None, "window": None, "_start": start, "_end": end, "_tokens": Totals()}
