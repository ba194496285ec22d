"""budget log: the whole end of a session in one call — measure, calibrate,
write the session log, move finished backlog lines, commit.

Every input is validated before anything is written. Then the log section is
appended first (it is the record calibration can be rebuilt from), budget.json
is updated in one atomic write, backlog moves write completed.md before
removing from backlog.md, and the commit comes last."""

from __future__ import annotations

from pathlib import Path

from .. import paths
from ..analysis import calibration as cal
from ..analysis.session_delta import five_hour_delta, split
from ..analysis.totals import summarize
from ..errors import BudgetError
from ..outputs import gitrepo, session_log
from ..outputs.text import num
from ..sources import backlog, utilisation
from ..state import budget_file, history_file, index, session_state
from ..state.atomic import write_atomic
from ..state.budget_file import empty_calibration
from ..timefmt import iso, iso_ms, parse_iso
from . import Result, synced_prices, tokens
from .check import current_session
from .set_balance import parse_count

LOG_FRESH_S = 30  # a cached reading older than this predates the work just done


def parse_tasks(specs: list[str], calibration: dict) -> list[dict]:
    merged: dict[str, dict] = {}
    for spec in specs or []:
        parts = spec.split(":", 2)
        if len(parts) < 2:
            raise BudgetError(f"--task: expected TYPE:UNITS[:DESCRIPTION], got {spec!r}")
        name = parts[0].strip().lower()
        cal.require_type(calibration, name)
        units, _, _ = cal.validate_sample(parts[1].strip(), 0)
        desc = parts[2].strip() if len(parts) > 2 else ""
        if name in merged:
            merged[name]["units"] += units
            merged[name]["description"] = "; ".join(x for x in (merged[name]["description"], desc) if x)
        else:
            merged[name] = {"type": name, "units": units, "description": desc}
    return list(merged.values())


def local_share(session_id: str, since_ms: int) -> float | None:
    """This session's share of all local API-equivalent cost since `since_ms`."""
    costs = index.cost_by_session(since_ms)
    total = sum(costs.values())
    return costs.get(session_id, 0.0) / total if total > 0 else None


def run(args, now) -> Result:
    home = paths.budget_home()
    path = paths.budget_file()
    budget = budget_file.load(path)
    tasks = parse_tasks(args.task, budget["calibration"])
    copilot_used = parse_count(args.copilot_used, "--copilot-used")
    backlog_path, completed_path = home / "tasks" / "backlog.md", home / "tasks" / "completed.md"
    backlog_tasks = backlog.read(backlog_path)
    moves = [backlog.find(backlog_tasks, needle) for needle in args.complete or []]
    if len({t.line_no for t in moves}) != len(moves):
        raise BudgetError("--complete: two of the given texts match the same backlog line")

    session_id, transcript = current_session(args.session)
    prices = synced_prices(budget)
    session = tokens.session_entries(transcript)[0] if transcript else []  # lines only; `tokens` shows the cost-state extras
    start = session_state.start_for(session_id, min((e.ts_ms for e in session), default=None))
    since_ms = iso_ms(start["started_at"]) if start else None
    entries = [e for e in session if since_ms is None or e.ts_ms >= since_ms]
    started = parse_iso(start["started_at"]) if start else None
    # A cached reading from before (or at) the start says nothing about the work since.
    max_age = min(LOG_FRESH_S, (now - started).total_seconds() - 1) if started else LOG_FRESH_S
    util = utilisation.current(budget, now, allow_fetch=not args.no_fetch, max_age=max(0.0, max_age))
    five = util.get("five_hour") or {}
    observed = parse_iso(util.get("observed_at"))
    start_observed = parse_iso(start.get("observed_at")) if start else None
    newer = observed is not None and (start_observed is None or observed > start_observed)
    end = {"util": five.get("util"), "resets_at": five.get("resets_at"),
           "problem": util.get("problem") or (None if newer else "no reading newer than the session start"),
           "trusted": util["source"] != "none" and not util["stale"] and newer}
    totals = summarize(entries)
    costs = [prices.entry_cost(e) for e in entries]
    unpriced = sorted({e.model for e, c in zip(entries, costs) if c is None})
    cost_usd = round(sum(c for c in costs if c is not None), 4)
    share = local_share(session_id, since_ms) if since_ms else None
    delta = five_hour_delta(start and {**start["five_hour"], "trusted": start.get("trusted")}, end, share)
    parts = split(delta["delta"] if delta["trusted"] else None, totals["output_tokens"], tasks, budget["calibration"])

    new_cal, cal_text = {}, []
    for part in parts:
        old = budget["calibration"][part["type"]]
        entry = cal.add_sample(old, part["units"], part["pct"] if delta["trusted"] else None, part["output_tokens"])
        new_cal[part["type"]] = entry
        if entry["avg_5h_pct"] is not None and delta["trusted"]:
            cal_text.append(f"{part['type']} {old['samples']}→{entry['samples']} samples, avg now {entry['avg_5h_pct']:.2f}%/unit")
        else:
            cal_text.append(f"{part['type']} tokens only (5h delta not trusted; still {entry['samples']} samples)")

    cop = dict(budget["copilot"])
    if copilot_used is not None:
        cop.update(used=copilot_used, last_updated=iso(now))
    copilot_text = (f"{num(cop['used'])} of {num(cop['limit'])} {cop['unit'].replace('_', ' ')} used"
                    + ("" if copilot_used is not None else f" (as of {str(cop.get('last_updated'))[:10]})")
                    if cop.get("used") is not None else "no count recorded")
    seven = util.get("seven_day") or {}
    date = now.astimezone().strftime("%Y-%m-%d")
    rec = {
        "v": 1, "session_id": session_id, "date": date,
        "started_at": start["started_at"] if start else None, "ended_at": iso(now),
        "started_local": started.astimezone().strftime("%H:%M") if started else "?",
        "ended_local": now.astimezone().strftime("%H:%M"),
        "delta": delta,
        "seven_day": {"before": start["seven_day"]["util"] if start else None, "after": seven.get("util")},
        "tokens": {k: totals[k] for k in ("exchanges", "input_tokens", "output_tokens", "cache_creation_input_tokens",
                                           "cache_read_input_tokens", "web_search_requests", "web_fetch_requests")},
        "cost_usd": cost_usd, "unpriced_models": unpriced,
        "cost_text": f"${cost_usd:.2f}" + (f" + unpriced: {', '.join(unpriced)}" if unpriced else ""),
        "copilot": copilot_text, "gemini": args.gemini or str(budget["gemini"].get("status", "")).replace("_", " "),
        "tasks": parts,
        "calibration_tasks": [{"type": p["type"], "units": p["units"], "pct": p["pct"] if delta["trusted"] else None,
                               "output_tokens": p["output_tokens"]} for p in parts],
        "calibration_text": cal_text, "lessons": args.lesson or [], "next": args.next or [],
        "completed": [t.raw.strip() for t in moves],
    }

    if start and start.get("terminal") and not session_state.claim(start, session_id):
        raise BudgetError("log: the terminal check this session started from was just used by another log; run log again")
    log_path = home / "sessions" / f"{date}.md"
    session_log.append(log_path, session_log.render(rec), date)
    with budget_file.update(path) as fresh:
        fresh["calibration"].update(new_cal)
        fresh["copilot"] = {**fresh["copilot"], **{k: cop[k] for k in ("used", "last_updated")}}
        utilisation.record(fresh["claude"], util)
    changed = [path, log_path]
    try:
        history_path, history_changed = history_file.save(home, paths.machine_id())
        changed += [history_path] if history_changed else []
    except BudgetError as exc:  # a malformed history file must not lose the session record
        history_note = str(exc)
    else:
        history_note = None
    if moves:
        move_lines(backlog_path, completed_path, moves, date)
        changed += [backlog_path, completed_path]
    session_state.mark_logged(session_id, session_state.snapshot(iso(now), util, end["trusted"] and five.get("util") is not None))
    summary = ", ".join(f"{t['type']} {t['units']}" for t in tasks)
    message = f"session: {date} {now.astimezone().strftime('%H:%M')}" + (f" — {summary}" if summary else "")
    git = {"committed": False, "sha": None, "notes": ["--no-commit: files written, not committed"]} if args.no_commit \
        else gitrepo.commit(home, changed, message)
    data = {**{k: v for k, v in rec.items() if k not in ("cost_text", "calibration_text")},
            "log_file": str(log_path), "commit": git, "commit_message": message}
    warnings = (git["notes"] if not git["committed"] else []) + ([history_note] if history_note else [])
    return Result(data=data, text=render_summary(rec, log_path, git), warnings=warnings)


def move_lines(backlog_path: Path, completed_path: Path, moves, date: str) -> None:
    done = completed_path.read_text(encoding="utf-8") if completed_path.exists() else "# Completed Tasks\n"
    added = "".join(f"- {date} {t.raw.strip().lstrip('-* ').strip()}" + (f" ({t.section})" if t.section else "") + "\n" for t in moves)
    write_atomic(completed_path, done.rstrip("\n") + "\n" + added)
    drop = {t.line_no for t in moves}
    lines = backlog_path.read_text(encoding="utf-8").splitlines(keepends=True)
    write_atomic(backlog_path, "".join(l for n, l in enumerate(lines, 1) if n not in drop))


def render_summary(rec: dict, log_path: Path, git: dict) -> str:
    d = rec["delta"]
    where = f"commit {git['sha']}" if git["committed"] else "not committed"
    lines = [f"Session logged to {log_path.parent.name}/{log_path.name} ({where})"]
    if d["delta"] is not None:
        lines.append(f"Claude 5h: {d['before']:.1f}% → {d['after']:.1f}% (Δ+{d['delta']:.1f}% this session)")
    if d.get("reason"):
        lines.append(f"  note: {d['reason']}" + ("" if d["trusted"] else "; not used for calibration"))
    lines.append(f"Tokens: {rec['tokens']['output_tokens']:,} output, {rec['tokens']['exchanges']} responses; "
                 f"{rec['cost_text']} API-equivalent (estimate)")
    lines += [f"Calibration: {t}" for t in rec["calibration_text"]]
    lines += [f"Moved to completed: {t}" for t in rec["completed"]]
    lines += [f"git: {n}" for n in git["notes"]]
    return "\n".join(lines)


def rebuild_calibration(now) -> Result:
    """Recompute every average from the sessions' machine-readable records."""
    home = paths.budget_home()
    records = session_log.records(home / "sessions")
    with budget_file.update(paths.budget_file()) as budget:
        rebuilt = {name: empty_calibration(e.get("unit", "per unit")) for name, e in budget["calibration"].items()}
        for rec in records:
            for t in rec.get("calibration_tasks", []):
                entry = rebuilt.setdefault(t["type"], empty_calibration("per unit"))
                rebuilt[t["type"]] = cal.add_sample(entry, t["units"], t.get("pct"), t.get("output_tokens"))
        budget["calibration"] = rebuilt
    text = f"Rebuilt calibration from {len(records)} session record(s)"
    return Result(data={"records": len(records), "calibration": rebuilt}, text=text)
