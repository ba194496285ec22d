"""Claude Code transcript JSONL → usage entries. Token counts only: message text,
tool inputs and results are never kept, only the usage numbers and ids.

Line acceptance follows ccusage 20.0.24's daily loader (reference §3.9.1), so
totals are comparable; de-duplication lives in analysis/dedup.py.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..timefmt import transcript_ms

USAGE_MARKER = b'"usage":{'
# ccusage drops a line where any of these keys is JSON null, nested or not.
_NULL_KEY = re.compile(
    rb'"(?:id|cwd|model|speed|costUSD|version|sessionId|requestId|isApiErrorMessage'
    rb'|cache_read_input_tokens|cache_creation_input_tokens)":null'
)
_VERSION = re.compile(r"^\d+\.\d+\.\d+")
SYNTHETIC = "<synthetic>"


@dataclass(slots=True)
class Entry:
    """One assistant API response's usage, as written in one transcript line."""

    ts_ms: int
    message_id: str | None
    request_id: str | None
    model: str | None
    sidechain: bool
    input: int
    output: int
    cache_5m: int  # cache writes priced at 1.25× (the flat total when no breakdown)
    cache_1h: int  # cache writes priced at 2×
    cache_read: int
    web_search: int = 0
    web_fetch: int = 0
    fast: bool = False
    project: str = ""
    session: str = ""

    @property
    def cache_create(self) -> int:
        return self.cache_5m + self.cache_1h

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_5m + self.cache_1h + self.cache_read

    @property
    def model_name(self) -> str | None:
        """Model as reported: fast mode gets ccusage's '-fast' suffix; <synthetic> is None."""
        if not self.model or self.model == SYNTHETIC:
            return None
        return self.model + "-fast" if self.fast else self.model


def _uint(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _opt_str(obj: dict, key: str) -> bool:
    """Optional string field: absent is fine; present must be a non-empty string."""
    if key not in obj:
        return True
    value = obj[key]
    return isinstance(value, str) and value != ""


def parse_line(line: bytes, project: str = "", session: str = "") -> Entry | None:
    """An Entry for a line carrying usage, or None (no usage, malformed, rejected)."""
    if USAGE_MARKER not in line or _NULL_KEY.search(line):
        return None
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(obj, dict):
        return None
    src = obj
    data = obj.get("data")
    if obj.get("type") == "progress" and isinstance(data, dict) and data.get("type") == "agent_progress":
        # A subagent's response embedded in the parent file; no sidechain flag.
        src = data.get("message")
        if not isinstance(src, dict):
            return None
    message = src.get("message")
    if not isinstance(message, dict):
        return None
    usage = message.get("usage")
    if not isinstance(usage, dict):
        return None
    inp, out = usage.get("input_tokens"), usage.get("output_tokens")
    if not (_uint(inp) and _uint(out)):
        return None
    ts = transcript_ms(src.get("timestamp"))
    if ts is None:
        return None
    for key in ("cache_creation_input_tokens", "cache_read_input_tokens"):
        if key in usage and not _uint(usage[key]):
            return None
    speed = usage.get("speed")
    if speed is not None and speed not in ("standard", "fast"):
        return None
    breakdown = usage.get("cache_creation")
    if breakdown is not None and not isinstance(breakdown, dict):
        return None
    for key in ("model", "id"):
        if not _opt_str(message, key):
            return None
    for key in ("sessionId", "requestId"):
        if not _opt_str(src, key):
            return None
    version = obj.get("version")
    if version is not None and not (isinstance(version, str) and _VERSION.match(version)):
        return None
    for key in ("isSidechain", "isApiErrorMessage"):
        if key in src and not isinstance(src[key], bool):
            return None
    if "costUSD" in src and (isinstance(src["costUSD"], bool) or not isinstance(src["costUSD"], (int, float))):
        return None

    if breakdown is not None:
        c5, c1 = breakdown.get("ephemeral_5m_input_tokens", 0), breakdown.get("ephemeral_1h_input_tokens", 0)
        if not (_uint(c5) and _uint(c1)):
            return None
    else:
        c5, c1 = usage.get("cache_creation_input_tokens", 0), 0
    server = usage.get("server_tool_use")
    server = server if isinstance(server, dict) else {}
    search, fetch = server.get("web_search_requests", 0), server.get("web_fetch_requests", 0)
    return Entry(
        ts_ms=ts,
        message_id=message.get("id"),
        request_id=src.get("requestId"),
        model=message.get("model"),
        sidechain=src.get("isSidechain") is True,
        input=inp,
        output=out,
        cache_5m=c5,
        cache_1h=c1,
        cache_read=usage.get("cache_read_input_tokens", 0),
        web_search=search if _uint(search) else 0,
        web_fetch=fetch if _uint(fetch) else 0,
        fast=speed == "fast",
        project=project,
        session=session,
    )


# ---------------------------------------------------------------- files

def session_of(path: Path, root: Path) -> tuple[str, str]:
    """(project, session) from the path, as ccusage does: subagent files fold into
    their parent session; any other nesting makes the parent folder the session."""
    parts = path.relative_to(root).parts
    if len(parts) < 2:
        return "", path.stem
    project = parts[0]
    if len(parts) == 2:
        return project, Path(parts[1]).stem
    if len(parts) == 4 and parts[2] == "subagents":
        return project, parts[1]
    return project, parts[-2]


def iter_transcripts(roots: list[Path]):
    """Every *.jsonl under each root, sorted by path; links are not followed."""
    for root in roots:
        found = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
            for name in filenames:
                if name.endswith(".jsonl"):
                    full = os.path.join(dirpath, name)
                    if not os.path.islink(full):
                        found.append(full)
        for full in sorted(found):
            yield root, Path(full)


def read_complete_lines(path: Path, offset: int = 0):
    """Yield (line, end_offset) for each newline-terminated line after `offset`.
    A last line without its newline is still being written: it is left for later."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        pos = offset
        for line in handle:
            if not line.endswith(b"\n"):
                return
            pos += len(line)
            yield line, pos


def read_entries(path: Path, project: str = "", session: str = "", offset: int = 0):
    """Entries of one file, streamed: memory does not grow with file size."""
    for line, _ in read_complete_lines(path, offset):
        if USAGE_MARKER in line:
            entry = parse_line(line, project, session)
            if entry is not None:
                yield entry


def session_files(main_file: Path) -> list[Path]:
    """A session's main transcript plus its subagent transcripts."""
    files = [main_file]
    sub = main_file.with_suffix("") / "subagents"
    if sub.is_dir():
        files += sorted(p for p in sub.rglob("*.jsonl") if not p.is_symlink())
    return files


def find_current_session(roots: list[Path], cwd: Path | None = None) -> Path | None:
    """The most recently modified main transcript, preferring the cwd's project."""
    mains = []
    for root in roots:
        for project in root.iterdir() if root.is_dir() else ():
            if project.is_dir():
                mains += [p for p in project.glob("*.jsonl") if p.is_file()]
    if not mains:
        return None
    if cwd is not None:
        wanted = project_dir_name(cwd)
        local = [p for p in mains if p.parent.name == wanted]
        if local:
            mains = local
    return max(mains, key=lambda p: p.stat().st_mtime)


def project_dir_name(cwd: Path) -> str:
    """Claude Code's folder name for a cwd: every non-alphanumeric char becomes '-'."""
    return re.sub(r"[^A-Za-z0-9]", "-", str(cwd))[:200]


def find_session_by_id(roots: list[Path], session_id: str) -> Path | None:
    for root in roots:
        for candidate in root.glob(f"*/{session_id}.jsonl"):
            return candidate
    return None


def entries_since(roots: list[Path], since_ms: int):
    """Entries of every transcript touched since `since_ms`, from then on."""
    for root, path in iter_transcripts(roots):
        try:
            if path.stat().st_mtime * 1000 < since_ms - 60_000:
                continue
        except OSError:
            continue
        project, session = session_of(path, root)
        for entry in read_entries(path, project, session):
            if entry.ts_ms >= since_ms:
                yield entry
