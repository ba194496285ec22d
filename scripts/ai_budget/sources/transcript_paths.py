"""Where a session's transcripts are and what they are named after, on plain
strings (os only): the status line runs this on every message, without loading
pathlib or the parser. sources/transcripts.py offers the same on Path objects
by calling these."""

from __future__ import annotations

import os
import stat


def storable(text: str) -> bool:
    """Whether SQLite can hold `text`: UTF-8 only, so no lone surrogate (a path's undecodable byte,
    as os gives it back). Claude Code never writes such a name; a transcript under one is left out."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parts(path: str) -> tuple[str, ...]:
    """Path(path).parts on POSIX: empty and '.' components dropped, '..' kept, the root as '/'."""
    return (("/",) if path.startswith("/") else ()) + tuple(p for p in path.split("/") if p and p != ".")


def normal(path: str) -> str:
    """str(Path(path)): the name the index keeps a file under."""
    p = parts(path)
    return ("/" + "/".join(p[1:])) if p[:1] == ("/",) else "/".join(p) or "."


def root_of(path: str, roots: list[str]) -> str | None:
    """The projects root holding `path` (lexically, as Path.is_relative_to), or None
    (a copied or archived transcript)."""
    mine = parts(path)
    return next((r for r in roots if mine[:len(parts(r))] == parts(r)), None)


def _stem(name: str) -> str:
    """Path(name).stem: the last suffix off, unless the name starts or ends with its dot."""
    i = name.rfind(".")
    return name[:i] if 0 < i < len(name) - 1 else name


def session_of(path: str, root: str) -> tuple[str, str]:
    """(project, session) from the path, as ccusage does: subagent files fold into
    their parent session; any other nesting makes the parent folder the session."""
    full = parts(path)
    rel = full[len(parts(root)):]
    if len(rel) < 2:
        return "", _stem(full[-1] if full and full[-1] != "/" else "")
    project = rel[0]
    if len(rel) == 2:
        return project, _stem(rel[1])
    if len(rel) == 4 and rel[2] == "subagents":
        return project, rel[1]
    return project, rel[-2]


def session_files(main_file: str) -> list[str]:
    """A session's main transcript plus its subagent transcripts (regular files, links
    not followed), in pathlib's sort order."""
    folder, name = os.path.split(main_file)
    sub = os.path.join(folder, _stem(name), "subagents")  # main_file.with_suffix("") / "subagents"
    found = []
    for folder, dirs, files in os.walk(sub):  # no such folder: nothing
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
        for name in files:
            if name.endswith(".jsonl"):
                full = os.path.join(folder, name)
                if not storable(full):  # the index leaves it out too
                    continue
                try:
                    if stat.S_ISREG(os.lstat(full).st_mode):  # no FIFOs, no links
                        found.append(full)
                except OSError:
                    continue
    return [main_file] + sorted(found, key=lambda p: p.split("/"))
