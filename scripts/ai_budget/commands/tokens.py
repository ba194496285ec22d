"""budget tokens: one Claude Code session's token totals, subagents included."""

from __future__ import annotations

from pathlib import Path

from .. import paths
from ..analysis.dedup import Deduper
from ..analysis.totals import summarize
from ..errors import BudgetError, SourceUnavailable
from ..outputs.text import num, table
from ..sources import transcripts
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


def session_totals(main_file: Path) -> dict:
    files = transcripts.session_files(main_file)
    dedup = Deduper()
    project, session = main_file.parent.name, main_file.stem
    for path in files:
        dedup.extend(transcripts.read_entries(path, project, session))
    totals = summarize(dedup.kept)
    totals.update({
        "session_file": str(main_file),
        "session_id": session,
        "project": project,
        "subagent_files": len(files) - 1,
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
    lines.append(table(["model", "input", "output", "cache write", "cache read", "total"], rows))
    if t["web_search_requests"] or t["web_fetch_requests"]:
        lines.append(f"web searches: {t['web_search_requests']}  web fetches: {t['web_fetch_requests']}")
    return "\n".join(lines)


def run(args, now) -> Result:
    totals = session_totals(locate(args.file, args.session))
    return Result(data=totals, text=render(totals))
