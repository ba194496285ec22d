"""budget hook <event>: Claude Code hook handlers.

They read only the ids in the hook JSON (session_id, tool_name): never the
prompt, tool input or any message text, and they store nothing of it. They
never call the network except at session start (through the usage API's
cache and back-off), and any internal error exits 0 with no output: a budget
tool must never break the user's session."""

from __future__ import annotations

import json
import os
import stat
import sys

from .. import paths
from ..analysis.session_delta import five_hour_delta
from ..outputs.statusline import level
from ..sources import utilisation
from ..state import budget_file, session_state
from ..timefmt import countdown, iso, parse_iso
from . import Result, read_stdin

CONTEXT_LIMIT = 1500
# A first build on this machine runs in the background; the brief waits this long for it
# (a small history is done by then and the brief is whole), else says the figures are still being counted.
BUILD_WAIT_S = 3.0
LEVELS = ("normal", "warning", "critical")
REMIND_AT_PCT = 5.0  # a session that used this much of the 5-hour window deserves a log
FAN_OUT_TOOLS = ("Task", "Agent")
# Below both (a one-shot question, a headless run) a missing log is not worth a line in the next brief.
NOTICEABLE_PCT = 1.0
NOTICEABLE_OUTPUT = 2000
NOTICEABLE_BYTES = 20 << 20


def _payload() -> dict:
    raw = read_stdin()
    data = json.loads(raw) if raw.strip() else {}
    return data if isinstance(data, dict) else {}


def _five(util: dict) -> tuple[float | None, str | None]:
    five = util.get("five_hour") or {}
    return (None if five.get("reset_since") else five.get("util")), five.get("resets_at")


def session_start(payload: dict, budget: dict, now) -> tuple[dict | None, int]:
    from .. import core
    from ..outputs import brief
    from . import record_check

    from ..state import index_peek

    session_id = payload.get("session_id") or None
    ready = not index_peek.building()
    if index_peek.cold():
        ready = index_peek.build_in_background(
            [sys.executable, "-S", str(paths.code_root() / "scripts" / "budget.py"), "report", "daily", "--json"], BUILD_WAIT_S)
    data = record_check(core.brief(now, session_id=session_id, sync_index=ready), now, session_id)
    unlogged = session_state.latest_unlogged(exclude=session_id)
    notes = (f"**Not logged:** session {unlogged['session_id'][:8]} (ended {unlogged['ended_unlogged'][:16]}Z); "
             f"record it with `{paths.cli_command('log', '--session', unlogged['session_id'], '--task', 'TYPE:UNITS')}`",
             ) if unlogged else ()
    text = brief.markdown(data, now, limit=CONTEXT_LIMIT, notes=notes)
    return {"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": text}}, 0


def user_prompt_submit(payload: dict, budget: dict, now) -> tuple[dict | None, int]:
    alerts = budget["alerts"]
    util = utilisation.current(budget, now, allow_fetch=False)
    used, resets_at = _five(util)
    messages = []
    if used is not None and not util.get("stale"):
        resets = parse_iso(resets_at)
        block_at = alerts.get("block_at")
        if block_at is not None and used >= block_at:
            sys.stderr.write(f"ai-budget: Claude's 5-hour window is at {used:.0f}% (your hard stop is {block_at:g}%). "
                             f"It resets {countdown(resets, now)}. Change it with: {paths.cli_command('set', 'alerts', '--block-at', 'off')}\n")
            return None, 2
        messages += _window_alert(payload, used, resets, alerts, now)
    messages += _limit_crossings(budget, now)
    return ({"systemMessage": " ".join(messages)} if messages else None), 0


def _window_alert(payload: dict, used: float, resets, alerts: dict, now) -> list[str]:
    """The 5-hour window's warning or critical, once per rise in this session."""
    session_id = payload.get("session_id") or "unknown"
    state = session_state.read(session_id) or {}
    now_level = level(used, alerts)
    shown = state.get("alert_level", "normal")
    if now_level == shown:
        return []
    session_state.note(session_id, alert_level=now_level)  # a drop (window reset) re-arms the alert
    if LEVELS.index(now_level) < LEVELS.index(shown):
        return []
    word = "critical" if now_level == "critical" else "warning"
    return [f"ai-budget {word}: Claude's 5-hour window is at {used:.0f}%; it resets {countdown(resets, now)}."]


def _limit_crossings(budget: dict, now) -> list[str]:
    """A spend limit's period that rose to warning, critical or exceeded since it was last
    announced (once per period and level, on this machine), from the index as it is."""
    from ..analysis import limits
    from ..state import index_peek, limit_notices

    lim = budget.get("limits") or {}
    starts = limits.starts_ms(lim, now)
    got = index_peek.period_spend(starts) if starts else None
    if not got:
        return []
    evaluated = limits.evaluate(lim, limits.spent_of(lim, got))

    def note(shown: dict) -> list[str]:  # the periods that rose; `shown` updated to what is announced now
        before = {p: v.get("status", "ok") for p, v in shown.items() if v.get("since") == starts.get(p)}
        for period, e in evaluated.items():
            shown[period] = {"since": starts[period], "status": e["status"]}
        return limits.crossed(before, evaluated)

    shown = limit_notices.read()
    if not note(dict(shown)) and all(shown.get(p) == {"since": starts[p], "status": e["status"]}
                                     for p, e in evaluated.items()):
        return []  # nothing to say or record: no lock taken, nothing written
    rising = limit_notices.update(note)
    tail = " (API-equivalent estimate)" if lim.get("unit", "usd") == "usd" else ""
    return [f"ai-budget: spend limit {evaluated[p]['status']}: {limits.describe(p, evaluated[p])}{tail}." for p in rising]


def pre_tool_use(payload: dict, budget: dict, now) -> tuple[dict | None, int]:
    if payload.get("tool_name") not in FAN_OUT_TOOLS:
        return None, 0
    util = utilisation.current(budget, now, allow_fetch=False)
    used, resets_at = _five(util)
    if used is None or util.get("stale") or used < budget["alerts"]["critical_at"]:
        return None, 0
    msg = (f"ai-budget: the 5-hour window is at {used:.0f}% (resets {countdown(parse_iso(resets_at), now)}); "
           "a subagent fan-out can use the rest. Prefer doing this step directly, or fewer subagents.")
    return {"systemMessage": msg,
            "hookSpecificOutput": {"hookEventName": "PreToolUse", "additionalContext": msg}}, 0


def _session_share(session_id: str, budget: dict, now) -> float | None:
    """Points of the 5-hour window this session used, from its start snapshot."""
    start = session_state.read(session_id)
    if not start or start.get("logged_at") or not start.get("five_hour"):
        return None
    util = utilisation.current(budget, now, allow_fetch=False)
    five = util.get("five_hour") or {}
    end = {"util": five.get("util"), "resets_at": five.get("resets_at"), "trusted": not util.get("stale")}
    return five_hour_delta({**start["five_hour"], "trusted": start.get("trusted")}, end, None)["delta"]


def stop(payload: dict, budget: dict, now) -> tuple[dict | None, int]:
    session_id = payload.get("session_id")
    if not session_id or payload.get("stop_hook_active"):
        return None, 0
    state = session_state.read(session_id) or {}
    if state.get("reminded") or state.get("logged_at"):
        return None, 0
    share = _session_share(session_id, budget, now)
    if share is None or share < REMIND_AT_PCT:
        return None, 0
    session_state.note(session_id, reminded=iso(now))
    return {"systemMessage": f"ai-budget: this session has used about {share:.0f}% of the 5-hour window; "
                             "run /budget-log before you close it, so the estimates learn from it."}, 0


def _noticeable(payload: dict, budget: dict, now) -> bool:
    """Worth a "not logged" line in the next brief: a point of the 5-hour window, or real
    output. Read within the 1.5 s budget: stop at the threshold; a big transcript is noticeable."""
    from pathlib import Path  # session end only: the hooks run on every prompt without these

    from ..sources import transcripts

    if (_session_share(payload["session_id"], budget, now) or 0) >= NOTICEABLE_PCT:
        return True
    main = Path(payload.get("transcript_path") or "")
    if not main.name.endswith(".jsonl") or not _regular(main):
        return False
    files = [f for f in transcripts.session_files(main) if _regular(f)]
    if sum(f.stat().st_size for f in files) > NOTICEABLE_BYTES:
        return True
    output = 0
    for f in files:
        for e in transcripts.read_entries(f):
            output += e.output
            if output >= NOTICEABLE_OUTPUT:
                return True
    return False


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)  # a FIFO would block the read
    except OSError:
        return False


def session_end(payload: dict, budget: dict, now) -> tuple[dict | None, int]:
    # 1.5 s budget and output discarded: just leave a note for the next session start.
    session_id = payload.get("session_id")
    state = session_state.read(session_id) if session_id else None
    if state and not state.get("logged_at") and state.get("started_at") and _noticeable(payload, budget, now):
        session_state.note(session_id, ended_unlogged=iso(now))
    return None, 0


HANDLERS = {"session-start": session_start, "user-prompt-submit": user_prompt_submit, "pre-tool-use": pre_tool_use,
            "stop": stop, "session-end": session_end}


def run(args, now) -> Result:
    try:
        payload = _payload()
        try:
            budget = budget_file.load(paths.budget_file_str())
        except Exception:  # noqa: BLE001 - defaults rather than silence: thresholds still apply
            budget = budget_file.default_budget()
        output, code = HANDLERS[args.event](payload, budget, now)
    except Exception:  # noqa: BLE001 - never break the user's session
        return Result(data={}, text="", code=0)
    return Result(data={}, text=json.dumps(output) if output else "", code=code)
