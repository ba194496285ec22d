"""Usage reports from de-duplicated (entry, cost) rows, in ccusage's JSON field
names so scripts written against ccusage read ours unchanged. Pure.
Costs are API-equivalent estimates; unknown models are listed, never $0."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from ..timefmt import ms_to_iso

KINDS = {"daily": ("daily", "date"), "weekly": ("weekly", "week"), "monthly": ("monthly", "month"),
         "session": ("sessions", "sessionId"), "models": ("models", "modelName"), "projects": ("projects", "project")}


def _bucket() -> dict:
    return {"inputTokens": 0, "outputTokens": 0, "cacheCreationTokens": 0, "cacheReadTokens": 0,
            "totalTokens": 0, "totalCost": 0.0, "entries": 0, "_models": {}, "_unpriced": set(), "_first": None, "_last": None}


def _add(b: dict, e, cost) -> None:
    b["inputTokens"] += e.input
    b["outputTokens"] += e.output
    b["cacheCreationTokens"] += e.cache_create
    b["cacheReadTokens"] += e.cache_read
    b["totalTokens"] += e.total
    b["entries"] += 1
    b["_first"] = e.ts_ms if b["_first"] is None else min(b["_first"], e.ts_ms)
    b["_last"] = e.ts_ms if b["_last"] is None else max(b["_last"], e.ts_ms)
    if cost is None:
        b["_unpriced"].add(e.model)
    else:
        b["totalCost"] += cost
    name = e.model_name
    if name:
        m = b["_models"].setdefault(name, {"modelName": name, "inputTokens": 0, "outputTokens": 0,
                                           "cacheCreationTokens": 0, "cacheReadTokens": 0, "cost": 0.0})
        m["inputTokens"] += e.input
        m["outputTokens"] += e.output
        m["cacheCreationTokens"] += e.cache_create
        m["cacheReadTokens"] += e.cache_read
        m["cost"] += cost or 0.0


def _finish(b: dict, breakdown: bool = True) -> dict:
    models = sorted(b.pop("_models").values(), key=lambda m: -m["cost"])
    unpriced = sorted(x for x in b.pop("_unpriced") if x)
    first, last = b.pop("_first"), b.pop("_last")
    b["totalCost"] = round(b["totalCost"], 8)
    b["modelsUsed"] = [m["modelName"] for m in models]
    if breakdown:
        b["modelBreakdowns"] = [{**m, "cost": round(m["cost"], 8)} for m in models]
    if unpriced:
        b["unpricedModels"] = unpriced
    b["_span"] = (first, last)
    return b


def key_of(kind: str, e, tz: tzinfo) -> str:
    when = datetime.fromtimestamp(e.ts_ms / 1000, tz)
    if kind == "daily":
        return when.strftime("%Y-%m-%d")
    if kind == "weekly":  # weeks start on Sunday, as `ccusage claude weekly`
        return (when - timedelta(days=(when.weekday() + 1) % 7)).strftime("%Y-%m-%d")
    if kind == "monthly":
        return when.strftime("%Y-%m")
    if kind == "session":
        return f"{e.project}\0{e.session}"
    if kind == "models":
        return e.model_name or ""
    return e.project


def build(kind: str, rows, tz: tzinfo, since: str | None = None, until: str | None = None,
          project: str | None = None) -> dict:
    """rows: [(entry, cost)]; since/until: inclusive YYYY-MM-DD in `tz`."""
    field_list, field = KINDS[kind]
    groups: dict[str, dict] = {}
    totals = _bucket()
    for e, cost in rows:
        day = datetime.fromtimestamp(e.ts_ms / 1000, tz).strftime("%Y-%m-%d")
        if (since and day < since) or (until and day > until) or (project and e.project != project):
            continue
        key = key_of(kind, e, tz)
        if kind == "models" and not key:
            continue
        _add(groups.setdefault(key, _bucket()), e, cost)
        _add(totals, e, cost)
    out = []
    for key, b in groups.items():
        row = _finish(b)
        first, last = row.pop("_span")
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
    total = _finish(totals, breakdown=False)
    total.pop("_span")
    total.pop("modelsUsed")
    return {field_list: out, "totals": total, "costNote": "API-equivalent estimate at list prices; a subscription is billed by plan"}
