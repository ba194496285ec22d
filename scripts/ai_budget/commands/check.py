"""budget check: the session-start brief, computed entirely here so the skill
only has to present it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from .. import paths
from ..analysis import pace, planner
from ..errors import EXIT_UNAVAILABLE, BudgetError
from ..outputs import brief
from ..sources import backlog, transcripts, utilisation
from ..state import budget_file, index, session_state
from ..timefmt import iso, parse_iso
from . import Result, synced_prices

MANUAL_STALE_AFTER = timedelta(days=2)
FIVE_HOURS = timedelta(hours=5)


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


def current_session(session_id: str | None) -> tuple[str, Path | None]:
    roots = paths.projects_roots()
    if session_id:
        return session_id, transcripts.find_session_by_id(roots, session_id)
    found = transcripts.find_current_session(roots, Path.cwd())
    return (found.stem, found) if found else ("no-transcript", None)


def local_usage(budget: dict, now, five: dict) -> dict:
    """What this machine's transcripts say about today and the current 5-hour window."""
    synced_prices(budget)
    midnight = now.astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    out = {"today": index.totals_since(int(midnight.timestamp() * 1000)), "window": None}
    resets = parse_iso(five.get("resets_at"))
    if resets and resets > now:
        out["window"] = index.totals_since(int((resets - FIVE_HOURS).timestamp() * 1000))
    return out


def gather(args, now) -> dict:
    path = paths.budget_file()
    budget = budget_file.load(path)
    util = utilisation.current(budget, now, allow_fetch=not args.no_fetch)
    if util["observed_at"] and util["observed_at"] != budget["claude"].get("last_fetched"):
        with budget_file.update(path) as fresh:
            utilisation.record(fresh["claude"], util)
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
    five = util.get("five_hour") or {}
    used_5h = None if five.get("reset_since") else five.get("util")
    weekly = (util.get("seven_day") or {}).get("util")
    plan = planner.plan(tasks, budget["calibration"], used_5h, weekly, alternatives, budget["alerts"]["warn_at"])
    asked = getattr(args, "session", None)
    session_id, transcript = current_session(asked)
    trusted = util["source"] not in ("none",) and not util["stale"] and used_5h is not None
    reading = session_state.snapshot(iso(now), util, trusted)
    if asked:
        snapshot = session_state.record_start(session_id, {
            "session_id": session_id, "transcript": str(transcript) if transcript else None, **reading})
    else:  # the session is a guess: filed apart, for a session started later to adopt
        snapshot = session_state.record_terminal(reading)
    return {"generated_at": iso(now), "claude": util, "local": local_usage(budget, now, five), "copilot": copilot, "gemini": gemini,
            "backlog": plan, "session": {"id": session_id, "transcript": str(transcript) if transcript else None,
                                         "started_at": snapshot["started_at"], "checks": snapshot.get("checks", 1),
                                         "start_trusted": snapshot.get("trusted", False)}}


def markdown_problem(problem: str) -> Result:
    """--markdown always exits 0 (Claude Code aborts a skill whose ! command fails): the problem is the brief."""
    return Result(data={}, text=f"**ai-budget could not make the brief:** {problem}. "
                                f"Fix that, then run `{paths.cli_command('check')}` to confirm.")


def run(args, now) -> Result:
    if args.json and args.markdown:
        raise BudgetError("--json and --markdown: choose one")
    if not args.markdown:
        return _brief(args, now)
    try:
        return _brief(args, now)
    except BudgetError as exc:
        return markdown_problem(str(exc))
    except Exception as exc:  # noqa: BLE001 - the type only: an exception's text could hold a secret
        return markdown_problem(f"internal error ({type(exc).__name__})")


def _brief(args, now) -> Result:
    data = gather(args, now)
    problem = data["claude"].get("problem")
    text = brief.markdown(data, now) if args.markdown else brief.text(data, now)
    # --markdown always exits 0: Claude Code aborts a skill whose ! command fails, and the brief names the problem.
    code = EXIT_UNAVAILABLE if (problem or data["claude"]["source"] == "none") and not args.markdown else 0
    # The brief already shows the problem; --markdown output is read by Claude, keep stderr quiet.
    return Result(data=data, text=text, code=code, warnings=[problem] if problem and not args.markdown else [])
