"""budget tokens: one Claude Code session's token totals, subagents included."""

from __future__ import annotations

from pathlib import Path

from .. import core, paths
from ..analysis.totals import plan_names, summarize
from ..errors import BudgetError, SourceUnavailable
from ..outputs.text import num, table
from ..sources import transcripts
from ..state import budget_file
from ..tokens import Totals
from . import Result


def locate(file: str | None, session: str | None, cwd: Path | None = None) -> Path:
    roots = paths.projects_roots()
    if file:
        path = Path(file).expanduser()
        if not path.is_file():
            raise BudgetError(f"SESSION_FILE: {path} does not exist")
        return path
    if session:
        found = transcripts.find_session_by_id(roots, session)
        if not found:
            raise BudgetError(f"--session: no transcript for session {session} under {', '.join(map(str, roots)) or paths.claude_dir()}")
        return found
    found = transcripts.find_current_session(roots, cwd or Path.cwd())
    if not found:
        raise SourceUnavailable(f"no Claude Code transcripts found under {paths.claude_dir() / 'projects'}")
    return found


def extra_totals(extras: list, attributed: bool = True) -> dict:
    """Cost-state extras (attributed, or unattributed ones) in the token totals' names, labelled by their source."""
    total, models, cost = Totals(), {}, 0.0
    for _ts, model, values, value_cost, _attributed in (x for x in extras if x[4] == attributed):
        t = Totals(*values)  # a record does not say how many calls: no response count
        total.add(t)
        models.setdefault(model, Totals()).add(t)
        cost += value_cost or 0.0
    return {"source": "cost-state", **plan_names(total, _EXTRA_NAMES), "cost_usd": round(cost, 6),
            "models": {model: plan_names(t, _EXTRA_NAMES) for model, t in models.items()}}


_EXTRA_NAMES = ("input_tokens", "output_tokens", "cache_creation_5m_tokens", "cache_creation_1h_tokens",
                "cache_read_input_tokens", "web_search_requests", "cache_creation_input_tokens", "total_tokens")


def session_totals(main_file: Path, prices=None) -> dict:
    entries, extras = core.session_entries(main_file, prices)
    totals = summarize(entries)
    # Kept apart: the line totals stay comparable with ccusage (which never sees these calls).
    totals["not_in_transcript"] = extra_totals(extras)
    totals["unattributed"] = extra_totals(extras, attributed=False)
    totals["total_tokens_with_not_in_transcript"] = totals["total_tokens"] + totals["not_in_transcript"]["total_tokens"]
    totals.update({
        "session_file": str(main_file),
        "session_id": main_file.stem,
        "project": main_file.parent.name,
        "subagent_files": len(transcripts.session_files(main_file)) - 1,
    })
    return totals


def render(t: dict) -> str:
    lines = [
        f"Session {t['session_id']} ({t['project']}), {t['subagent_files']} subagent file(s)",
        f"{t['exchanges']} API responses, {t['first_timestamp'] or '-'} → {t['last_timestamp'] or '-'}",
        "",
    ]
    rows = [[name, num(m["input_tokens"]), num(m["output_tokens"]), num(m["cache_creation_input_tokens"]),
             num(m["cache_read_input_tokens"]), num(m["total_tokens"])] for name, m in t["models"].items()]
    rows.append(["total", num(t["input_tokens"]), num(t["output_tokens"]), num(t["cache_creation_input_tokens"]),
                 num(t["cache_read_input_tokens"]), num(t["total_tokens"])])
    x = t["not_in_transcript"]
    if x["total_tokens"]:
        rows.append(["+ not in transcript lines (from cost-state)", num(x["input_tokens"]), num(x["output_tokens"]),
                     num(x["cache_creation_input_tokens"]), num(x["cache_read_input_tokens"]), num(x["total_tokens"])])
    u = t["unattributed"]
    if u["total_tokens"]:
        rows.append(["? unattributed (from cost-state)", num(u["input_tokens"]), num(u["output_tokens"]),
                     num(u["cache_creation_input_tokens"]), num(u["cache_read_input_tokens"]), num(u["total_tokens"])])
    lines.append(table(["model", "input", "output", "cache write", "cache read", "total"], rows))
    if x["total_tokens"]:
        lines.append("'+ not in transcript lines': /compact, auto-compact and background calls only Claude Code's "
                     f"cost-state records count ({', '.join(x['models'])}); with them: {num(t['total_tokens_with_not_in_transcript'])} tokens.")
    if u["total_tokens"]:
        lines.append("'? unattributed': this fork's cost-state records hold it beyond its lines, but the record it was "
                     "forked from cannot be told apart, so it may belong to a related session; counted in neither figure.")
    if t["web_search_requests"] or t["web_fetch_requests"]:
        lines.append(f"web searches: {t['web_search_requests']}  web fetches: {t['web_fetch_requests']}")
    return "\n".join(lines)


def run(args, now) -> Result:
    main_file = locate(args.file, args.session)
    prices = core.synced_prices(budget_file.load(paths.budget_file()))
    totals = session_totals(main_file, prices)
    return Result(data=totals, text=render(totals))
