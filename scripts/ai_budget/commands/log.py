"""budget log: the whole end of a session in one call — measure, calibrate,
write the session log, move finished backlog lines, commit.

Three steps, described with the write order in docs/ARCHITECTURE.md ("`log` in
three steps"): core.session_measure, then plan (writes nothing; validates
everything), then apply. A retry after a failure or kill -9 replaces what the
failed run wrote: the record is identified by its session and start, and
budget.json remembers the samples it applied for it (`applied_logs`)."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .. import core, paths
from ..analysis import calibration as cal
from ..analysis.accuracy import session_estimates
from ..analysis.session_delta import split
from ..atomic import locked, write_atomic
from ..errors import BudgetError
from ..outputs import gitrepo, session_log
from ..outputs.text import num
from ..sources import backlog, utilisation
from ..state import budget_file, history_file, session_state
from ..timefmt import iso, parse_iso
from . import Result


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


@dataclass
class Plan:
    """Every write one log makes, named before any is made (docs/ARCHITECTURE.md,
    "`log` in three steps"). budget.json is named by the fields that change and the
    inputs that change them: apply recomputes them on the file as it is under its
    lock, so a concurrent writer's fields survive."""
    rec: dict
    log_path: Path
    section: str  # the session log section
    budget_path: Path
    budget_fields: list[str]
    util: dict
    copilot_used: int | None
    claim: dict | None  # the terminal check adopted as the start, claimed first
    mark: dict  # the session's start file after this log (session_state.snapshot)
    history_path: Path  # merged with the index's rows; committed only when that changed it
    moves: list  # backlog lines, found again by content under the lock
    backlog_path: Path
    completed_path: Path
    message: str
    commit: bool
    now: datetime

    def files(self) -> list[Path]:
        """The budget-repo files apply writes; it commits those that changed
        (history only when merging the index's rows changed it)."""
        return [self.budget_path, self.log_path, self.history_path] + \
            ([self.backlog_path, self.completed_path] if self.moves else [])


def run(args, now) -> Result:
    home = paths.budget_home()
    budget = budget_file.load(paths.budget_file())
    tasks = parse_tasks(args.task, budget["calibration"])
    copilot_used = budget_file.parse_count(args.copilot_used, "--copilot-used")
    backlog_tasks = backlog.read(home / "tasks" / "backlog.md")
    moves = [backlog.find(backlog_tasks, needle) for needle in args.complete or []]
    if len({t.line_no for t in moves}) != len(moves):
        raise BudgetError("--complete: two of the given texts match the same backlog line")
    m = core.session_measure(args.session, now, allow_fetch=not args.no_fetch)
    p = plan(m, args, budget, tasks, copilot_used, moves, now)
    git, notes = apply(p)
    rec = p.rec
    data = {**{k: v for k, v in rec.items() if k not in ("cost_text", "calibration_text")},
            "log_file": str(p.log_path), "commit": git, "commit_message": p.message}
    warnings = (git["notes"] if not git["committed"] else []) + notes
    return Result(data=data, text=render_summary(rec, p.log_path, git), warnings=warnings)


def plan(m: dict, args, budget: dict, tasks: list[dict], copilot_used, moves: list, now: datetime) -> Plan:
    """The log's writes from the measure, the parsed arguments and the files as they
    are; writes nothing. Everything that could fail a write fails here."""
    home = paths.budget_home()
    session_id, start, util, delta, totals = m["session_id"], m["start"], m["util"], m["delta"], m["tokens"]
    started = parse_iso(start["started_at"]) if start else None
    parts = split(delta["delta"] if delta["trusted"] else None, totals["output_tokens"], tasks, budget["calibration"])
    calibration_tasks = [] if m["idle"] else [
        {"type": p["type"], "units": p["units"], "pct": p["pct"] if delta["trusted"] else None,
         "output_tokens": p["output_tokens"]} for p in parts]
    cop = budget["copilot"]
    copilot_text = (f"{num(copilot_used if copilot_used is not None else cop['used'])} of {num(cop['limit'])} "
                    f"{cop['unit'].replace('_', ' ')} used"
                    + ("" if copilot_used is not None else f" (as of {str(cop.get('last_updated'))[:10]})")
                    if copilot_used is not None or cop.get("used") is not None else "no count recorded")
    date = now.astimezone().strftime("%Y-%m-%d")
    rec = {
        "v": 1, "session_id": session_id, "date": date,
        "started_at": start["started_at"] if start else None, "ended_at": iso(now),
        "started_local": started.astimezone().strftime("%H:%M") if started else "?",
        "ended_local": now.astimezone().strftime("%H:%M"),
        "delta": delta,
        "seven_day": m["seven_day"],
        "tokens": {k: totals[k] for k in ("exchanges", "input_tokens", "output_tokens", "cache_creation_input_tokens",
                                           "cache_read_input_tokens", "web_search_requests", "web_fetch_requests")},
        "cost_usd": m["cost_usd"], "unpriced_models": m["unpriced_models"],
        "cost_text": f"${m['cost_usd']:.2f}" + (f" + unpriced: {', '.join(m['unpriced_models'])}" if m["unpriced_models"] else ""),
        "copilot": copilot_text, "gemini": args.gemini or str(budget["gemini"].get("status", "")).replace("_", " "),
        "tasks": parts,
        "calibration_tasks": calibration_tasks,
        "estimates": session_estimates(start.get("estimates") if start else None, calibration_tasks),
        "calibration_text": [], "lessons": args.lesson or [], "next": args.next or [],
        "completed": [t.raw.strip() for t in moves],
    }

    preview = update_budget(copy.deepcopy(budget), rec, util, copilot_used, now)
    budget_file.validate(preview)
    rec["calibration_text"] = calibration_text(budget["calibration"], preview["calibration"], calibration_tasks) \
        if not (m["idle"] and tasks) else [f"no usage since the {'last log' if start and start.get('logged_at') else 'start'}: "
                                      "calibration unchanged"]
    summary = ", ".join(f"{t['type']} {t['units']}" for t in tasks)
    p = Plan(rec=rec, log_path=home / "sessions" / f"{date}.md", section=session_log.render(rec),
             budget_path=paths.budget_file(), budget_fields=sorted(k for k in preview if preview[k] != budget.get(k)),
             util=util, copilot_used=copilot_used,
             claim=start if start and start.get("terminal") else None,
             mark=session_state.snapshot(iso(now), util, m["end"]["trusted"] and m["end"]["util"] is not None),
             history_path=history_file.path_for(home, paths.machine_id()), moves=moves,
             backlog_path=home / "tasks" / "backlog.md", completed_path=home / "tasks" / "completed.md",
             message=f"session: {date} {now.astimezone().strftime('%H:%M')}" + (f" — {summary}" if summary else ""),
             commit=not args.no_commit, now=now)
    writable(p.files())
    session_log.read(p.log_path, date)  # both raise for a file that is not UTF-8
    if moves and p.completed_path.exists():
        backlog.read(p.completed_path)
    return p


def apply(p: Plan) -> tuple[dict, list[str]]:
    """Perform the plan in the write order, each file under its lock; (git result, notes)."""
    rec = p.rec
    if p.claim and not session_state.claim(p.claim, rec["session_id"]):
        raise BudgetError("log: the terminal check this session started from was just used by another log; run log again")
    session_log.append(p.log_path, p.section, rec["date"], rec)
    with budget_file.update(p.budget_path) as fresh:
        update_budget(fresh, rec, p.util, p.copilot_used, p.now)
    session_state.mark_logged(rec["session_id"], p.mark)
    changed = [p.budget_path, p.log_path]
    notes = []
    try:
        history_path, history_changed = history_file.save(paths.budget_home(), paths.machine_id())
        changed += [history_path] if history_changed else []
    except BudgetError as exc:  # a malformed history file must not lose the session record
        notes.append(str(exc))
    if p.moves:
        notes += move_lines(p.backlog_path, p.completed_path, p.moves, rec["date"])
        changed += [p.backlog_path, p.completed_path]
    git = gitrepo.commit(paths.budget_home(), changed, p.message) if p.commit \
        else {"committed": False, "sha": None, "notes": ["--no-commit: files written, not committed"]}
    return git, notes


def writable(files: list[Path]) -> None:
    """Refuse before the first write when a file could not be replaced."""
    for f in files:
        folder = f.resolve().parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not os.access(folder, os.W_OK | os.X_OK):
            raise BudgetError(f"log: cannot write in {folder} (read-only?); nothing written")


def update_budget(budget: dict, rec: dict, util: dict, copilot_used, now) -> dict:
    """This log's changes to budget.json as it is now (callers hold its lock). A retry of
    the same record (session, start) first takes out what the failed run added."""
    calibration = budget["calibration"]
    applied = budget.setdefault("applied_logs", {})
    prior = applied.get(rec["session_id"])
    if isinstance(prior, dict) and prior.get("started_at") == rec["started_at"]:
        try:
            undo = [cal.valid_record_task(t) for t in prior.get("calibration_tasks") or []]
        except BudgetError as exc:
            raise BudgetError(f"budget.json: field 'applied_logs.{rec['session_id']}': {exc}; left untouched") from None
        for t in undo:
            if t["type"] in calibration:
                calibration[t["type"]] = cal.add_sample(calibration[t["type"]], t["units"], t["pct"], t["output_tokens"], count=-1)
    for t in rec["calibration_tasks"]:
        calibration[t["type"]] = cal.add_sample(cal.require_type(calibration, t["type"]), t["units"], t["pct"], t["output_tokens"])
    applied[rec["session_id"]] = {"started_at": rec["started_at"], "ended_at": rec["ended_at"],
                                  "calibration_tasks": rec["calibration_tasks"]}
    keep_after = iso(now - cal.APPLIED_KEEP)
    budget["applied_logs"] = {k: v for k, v in applied.items() if str(v.get("ended_at")) >= keep_after}
    if copilot_used is not None:
        budget["copilot"].update(used=copilot_used, last_updated=iso(now))
    utilisation.record(budget["claude"], util)
    return budget


def calibration_text(before: dict, after: dict, tasks: list[dict]) -> list[str]:
    out = []
    for t in tasks:
        old, new = before[t["type"]], after[t["type"]]
        if t["pct"] is not None and new["avg_5h_pct"] is not None:
            spread = f" ± {new['sd_5h_pct']:.2f}" if new.get("sd_5h_pct") is not None else ""
            out.append(f"{t['type']} {old['samples']}→{new['samples']} samples, avg now {new['avg_5h_pct']:.2f}%/unit{spread}")
        else:
            out.append(f"{t['type']} tokens only (5h delta not trusted; still {new['samples']} samples)")
    return out


def move_lines(backlog_path: Path, completed_path: Path, moves, date: str) -> list[str]:
    """Move each task by its line's content, found again under the lock: the file may
    have changed since log read it. Line endings and a byte-order mark are kept."""
    refused = []
    with locked(backlog_path), locked(completed_path):
        raw = backlog_path.read_bytes()
        bom = b"\xef\xbb\xbf" if raw.startswith(b"\xef\xbb\xbf") else b""
        lines = raw[len(bom):].decode("utf-8").splitlines(keepends=True)
        drop, moved = set(), []
        for t in moves:
            hits = [n for n, l in enumerate(lines) if l.rstrip("\r\n") == t.raw]
            if len(hits) == 1:
                drop.add(hits[0])
                moved.append(t)
            else:
                refused.append(f"--complete: the line '{t.raw.strip()}' is " + ("gone from" if not hits else "no longer unique in")
                               + " backlog.md (it changed while log ran): not moved; the session log lists it as moved")
        if not moved:
            return refused
        done = completed_path.read_text(encoding="utf-8") if completed_path.exists() else "# Completed Tasks\n"
        eol = "\r\n" if "\r\n" in done else "\n"
        added = "".join(f"- {date} {t.raw.strip().lstrip('-* ').strip()}" + (f" ({t.section})" if t.section else "") + eol
                        for t in moved)
        write_atomic(completed_path, done.rstrip("\r\n") + eol + added)
        write_atomic(backlog_path, bom + "".join(l for n, l in enumerate(lines) if n not in drop).encode("utf-8"))
    return refused


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
