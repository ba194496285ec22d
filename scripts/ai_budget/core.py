"""The read API: the brief, the local usage summary and a session's measure, as
plain data, from state and sources, writing nothing.

Every surface shares these: `check`, `log` and the hooks call them and then do
their own writes; an MCP server or a web page can call them with no side
effects. The only files they can touch are caches: the usage API's (when
`allow_fetch`) and the transcript index (when transcripts changed since its last
sync, and once a UTC day with a retention set: its prune). With
`allow_fetch=False` and a warm index nothing at all is written.

    brief(now, *, allow_fetch=True, session_id=None, sync_index=True) -> dict
    usage_summary(now) -> dict
    usage_now(now) -> dict
    status(now, *, allow_fetch=True) -> dict
    live(now, *, allow_fetch=True, session_id=None) -> dict
    session_measure(session_id, now, *, allow_fetch=True) -> dict
    task_estimate(now, *, task_type, units, tier, files, reads, allow_fetch=True) -> dict
    api_credits(now) -> dict
    daily_history(now, days) -> dict
    dashboard(now, *, allow_fetch=True) -> dict
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from . import notices, paths
from .analysis import credits, estimate, history, limits, pace, periods, planner, reports
from .analysis.session_delta import five_hour_delta, is_pct
from .analysis.totals import summarize
from .errors import BudgetError, SourceUnavailable
from .sources import admin_api, backlog, cost_state, transcripts, utilisation
from .sources.dedup import Deduper
from .state import budget_file, history_file, index, ledgers, retention, session_state
from .timefmt import iso, iso_ms, parse_iso

MANUAL_STALE_AFTER = timedelta(days=2)
FIVE_HOURS = timedelta(hours=5)
LOG_FRESH_S = 30  # a cached reading older than this predates the work just done


def synced_prices(budget: dict, now=None):
    """The price table, after bringing the transcript index up to date (and, given
    `now` and a retention setting, pruning what the committed history holds)."""
    from .analysis import pricing
    from .outputs import progress

    prices = pricing.load(budget.get("pricing_overrides"))
    skipped = index.sync(prices, progress=progress.on_tty())["skipped_lines"]
    if skipped:
        notices.add(f"{skipped:,} transcript line(s) with usage skipped: they cannot be represented "
                    "(JSON nested too deep, a token count or a time out of range)")
    if now is not None and budget["retention"]["days"]:
        try:
            retention.prune(budget, now, paths.budget_home(), paths.machine_id())
        except BudgetError as exc:  # a malformed history file: keep every row, say why
            notices.add(f"retention: nothing pruned: {exc}")
    return prices


def current_session(session_id: str | None) -> tuple[str, Path | None]:
    """The session asked for, else the newest transcript of the working folder's project."""
    roots = paths.projects_roots()
    if session_id:
        return session_id, transcripts.find_session_by_id(roots, session_id)
    found = transcripts.find_current_session(roots, Path.cwd())
    return (found.stem, found) if found else ("no-transcript", None)


def session_entries(main_file: Path, prices=None) -> tuple[list, list]:
    """The session's de-duplicated entries and its cost-state extras
    [(ts_ms, model, 6-tuple, cost, attributed)]: from the index (synced by the caller) when
    the file is under a projects root, else read directly (a copied or archived
    transcript; its forks are not there to tell an inherited base apart)."""
    root = transcripts.root_of(main_file, paths.projects_roots())
    if root is None:
        dedup, states = Deduper(), []
        for path in transcripts.session_files(main_file):
            reader = transcripts.UsageLines(path, 0, states if path == main_file else None)
            dedup.extend(transcripts.read_entries(path, main_file.parent.name, main_file.stem, reader))
        rows = [(e.ts_ms, e.model, (e.input, e.output, e.cache_5m, e.cache_1h, e.cache_read, e.web_search)) for e in dedup.kept]
        extras = [(ts, model, v, prices.cost(model, ts, *v[:5]) if prices else None, attributed)
                  for _s, ts, model, v, attributed in cost_state.extras({main_file.stem: states}, {main_file.stem: rows})]
        return dedup.kept, extras
    project, session = transcripts.session_of(main_file, root)
    extras = [(r[2], r[3], tuple(r[4:10]), r[10], bool(r[11])) for r in index.extra_rows(project=project, session=session)]
    return [e for e, _cost in index.entries(project=project, session=session)], extras


# ---------------------------------------------------------------- the brief

def manual_balance(section: dict, now, name: str) -> dict:
    updated = parse_iso(section.get("last_updated"))
    resets = parse_iso(section.get("resets_at"))
    info = dict(section)
    info["age_days"] = round((now - updated).total_seconds() / 86400, 1) if updated else None
    info["stale"] = updated is None or now - updated > MANUAL_STALE_AFTER
    info["reset_since_update"] = bool(resets and updated and updated < resets <= now)
    used, limit = section.get("used"), section.get("limit")
    info["remaining"] = None if used is None or limit is None else limit - used
    info["how_to_update"] = paths.cli_command("set", name, "--used N" if name == "copilot" else "--status TEXT")
    return info


def _local(budget: dict, now, five: dict, sync_index: bool = True) -> dict:
    """What this machine's transcripts say about today and the current 5-hour window.
    sync_index=False (a first build runs in the background): what the index holds so far,
    marked `counting`."""
    if sync_index:
        synced_prices(budget, now)
    # The limits' local midnight: on a DST day it has another offset than now.
    out = {"today": _since(limits.period_starts(now)["daily"]), "window": None, **({} if sync_index else {"counting": True})}
    resets = parse_iso(five.get("resets_at"))
    if resets and resets > now:
        out["window"] = _since(resets - FIVE_HOURS)
    return out


def _since(start) -> dict:
    tokens, cost, unpriced = index.totals_since(int(start.timestamp() * 1000))
    return {"responses": tokens.responses, "tokens": tokens.total, "output_tokens": tokens.output,
            "cost_usd": round(cost, 4), "unpriced": unpriced}


def spend_limits(budget: dict, now) -> dict:
    """The spend limits' status per local calendar period (index synced by the caller):
    API-equivalent dollars (or tokens) of this machine's transcript lines since each start."""
    lim = budget["limits"]
    starts = limits.period_starts(now)
    got = index.period_spend(limits.starts_ms(lim, now))
    unpriced = max((g["unpriced"] for g in got.values()), default=0)
    evaluated = limits.evaluate(lim, limits.spent_of(lim, got))
    ends = limits.period_ends(now) if evaluated else {}
    for period, e in evaluated.items():
        e.update(since=starts[period].isoformat(), resets_at=ends[period].isoformat())
    status = limits.worst(evaluated)
    return {"status": status, "exit_code": limits.EXIT_CODES[status], "unit": lim["unit"],
            "warn_at": lim["warn_at"], "critical_at": lim["critical_at"], "periods": evaluated,
            "unpriced_responses": unpriced,
            "note": "API-equivalent estimate at list prices (a subscription has no per-token bill)"
            if lim["unit"] == "usd" else "all tokens: input, output, cache writes and reads"}


def used_5h(util: dict) -> float | None:
    """The 5-hour utilisation, unless the reading predates the window's reset."""
    five = util.get("five_hour") or {}
    return None if five.get("reset_since") else five.get("util")


def brief(now, *, allow_fetch: bool = True, session_id: str | None = None, sync_index: bool = True) -> dict:
    """What `check --json` shows, but for the session start it records (`session`
    holds only the id and transcript here). sync_index=False: the index as it is
    (a first build is running; `local.counting` says so)."""
    budget = budget_file.load(paths.budget_file())
    util = utilisation.current(budget, now, allow_fetch=allow_fetch)
    for key in ("five_hour", "seven_day"):
        win = util.get(key) or {}
        win["pace"] = pace.pace(win.get("util"), parse_iso(win.get("resets_at")), now, key) if not win.get("reset_since") else None
    alternatives = []
    copilot = manual_balance(budget["copilot"], now, "copilot")
    gemini = manual_balance(budget["gemini"], now, "gemini")
    if copilot["remaining"] is None or copilot["remaining"] > 0:
        alternatives.append("Copilot")
    if str(gemini.get("status", "")).lower() in ("active", "ok", "available", "free"):
        alternatives.append("Gemini")
    tasks = backlog.read(paths.budget_home() / "tasks" / "backlog.md")
    weekly = (util.get("seven_day") or {}).get("util")
    plan = planner.plan(tasks, budget["calibration"], used_5h(util), weekly, alternatives, budget["alerts"]["warn_at"])
    session_id, transcript = current_session(session_id)
    local = _local(budget, now, util.get("five_hour") or {}, sync_index)
    return {"generated_at": iso(now), "claude": util, "local": local, "limits": spend_limits(budget, now),
            "copilot": copilot, "gemini": gemini, "api_credits": api_credits(now), "backlog": plan,
            "session": {"id": session_id, "transcript": str(transcript) if transcript else None}}


def month_start(now):
    return limits.period_starts(now)["monthly"]


def api_credits(now) -> dict:
    """Anthropic API credits from their ledger (balance, this month's spend, burn, runway);
    a malformed ledger is named in `problem` and a warning, never a failed brief."""
    try:
        entries = ledgers.read(paths.budget_home(), "api")
    except BudgetError as exc:
        notices.add(str(exc))
        return {**credits.summary([], now, month_start(now)), "problem": str(exc)}
    return {**credits.summary(entries, now, month_start(now)), "problem": None,
            "how_to_update": paths.cli_command("set", "api", "--balance", "USD")}


def usage_summary(now) -> dict:
    """API-equivalent usage on this machine: today, this 5-hour window (None when no
    reading places it) and this month, from the last reading (never fetched)."""
    budget = budget_file.load(paths.budget_file())
    out = _local(budget, now, utilisation.current(budget, now, allow_fetch=False).get("five_hour") or {})
    return {**out, "month": _since(month_start(now))}


def status(now, *, allow_fetch: bool = True) -> dict:
    """`budget status`: the spend limits and the 5-hour window (with its pace)."""
    budget = budget_file.load(paths.budget_file())
    util = utilisation.current(budget, now, allow_fetch=allow_fetch)
    five = dict(util.get("five_hour") or {})
    five["pace"] = None if five.get("reset_since") else pace.pace(five.get("util"), parse_iso(five.get("resets_at")), now)
    synced_prices(budget, now)
    return {"generated_at": iso(now), "limits": spend_limits(budget, now), "five_hour": five, "alerts": budget["alerts"],
            "source": util["source"], "observed_at": util.get("observed_at"), "stale": util.get("stale"),
            "problem": util.get("problem")}


def live(now, *, allow_fetch: bool = True, session_id: str | None = None) -> dict:
    """`budget watch`'s frame: the 5-hour window (gauge, pace, the local cost in it and
    its burn rate and projection to the reset), today against its limit, and the
    current session."""
    out = status(now, allow_fetch=allow_fetch)
    five = out["five_hour"]
    resets = parse_iso(five.get("resets_at"))
    window = None
    if resets and resets > now and not five.get("reset_since"):
        start = resets - FIVE_HOURS
        window = {**_since(start), "since": iso(start)}
        window["burn_usd"] = pace.burn(window["cost_usd"], start, resets, now)
        if five.get("util") is not None:
            window["burn_pct"] = pace.burn(float(five["util"]), start, resets, now)
    out["window"] = window
    out["today"] = _since(limits.period_starts(now)["daily"])
    session_id, transcript = current_session(session_id)
    session = {"id": session_id, "tokens": None, "cost_usd": None}
    root = transcripts.root_of(transcript, paths.projects_roots()) if transcript else None
    if root is not None:
        totals, cost = index.session_totals(*transcripts.session_of(transcript, root))
        session.update(tokens=totals.total, responses=totals.responses, cost_usd=round(cost, 4))
    out["session"] = session
    return out


def usage_now(now) -> dict:
    """`budget usage`: today, this week and this month on this machine (tokens,
    API-equivalent cost, sessions, daily average, top models and projects) and the
    limits' status. Weeks start on Monday, as the limits' do."""
    budget = budget_file.load(paths.budget_file())
    synced_prices(budget, now)
    starts = limits.period_starts(now)
    slot_ms = min(index.slot_ms_for(s.tzinfo, s) for s in starts.values())  # no slot straddles a period start
    rows = index.usage(int(min(starts.values()).timestamp() * 1000), per_session=True, slot_ms=slot_ms)
    return {"generated_at": iso(now),
            **{period: periods.summary(rows, starts[period], now) for period in limits.PERIODS},
            "limits": spend_limits(budget, now),
            "note": "API-equivalent estimates at list prices of transcript lines (as ccusage counts them); "
                    "a subscription is billed by plan"}


# ---------------------------------------------------------------- a task's estimate

PRICE_DAYS = 30  # the recent usage whose cost per output token prices an estimate


def usd_per_output_token(budget: dict, now) -> tuple[float, str]:
    """This machine's API-equivalent cost per output token over the last PRICE_DAYS days
    (input and cache reads included), else the newest Sonnet's list price for output alone."""
    prices = synced_prices(budget)
    tokens, cost, unpriced = index.totals_since(int((now - timedelta(days=PRICE_DAYS)).timestamp() * 1000))
    if tokens.output > 0 and cost > 0:
        return cost / tokens.output, (f"${cost / tokens.output * 1000:.3f} per 1,000 output tokens, this machine's "
                                      f"last {PRICE_DAYS} days with input and cache"
                                      + (f" ({unpriced:,} unpriced responses count as $0: a lower bound)" if unpriced else ""))
    model = prices.newest("sonnet")
    rate = prices.cost(model, int(now.timestamp() * 1000), 0, 1_000_000, 0, 0, 0) / 1_000_000
    return rate, f"{model} list price of the output tokens alone (no local usage yet): a lower bound"


def task_estimate(now, *, task_type: str | None, units: int | None, tier: str | None, files: int = 0, reads: int = 0,
                  allow_fetch: bool = True) -> dict:
    """`budget estimate`: a task's % of the 5-hour window, output tokens and API-equivalent
    dollars, and whether it fits before the reset (analysis/estimate.py). Writes nothing
    but the caches, as brief does."""
    budget = budget_file.load(paths.budget_file())
    util = utilisation.current(budget, now, allow_fetch=allow_fetch)
    used = used_5h(util)
    out = estimate.estimate(task_type=task_type, n_units=units, tier_name=tier, files=files, reads=reads,
                            calibration=budget["calibration"], claude=budget["claude"], used_5h=used,
                            usd_per_token=usd_per_output_token(budget, now))
    five = util.get("five_hour") or {}
    out["utilisation"] = {"source": util["source"], "observed_at": util["observed_at"], "stale": util["stale"], "age_s": util.get("age_s"),
                          "problem": util.get("problem"), "resets_at": None if five.get("reset_since") else five.get("resets_at")}
    return out


# ---------------------------------------------------------------- history and the dashboard

def history_rows(home, machine: str, warnings: list) -> list:
    """Rows the index cannot give: this machine's lost days, and other machines'."""
    rows = []
    try:
        own = history_file.read(history_file.path_for(home, machine))
        if own:
            rows += history.as_usage(history.missing(own, index.daily_by_model()), machine)
    except BudgetError as exc:
        warnings.append(str(exc))
    for name, path in history_file.others(home, machine):
        try:
            rows += history.as_usage(history_file.read(path), name)
        except BudgetError as exc:
            warnings.append(str(exc))
    return rows


MAX_HISTORY_DAYS = 366


def daily_history(now, days: int) -> dict:
    """API-equivalent cost and tokens per local day for the last `days` days (today
    included, days without use as zeros), this machine's index plus the committed history."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_HISTORY_DAYS:
        raise BudgetError(f"days: must be a whole number from 1 to {MAX_HISTORY_DAYS}")
    tz = now.astimezone().tzinfo
    first = (now.astimezone() - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    since = first.strftime("%Y-%m-%d")
    synced_prices(budget_file.load(paths.budget_file()))
    warnings: list[str] = []
    rows = index.usage(int(first.timestamp() * 1000) - 86_400_000, None, per_session=False,
                       slot_ms=index.slot_ms_for(tz, now))
    rows += history_rows(paths.budget_home(), paths.machine_id(), warnings)
    found = {r["date"]: r for r in reports.build("daily", rows, tz, since)["daily"]}
    out = []
    for n in range(days):
        day = (first + timedelta(days=n)).strftime("%Y-%m-%d")
        r = found.get(day)
        out.append({"date": day, "cost_usd": round(r["totalCost"], 4) if r else 0.0,
                    "tokens": r["totalTokens"] if r else 0, "output_tokens": r["outputTokens"] if r else 0,
                    "by_model": {m["modelName"]: round(m["cost"], 4) for m in r["modelBreakdowns"]} if r else {}})
    for w in warnings:
        notices.add(w)
    return {"since": since, "days": out, "total_cost_usd": round(sum(d["cost_usd"] for d in out), 2),
            "cost_note": reports.COST_NOTE}


def level(used: float | None, alerts: dict) -> str:
    """The 5-hour window's state, by budget.json's thresholds: none, normal, warning or critical."""
    if used is None:
        return "none"
    return "critical" if used >= alerts["critical_at"] else "warning" if used >= alerts["warn_at"] else "normal"


def _admin(now) -> dict | None:
    if not admin_api.configured():
        return None
    try:
        return {**admin_api.month(month_start(now), now), "problem": None}
    except SourceUnavailable as exc:
        return {"spend_usd": None, "by_model": [], "problem": str(exc)}


def dashboard(now, *, allow_fetch: bool = True) -> dict:
    """Everything the dashboard shows: the brief, this month's local usage, today's
    sessions and models, calibration, the 5-hour state, the ledgers and (with an
    Admin key, when fetching) the API's own month. Writes nothing but the caches."""
    from .outputs.brief import recommendation

    data = brief(now, allow_fetch=allow_fetch)
    data.pop("session")  # the server's working folder says nothing about which session the user means
    budget = budget_file.load(paths.budget_file())
    tz = now.astimezone().tzinfo
    midnight = limits.period_starts(now)["daily"]
    today = midnight.strftime("%Y-%m-%d")
    rows = index.usage(int(midnight.timestamp() * 1000), None, per_session=True, slot_ms=index.slot_ms_for(tz, now))
    sessions = reports.build("session", rows, tz, today)
    models = reports.build("models", rows, tz, today)
    data["local"]["month"] = _since(month_start(now))
    data["sessions_today"] = {"count": len(sessions["sessions"]), "cost_usd": round(sessions["totals"]["totalCost"], 4),
                              "tokens": sessions["totals"]["totalTokens"]}
    data["models_today"] = [{"model": m["modelName"], "cost_usd": round(m["totalCost"], 4), "tokens": m["totalTokens"],
                             "output_tokens": m["outputTokens"]} for m in models["models"]]
    used = used_5h(data["claude"])
    data["alerts"] = budget["alerts"]
    data["plan"] = data["claude"].get("plan") or budget["claude"].get("plan")  # a status-line reading names none
    data["state"] = level(used, budget["alerts"])
    data["recommendation"] = recommendation(data["backlog"], data["claude"], now)
    data["calibration"] = [{"task_type": name, "unit": e["unit"], "samples": e["samples"], "avg_5h_pct": e["avg_5h_pct"],
                            "sd_5h_pct": e.get("sd_5h_pct"), "avg_output_tokens": e["avg_output_tokens"]} for name, e in sorted(budget["calibration"].items())]
    ledger_rows = {}
    for name in ("copilot", "gemini"):
        try:
            ledger_rows[name] = ledgers.read(paths.budget_home(), name)[-10:]
        except BudgetError as exc:
            notices.add(str(exc))
            ledger_rows[name] = []
    data["ledgers"] = ledger_rows
    data["admin"] = _admin(now) if allow_fetch else None
    data["commands"] = {"fetch": paths.cli_command("fetch"), "statusline": paths.cli_command("install", "--statusline"),
                        "report": paths.cli_command("report", "daily"), "backlog": str(paths.budget_home() / "tasks" / "backlog.md"),
                        "calibrate": paths.cli_command("log", "--task", "TYPE:UNITS")}
    data["cost_note"] = reports.COST_NOTE
    return data


# ---------------------------------------------------------------- a session's measure

def usable(util: dict, budget: dict, now) -> dict:
    """A reading whose percentages are not finite numbers ≥ 0 measures nothing, and
    must not reach budget.json (it would fail validation after the log was written)."""
    for key in ("five_hour", "seven_day"):
        value = (util.get(key) or {}).get("util")
        if value is not None and not is_pct(value):
            return utilisation.last_known(budget, now, f"the {key.replace('_', '-')} reading {value!r} is not a percentage")
    return util


def local_share(session_id: str, since_ms: int) -> float | None:
    """This session's share of all local API-equivalent cost since `since_ms`."""
    costs = index.cost_by_session(since_ms)
    total = sum(costs.values())
    return costs.get(session_id, 0.0) / total if total > 0 else None


def session_measure(session_id: str | None, now, *, allow_fetch: bool = True) -> dict:
    """What `log` would measure for a session (None: the working folder's newest):
    its responses since its start (`session_state.start_for`), their tokens and
    cost, and the 5-hour delta from the start reading to a reading newer than it."""
    budget = budget_file.load(paths.budget_file())
    session_id, transcript = current_session(session_id)
    prices = synced_prices(budget, now)
    session = session_entries(transcript)[0] if transcript else []  # lines only; `tokens` shows the cost-state extras
    start = session_state.start_for(session_id, min((e.ts_ms for e in session), default=None))
    since_ms = iso_ms(start["started_at"]) if start else None
    entries = [e for e in session if since_ms is None or e.ts_ms >= since_ms]
    started = parse_iso(start["started_at"]) if start else None
    # A cached reading from before (or at) the start says nothing about the work since.
    max_age = min(LOG_FRESH_S, (now - started).total_seconds() - 1) if started else LOG_FRESH_S
    util = usable(utilisation.current(budget, now, allow_fetch=allow_fetch, max_age=max(0.0, max_age)), budget, now)
    five = util.get("five_hour") or {}
    observed = parse_iso(util.get("observed_at"))
    start_observed = parse_iso(start.get("observed_at")) if start else None
    newer = observed is not None and (start_observed is None or observed > start_observed)
    end = {"util": five.get("util"), "resets_at": five.get("resets_at"),
           "problem": util.get("problem") or (None if newer else "no reading newer than the session start"),
           "trusted": util["source"] != "none" and not util["stale"] and newer}
    costs = [prices.entry_cost(e) for e in entries]
    share = local_share(session_id, since_ms) if since_ms else None
    seven_before = start["seven_day"].get("util") if start else None
    cost_usd = round(sum(c for c in costs if c is not None), 4)
    return {"session_id": session_id, "transcript": str(transcript) if transcript else None, "start": start,
            "util": util, "end": end,
            "delta": five_hour_delta(start and {**start["five_hour"], "trusted": start.get("trusted")}, end, share),
            "seven_day": {"before": seven_before if is_pct(seven_before) else None,
                          "after": (util.get("seven_day") or {}).get("util")},
            "tokens": summarize(entries), "cost_usd": cost_usd,
            "unpriced_models": sorted({e.model for e, c in zip(entries, costs) if c is None}),
            # The transcript holds no response since the start: a sample would drag the averages
            # toward 0 (or take other sessions' usage as this one's).
            "idle": transcript is not None and not entries}
