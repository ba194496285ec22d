"""budget statusline: Claude Code's statusLine command.

Runs on every assistant message, so it does little: it stores the free
rate_limits snapshot, reads this session's cost from the index (reading only
the session's own appended bytes), and prints one line. Never a traceback,
never a non-zero exit: a broken input or an internal error prints a short
fallback line instead."""

from __future__ import annotations

import json
import os

from .. import paths
from ..analysis import pace
from ..outputs import statusline as line
from ..sources import statusline_snapshot, transcript_paths
from ..timefmt import duration, parse_iso
from . import Result, read_stdin

FALLBACK = "budget: –"
SNAPSHOT_EVERY_S = 20  # unchanged values: refresh the snapshot's age at most this often
CHAIN_TIMEOUT_S = 2
SYNC_WAIT_S = 0.3  # another session's status line syncs in a few ms; a long sync (a check on a big history) is not waited for


def store_snapshot(windows: dict | None, now, session_id) -> None:
    if not windows:
        return
    old = statusline_snapshot.read() or {}
    observed = parse_iso(old.get("observed_at"))
    same = all(old.get(k) == windows.get(k) for k in ("five_hour", "seven_day"))
    if not same or observed is None or (now - observed).total_seconds() > SNAPSHOT_EVERY_S:
        statusline_snapshot.write(windows, now, session_id)


def session_cost(payload: dict, budget: dict) -> tuple[float | None, bool]:
    """(this session's API-equivalent cost, still being counted) from the index, syncing
    only its files, and only when they changed since the index read them (the parser is
    not even loaded then). While another run holds the index (a first build, a sync),
    never waits: the index's figure as it is, or None, marked as still being counted."""
    from ..analysis import pricing
    from ..state import index_peek

    transcript = payload.get("transcript_path")
    if not isinstance(transcript, str) or not transcript:
        return None, False
    main = transcript_paths.normal(transcript)
    roots = paths.projects_roots_str()
    root = transcript_paths.root_of(main, roots)
    if root is None or not os.path.isfile(main):
        return None, False
    files = transcript_paths.session_files(main)
    project, session = transcript_paths.session_of(main, root)
    prices = pricing.load(budget.get("pricing_overrides"))
    cost = index_peek.session_cost(files, project, session, prices.fingerprint)
    if cost is not None:
        return cost, False
    if not index_peek.building():
        from ..state import index

        try:  # strings: no pathlib
            synced = index.sync(prices, roots=roots, only=files, wait=SYNC_WAIT_S, cost_of=(project, session))
            return synced["session_cost"], False
        except BlockingIOError:
            pass
    return index_peek.session_cost(files, project, session, prices.fingerprint, as_is=True) or None, True


def limits_fragment(budget: dict, now) -> str:
    """The spend limits that need attention ("day $8.40/$10 !"), from the index as it is
    (one query); "" when none is set, all are ok, or there is no index yet."""
    from ..analysis import limits
    from ..state import index_peek

    lim = budget.get("limits") or {}
    starts = limits.starts_ms(lim, now)
    got = index_peek.period_spend(starts) if starts else None
    return limits.compact(limits.evaluate(lim, limits.spent_of(lim, got))) if got else ""


def chained_output(stdin_text: str) -> str:
    """The user's own status line, when install --statusline chained it."""
    import subprocess

    from ..state import previous_statusline

    previous = previous_statusline.load()
    command = previous.get("command") if previous else None
    if not command:
        return ""
    try:
        done = subprocess.run(command, shell=True, input=stdin_text, capture_output=True, text=True, timeout=CHAIN_TIMEOUT_S)
        return done.stdout.rstrip("\n")
    except (OSError, subprocess.SubprocessError):
        return ""


def render(payload: dict, budget: dict, now) -> str:
    windows = statusline_snapshot.from_rate_limits(payload.get("rate_limits"))
    store_snapshot(windows, now, payload.get("session_id"))
    stale = ""
    if not windows:  # first message of a session, or an API-key login: the last reading we have, marked
        from ..sources import utilisation

        util = utilisation.current(budget, now, allow_fetch=False)
        windows = {k: util.get(k) for k in ("five_hour", "seven_day") if util.get(k)}
        if util.get("stale") and util.get("age_s") is not None:
            stale = f" (stale, {duration(util['age_s'])} old)"
    five, seven = windows.get("five_hour"), windows.get("seven_day")
    resets = parse_iso(five.get("resets_at")) if five else None
    if five is not None:
        five = {**five, "resets_at_dt": resets if resets and resets > now else None}
    p = pace.pace(five.get("util"), resets, now, "five_hour") if five else None
    try:
        cost, counting = session_cost(payload, budget)
    except Exception:  # noqa: BLE001 - the cost is optional; Claude Code's own estimate stands in
        cost, counting = None, False
    if cost is None:
        c = payload.get("cost", {}).get("total_cost_usd") if isinstance(payload.get("cost"), dict) else None
        cost = float(c) if isinstance(c, (int, float)) and not isinstance(c, bool) else None
    if counting:  # the index's figure so far (or Claude Code's own): marked
        stale += " (transcripts still being counted)"
    try:
        spend = limits_fragment(budget, now)
    except Exception:  # noqa: BLE001 - optional, as the cost
        spend = ""
    return line.render(five, seven, p, cost, budget["alerts"], now, colour="NO_COLOR" not in os.environ, stale_note=stale,
                       limits=spend)


def run(args, now) -> Result:
    try:
        from ..state import budget_file

        stdin_text = read_stdin()
        payload = json.loads(stdin_text) if stdin_text.strip() else {}
        if not isinstance(payload, dict):
            payload = {}
        try:
            budget = budget_file.load(paths.budget_file_str())
        except Exception:  # noqa: BLE001 - a broken budget.json must not blank the line
            budget = budget_file.default_budget()
        text = render(payload, budget, now)
        theirs = chained_output(stdin_text) if args.chain else ""
        text = f"{theirs} │ {text}" if theirs else text
    except Exception:  # noqa: BLE001 - the status line must never fail
        text = FALLBACK
    return Result(data={}, text=text)
