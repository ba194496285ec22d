"""budget tokens: one Claude Code session's token totals, subagents included."""

from __future__ import annotations

from pathlib import Path

from .. import paths
from ..analysis.dedup import Deduper
from ..analysis.totals import summarize
from ..errors import BudgetError, SourceUnavailable
from ..outputs.text import num, table
from ..sources import transcripts
from ..state import budget_file, index
from . import Result, synced_prices


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


def session_entries(main_file: Path) -> list:
    """The session's de-duplicated entries: from the index (synced by the caller)
    when the file is under a projects root, else read directly (a copied or
    archived transcript)."""
    root = transcripts.root_of(main_file, paths.projects_roots())
    if root is None:
        dedup = Deduper()
        for path in transcripts.session_files(main_file):
            dedup.extend(transcripts.read_entries(path, main_file.parent.name, main_file.stem))
        return dedup.kept
    project, session = transcripts.session_of(main_file, root)
    return [e for e, _cost in index.entries(project=project, session=session)]


def session_totals(main_file: Path) -> dict:
    totals = summarize(session_entries(main_file))
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
    lines.append(table(["model", "input", "output", "cache write", "cache read", "total"], rows))
    if t["web_search_requests"] or t["web_fetch_requests"]:
        lines.append(f"web searches: {t['web_search_requests']}  web fetches: {t['web_fetch_requests']}")
    return "\n".join(lines)


def run(args, now) -> Result:
    main_file = locate(args.file, args.session)
    synced_prices(budget_file.load(paths.budget_file()))
    totals = session_totals(main_file)
    return Result(data=totals, text=render(totals))
