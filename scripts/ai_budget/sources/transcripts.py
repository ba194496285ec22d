"""Claude Code transcript JSONL → usage entries. Token counts only: message text,
tool inputs and results are never kept, only the usage numbers, ids and names
(tool, skill, subagent type: `clean_name`).

Line acceptance follows ccusage 20.0.24's daily loader, so
totals are comparable; de-duplication lives in sources/dedup.py.
"""

from __future__ import annotations

import json
import json.scanner
import os
import re
import stat

from ..paths import Path  # pathlib when first called: a status line's sync of a session runs on strings
from ..records import record
from ..timefmt import transcript_ms
from ..tokens import TokenFields, model_label
from . import transcript_paths

USAGE_KEY = b'"usage"'
_WS = b" \t\r\n"  # JSON whitespace; another tool's serialisation may put it around ':'
_WS_COLON = _WS + b":"
# ccusage drops a line where any of these keys is JSON null, nested or not.
_NULL_KEYS = frozenset((b"id", b"cwd", b"model", b"speed", b"costUSD", b"version", b"sessionId", b"requestId",
                        b"isApiErrorMessage", b"cache_read_input_tokens", b"cache_creation_input_tokens"))
COST_KEY = b'"cost-state"'
# Both markers in one pass over a block: two finds read every byte twice.
_MARKS = re.compile(re.escape(USAGE_KEY) + b"|" + re.escape(COST_KEY))
# Bounds of what the index and the reports can hold: far beyond any real response
# (so sums stay inside SQLite's 64-bit integers), and years every datetime handles in any zone.
MAX_COUNT = 10 ** 12
MIN_TS_MS, MAX_TS_MS = 86_400_000, 253_370_764_800_000  # 1970-01-02 .. 9998-12-31
SKIPPED = object()  # parse_line's answer for a line that carries usage but cannot be represented


@record(slots=True)
class Entry(TokenFields):
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
    copied: bool = False  # a fork's copy of another session's response (its requestSessionId)
    tools: str | None = None  # distinct tool names it called, sorted, comma-joined
    skill: str | None = None  # the skill it ran under
    agent: str | None = None  # the subagent type that made it, when its line says so
    agent_ref: str | None = None  # its agent id, or the Task call that started it: leads to the type (index agent_links)

    @property
    def model_name(self) -> str | None:
        return model_label(self.model, self.fast)


def usage_at(buf: bytes, hit: int) -> bool:
    """Whether the `"usage"` found at `hit` is a key whose value is an object
    (`"usage":{`, or with whitespace around the colon as json.dumps writes it)."""
    i = hit + 7
    if buf[i:i + 2] == b":{":  # compact, as Claude Code writes it: one slice, no loop
        return True
    n = len(buf)
    while i < n and buf[i] in _WS:
        i += 1
    if i >= n or buf[i] != 58:  # ':'
        return False
    i += 1
    while i < n and buf[i] in _WS:
        i += 1
    return i < n and buf[i] == 123  # '{'


def has_usage(line: bytes) -> bool:
    hit = line.find(USAGE_KEY)
    while hit >= 0:
        if usage_at(line, hit):
            return True
        hit = line.find(USAGE_KEY, hit + 7)
    return False


def _has_null_key(line: bytes) -> bool:
    # Plain finds: a regex alternation over every usage line cost more than the JSON parse.
    # Every `null` is checked for a preceding `"key"` and colon, whitespace allowed between.
    hit = line.find(b"null")
    while hit >= 0:
        i = hit - 1
        while i >= 0 and line[i] in _WS:
            i -= 1
        if i >= 0 and line[i] == 58:  # ':'
            i -= 1
            while i >= 0 and line[i] in _WS:
                i -= 1
            if i >= 0 and line[i] == 34 and line[line.rfind(b'"', 0, i) + 1:i] in _NULL_KEYS:  # '"'
                return True
        hit = line.find(b"null", hit + 4)
    return False


NAME_MAX = 64  # characters of a tool, skill or agent name kept
NAMES_MAX = 16  # distinct tool names kept per response
_NAME_OK = frozenset("_-.:@/+")
AGENT_TOOLS = frozenset(("Task", "Agent"))  # the tools that start a subagent (Agent since 2.1.x)
INVALID = "(invalid)"


_CLEANED: dict = {}  # tool names and agent ids recur on line after line


def clean_name(value) -> str:
    """A name as stored: letters, digits and _-.:@/+ (anything else becomes '?'), at most
    NAME_MAX characters; a non-string or empty name is '(invalid)'. Names only, never input."""
    if type(value) is not str:
        return INVALID
    done = _CLEANED.get(value)
    if done is None:
        done = value[:NAME_MAX]
        if not done.isascii() or not done.replace("_", "").replace("-", "").isalnum():
            done = "".join(c if c.isalnum() or c in _NAME_OK else "?" for c in done)
        done = done or INVALID
        if len(value) <= NAME_MAX and len(_CLEANED) < 4096:  # bounded, whatever a hostile file holds
            _CLEANED[value] = done
    return done


def _attribution(obj: dict, src: dict, message: dict, links: list | None) -> tuple:
    """(tools, skill, agent, agent_ref) of a usage line; Task/Agent calls go to `links`.
    Only the parsed line is looked at: a byte search of the raw line cost more (tool inputs are long)."""
    tools = skill = None
    content = message.get("content")
    if type(content) is list:
        for block in content:
            if type(block) is not dict or block.get("type") != "tool_use":
                continue
            name = clean_name(block.get("name"))
            if tools is None:
                tools = name
            elif name not in tools.split(","):
                tools = ",".join(sorted(tools.split(",") + [name])[:NAMES_MAX])
            args = block.get("input")
            if type(args) is not dict:
                continue
            if name == "Skill" and "skill" in args:
                skill = min(skill or "\uffff", clean_name(args["skill"]))
            elif name in AGENT_TOOLS and links is not None and type(block.get("id")) is str:
                kind = args.get("subagent_type")
                links.append(("call", clean_name(block["id"]), clean_name(kind) if kind is not None else None))
    marked = src.get("attributionSkill")
    if marked is not None:
        skill = clean_name(marked)
    agent = src.get("attributionAgent")
    agent = clean_name(agent) if agent is not None else None
    ref = None
    if src is not obj:  # an agent_progress copy: the Task call that started the subagent
        ref = obj.get("parentToolUseID")
        agent_id = obj["data"].get("agentId")
        if type(ref) is str and type(agent_id) is str and links is not None:
            links.append(("agent", clean_name(agent_id), None, clean_name(ref)))
    else:
        ref = src.get("agentId")
    if agent is None and type(ref) is str and ref.startswith("acompact"):
        agent = COMPACTION
    ref = clean_name(ref) if type(ref) is str else None  # kept with a known type too: it tells subagents apart
    if ref is None and agent is None and src.get("isSidechain") is True and _before_2_1(obj.get("version")):
        ref = INLINE  # 2.0.x wrote a subagent's lines into the parent's file, with no agent id
    return tools, skill, agent, ref


COMPACTION = "(compaction)"  # the agent Claude Code runs for /compact (agent-acompact-*.jsonl)
INLINE = "(inline)"  # read_entries resolves it from the Task call awaiting its result


def _before_2_1(version) -> bool:
    if type(version) is not str:
        return False
    major, _, rest = version.partition(".")
    return major.isdigit() and (int(major) < 2 or (int(major) == 2 and rest.startswith("0.")))


def _result_link(obj: dict, links: list) -> None:
    """A Task/Agent result line (it carries the subagent's usage, so it is parsed anyway):
    which agent id the call started, and its type when the line says it."""
    result, message = obj.get("toolUseResult"), obj.get("message")
    if type(result) is not dict or type(message) is not dict or type(message.get("content")) is not list:
        return
    call = next((b.get("tool_use_id") for b in message["content"] if type(b) is dict and b.get("type") == "tool_result"), None)
    if type(call) is not str:
        return
    agent_id, kind = result.get("agentId"), result.get("agentType")
    links.append(("done", clean_name(call)))
    if type(agent_id) is str:
        links.append(("agent", clean_name(agent_id), clean_name(kind) if kind is not None else None, clean_name(call)))


_scan = json.scanner.make_scanner(json.JSONDecoder())  # the C scanner json.loads runs, minus its Python frames


def _loads(line: bytes):
    """json.loads(line), refusing what ccusage's parser refuses too: a lone surrogate anywhere
    (JSON's "\\ud800", or its UTF-8 bytes), which SQLite could not hold either. A line opening
    with '{' and no NUL after it is UTF-8 to json.loads too (json.detect_encoding), so it is
    decoded (strictly) and scanned directly; trailing data other than JSON whitespace is refused
    as json.loads refuses it."""
    if line[:1] != b"{" or line[1:2] == b"\0":
        obj = json.loads(line)
        if _lone_surrogate(obj):
            raise ValueError("lone surrogate")
        return obj
    text = line.decode("utf-8")
    try:
        obj, end = _scan(text, 0)
    except StopIteration:
        raise ValueError("not JSON") from None
    if end != len(text) and text[end:].strip(" \t\n\r"):
        raise ValueError("extra data")
    if "\\u" in text and _lone_surrogate(obj):  # only an escape makes one: Claude Code's lines rarely hold any
        raise ValueError("lone surrogate")
    return obj


def _lone_surrogate(obj) -> bool:
    try:
        return not transcript_paths.storable(json.dumps(obj, ensure_ascii=False))  # the C encoder
    except (ValueError, RecursionError):  # nesting the parser took but the encoder will not: no verdict
        return False


_VERSIONS_OK: set = set()  # versions repeat on every line: each is matched once


def parse_line(line: bytes, project: str = "", session: str = "", links: list | None = None):
    """An Entry for a line carrying usage; None (no usage, malformed, rejected as ccusage
    does); or SKIPPED (nested too deep, counts or time out of range: counted, never fatal).
    With `links` (a list), what ties subagents to their type is appended to it
    (read_entries)."""
    return _parse(line, project, session, links) if has_usage(line) else None


def _parse(line: bytes, project: str, session: str, links: list | None):
    """parse_line for a line already known to carry a usage key (UsageLines found it)."""
    if _has_null_key(line):
        return None
    try:
        obj = _loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    except RecursionError:
        return SKIPPED
    if type(obj) is not dict:
        return None
    src = obj
    if obj.get("type") == "progress":
        data = obj.get("data")
        if isinstance(data, dict) and data.get("type") == "agent_progress":
            # A subagent's response embedded in the parent file; no sidechain flag.
            src = data.get("message")
            if not isinstance(src, dict):
                return None
    message = src.get("message")
    if type(message) is not dict:
        return None
    usage = message.get("usage")
    if type(usage) is not dict:
        if links is not None and obj.get("type") == "user":
            _result_link(obj, links)
        return None
    # Checked in one pass: this runs on every usage line of every transcript.
    get = usage.get
    inp = get("input_tokens")
    out = get("output_tokens")
    cread = get("cache_read_input_tokens", 0)
    cflat = get("cache_creation_input_tokens", 0)
    if not (type(inp) is int and inp >= 0 and type(out) is int and out >= 0
            and type(cread) is int and cread >= 0 and type(cflat) is int and cflat >= 0):
        return None
    ts = transcript_ms(src.get("timestamp"))
    if ts is None:
        return None
    if not MIN_TS_MS <= ts <= MAX_TS_MS:
        return SKIPPED
    speed = get("speed")
    if speed is not None and speed != "standard" and speed != "fast":
        return None
    breakdown = get("cache_creation")
    if breakdown is None:
        c5, c1 = cflat, 0
    elif type(breakdown) is dict:
        c5, c1 = breakdown.get("ephemeral_5m_input_tokens", 0), breakdown.get("ephemeral_1h_input_tokens", 0)
        if not (type(c5) is int and c5 >= 0 and type(c1) is int and c1 >= 0):
            return None
    else:
        return None
    # Optional ids: absent is fine; present must be a non-empty string.
    model, mid = message.get("model"), message.get("id")
    rid, sid = src.get("requestId"), src.get("sessionId")
    if not (_id_ok(model, "model", message) and _id_ok(mid, "id", message) and _id_ok(rid, "requestId", src)
            and _id_ok(sid, "sessionId", src)):
        return None
    version = obj.get("version")
    if version is not None and (type(version) is not str or version not in _VERSIONS_OK):  # a list is unhashable
        if not (type(version) is str and _is_version(version)):
            return None
        if len(_VERSIONS_OK) < 1024:
            _VERSIONS_OK.add(version)
    side = src.get("isSidechain")
    if side is None:
        if "isSidechain" in src:
            return None
    elif type(side) is not bool:
        return None
    err = src.get("isApiErrorMessage")
    if err is not None and type(err) is not bool:
        return None
    if "costUSD" in src and type(src["costUSD"]) not in (int, float):
        return None
    server = get("server_tool_use")
    search = fetch = 0
    if type(server) is dict:
        search, fetch = server.get("web_search_requests", 0), server.get("web_fetch_requests", 0)
        search = search if type(search) is int and search >= 0 else 0
        fetch = fetch if type(fetch) is int and fetch >= 0 else 0
    if inp > MAX_COUNT or out > MAX_COUNT or cread > MAX_COUNT or c5 > MAX_COUNT or c1 > MAX_COUNT \
            or search > MAX_COUNT or fetch > MAX_COUNT:
        return SKIPPED
    origin = src.get("requestSessionId")  # Claude Code 2.1.3xx: set on lines a fork copied from its parent
    return Entry(ts, mid, rid, model, side is True, inp, out, c5, c1, cread, search, fetch, speed == "fast", project,
                 session, type(origin) is str and origin != sid, *_attribution(obj, src, message, links))


def _is_version(text: str) -> bool:
    """Whether `text` opens with three dot-separated runs of digits, as ccusage's version check
    (a regex's \\d: any Unicode decimal digit, as isdecimal); no regex compiled on the status line's path."""
    parts = text.split(".", 2)
    return len(parts) == 3 and parts[0].isdecimal() and parts[1].isdecimal() and parts[2][:1].isdecimal()


def _id_ok(value, key: str, holder: dict) -> bool:
    if value is None:
        return key not in holder
    return type(value) is str and value != ""


@record(slots=True)
class CostState:
    """One cumulative `cost-state` record (sources/cost_state.py): what Claude Code
    counted for the session so far, per model, calls never written as assistant
    lines (compaction, background) included. Token counts and names only."""

    pos: int  # byte offset of the line in its file
    ts_ms: int | None  # of the nearest preceding timestamped line: the record has none
    start_ms: int | None  # the session's startTime: resumes and forks keep their origin's
    api_ms: int  # cumulative API and wall durations: they tell a fork's inherited base apart
    duration_ms: int
    models: dict  # model → (input, output, cache_5m, cache_1h, cache_read, web_search)


_COST_FIELDS = ("inputTokens", "outputTokens", "cacheReadInputTokens", "webSearchRequests")


def _bounded(value) -> bool:
    """A finite millisecond figure SQLite and datetime can hold (JSON may spell Infinity)."""
    return type(value) in (int, float) and 0 <= value <= MAX_TS_MS


def parse_cost_state(line: bytes, pos: int, ts_ms: int | None) -> CostState | None:
    try:
        obj = _loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(obj, dict) or obj.get("type") != "cost-state" or type(obj.get("modelUsage")) is not dict:
        return None
    start, api, wall = obj.get("startTime"), obj.get("totalAPIDuration", 0), obj.get("totalDuration", 0)
    if not (_bounded(api) and _bounded(wall)) or (start is not None and not _bounded(start)):
        return None
    models = {}
    for model, u in obj["modelUsage"].items():
        if type(u) is not dict:
            return None
        inp, out, cread, web = (u.get(k, 0) for k in _COST_FIELDS)
        flat = u.get("cacheCreationInputTokens", 0)
        c5, c1 = u.get("cacheCreationEphemeral5mInputTokens"), u.get("cacheCreationEphemeral1hInputTokens")
        if c5 is None and c1 is None:  # no TTL split recorded: price it all as 5-minute writes
            c5, c1 = flat, 0
        values = (inp, out, c5 or 0, c1 or 0, cread, web)
        if not model or not all(type(v) is int and 0 <= v <= MAX_COUNT for v in values):
            return None
        models[model] = values
    return CostState(pos, ts_ms, int(start) if type(start) in (int, float) else None, int(api), int(wall), models)


def _timestamp_before(buf: bytes, end: int) -> int | None:
    """ms of the last parseable `"timestamp": "…"` value in buf[:end]."""
    hit = buf.rfind(b'"timestamp"', 0, end)
    while hit >= 0:
        i = hit + 11
        while i < end and buf[i] in _WS_COLON:
            i += 1
        if i < end and buf[i] == 34:
            close = buf.find(b'"', i + 1, end)
            ms = transcript_ms(buf[i + 1:close].decode("ascii", "replace")) if close > 0 else None
            if ms is not None and MIN_TS_MS <= ms <= MAX_TS_MS:
                return ms
        hit = buf.rfind(b'"timestamp"', 0, hit)
    return None


# ---------------------------------------------------------------- files

def session_of(path: Path, root: Path) -> tuple[str, str]:
    """(project, session) from the path (sources/transcript_paths.py)."""
    return transcript_paths.session_of(str(path), str(root))


def iter_transcripts(roots: list[Path]):
    """(root, path string, stat) of every *.jsonl under each root, sorted by
    path; links are not followed. One stat and no Path object per file: this
    runs on every command."""
    for root in roots:
        found = []
        stack = [str(root)]
        while stack:
            try:
                with os.scandir(stack.pop()) as it:
                    for item in it:  # the d_type answers without a stat; links are neither dirs nor files here
                        if item.name.endswith(".jsonl") and item.is_file(follow_symlinks=False):
                            try:
                                st = item.stat(follow_symlinks=False)
                            except OSError:
                                continue
                            if stat.S_ISREG(st.st_mode):  # opening a FIFO named *.jsonl blocks for ever
                                found.append((item.path, st))
                        elif item.is_dir(follow_symlinks=False):
                            stack.append(item.path)
            except OSError:
                continue
        found.sort()  # by path: paths are unique, so the stats are never compared
        for full, st in found:
            yield root, full, st


class UsageLines:
    """Iterate the complete lines after `offset` that carry usage; afterwards
    `end` is the offset just past the last complete line. A last line without
    its newline is still being written: it is left for the next read.
    With `states` (a list), `cost-state` records are appended to it.

    The marker is searched in large blocks, so lines without usage (most of
    the bytes: tool results, prompts, progress) are never split or decoded."""

    CHUNK = 1 << 23

    def __init__(self, path: Path, offset: int = 0, states: list | None = None):
        self.path, self.end, self.states = path, offset, states
        self.skipped = 0  # usage lines read_entries could not represent

    def __iter__(self):
        last_ts = None  # of the blocks before this one
        with open(self.path, "rb") as handle:
            handle.seek(self.end)
            carry = b""
            while block := handle.read(self.CHUNK):
                buf = carry + block if carry else block
                cut = buf.rfind(b"\n") + 1
                carry = buf[cut:]
                pos = skip = 0  # skip: a cost-state key before it sits on a line that is no record
                while (mark := _MARKS.search(buf, pos, cut)) is not None:
                    hit = mark.start()
                    if buf[hit + 1] == 99:  # 'c': "cost-state"
                        pos = hit + 11  # its closing quote may open a "usage"
                        if self.states is None or hit < skip:
                            continue
                        start = buf.rfind(b"\n", 0, hit) + 1
                        stop = buf.find(b"\n", hit)
                        ts = _timestamp_before(buf, start)
                        state = parse_cost_state(buf[start:stop], self.end + start, last_ts if ts is None else ts)
                        if state is not None:
                            self.states.append(state)
                            pos = stop + 1
                        else:  # "cost-state" inside some other line: it may still carry usage
                            skip = stop
                        continue
                    if not usage_at(buf, hit):  # "usage" as a value, or a key of a non-object
                        pos = hit + 7
                        continue
                    start = buf.rfind(b"\n", 0, hit) + 1
                    stop = buf.find(b"\n", hit)
                    yield buf[start:stop]
                    pos = stop + 1
                if self.states is not None:
                    last_ts = _timestamp_before(buf, cut) or last_ts
                self.end += cut


def read_entries(path: Path, project: str = "", session: str = "", reader: UsageLines | None = None,
                 links: list | None = None):
    """Entries of one file, streamed: memory does not grow with file size. With `links`
    (a list), (ref, subagent type, via) rows are appended to it: a Task/Agent call id →
    the type it asked for; an agent id → its type and/or the call that started it."""
    reader = reader or UsageLines(path)
    found: list | None = [] if links is not None else None
    pending: dict = {}  # Task calls of this read still awaiting their result: call id → type
    for line in reader:
        entry = _parse(line, project, session, found)
        if found:
            for link in found:
                if link[0] == "call":
                    pending[link[1]] = link[2]
                    links.append((link[1], link[2], None))
                elif link[0] == "done":
                    pending.pop(link[1], None)
                else:
                    links.append(link[1:])
            found.clear()
        if entry is SKIPPED:
            reader.skipped += 1
        elif entry is not None:
            if entry.agent_ref == INLINE:
                kinds = set(pending.values())
                entry.agent_ref, entry.agent = None, kinds.pop() if len(kinds) == 1 else None
            yield entry


def agent_meta(transcript: str) -> tuple | None:
    """(agent id, type, call id) from a subagent transcript's sidecar `agent-<id>.meta.json`
    (2.1.x), names only; None when there is none or it says nothing usable."""
    name = os.path.basename(transcript)
    if not (name.startswith("agent-") and os.path.basename(os.path.dirname(transcript)) == "subagents"):
        return None
    try:  # non-blocking, and a regular file only: a FIFO of that name must not hang the sync
        fd = os.open(transcript[:-len(".jsonl")] + ".meta.json", os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            meta = json.loads(handle.read(1 << 16)) if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(meta, dict) or type(meta.get("agentType")) is not str:
        return None
    call = meta.get("toolUseId")
    return clean_name(name[6:-6]), clean_name(meta["agentType"]), clean_name(call) if type(call) is str else None


def root_of(path: Path, roots: list[Path]) -> Path | None:
    """The projects root holding `path`, or None (a copied or archived transcript)."""
    found = transcript_paths.root_of(str(path), [str(r) for r in roots])
    return next(r for r in roots if str(r) == found) if found is not None else None


def session_files(main_file: Path) -> list[Path]:
    """A session's main transcript plus its subagent transcripts (sources/transcript_paths.py)."""
    return [main_file] + [Path(p) for p in transcript_paths.session_files(str(main_file))[1:]]


def find_current_session(roots: list[Path], cwd: Path | None = None) -> Path | None:
    """The most recently modified main transcript, preferring the cwd's project
    (when it has one, only its files are looked at: no stat of every other project's)."""
    mains = []
    if cwd is not None:
        wanted = project_dir_name(cwd)
        mains = [m for root in roots if root.is_dir() and wanted in os.listdir(root) for m in _mains(root / wanted)]
    if not mains:
        mains = [m for root in roots if root.is_dir() for project in root.iterdir() for m in _mains(project)]
    return Path(max(mains, key=lambda m: m[0])[1]) if mains else None


def _mains(project: Path) -> list[tuple[float, str]]:
    """(mtime, path) of the project's *.jsonl files (links followed, as Path.is_file), one stat each."""
    out = []
    try:
        with os.scandir(project) as it:
            for item in it:
                if item.name.endswith(".jsonl") and transcript_paths.storable(item.path):  # as the index
                    try:
                        if item.is_file():
                            out.append((item.stat().st_mtime, item.path))
                    except OSError:
                        continue
    except OSError:  # not a folder, or gone
        pass
    return out


def project_dir_name(cwd: Path) -> str:
    """Claude Code's folder name for a cwd: every non-alphanumeric char becomes '-'."""
    return re.sub(r"[^A-Za-z0-9]", "-", str(cwd))[:200]


def find_session_by_id(roots: list[Path], session_id: str) -> Path | None:
    from glob import escape  # only here: the status line's sync loads this module

    if "/" in session_id or os.sep in session_id or not transcript_paths.storable(session_id):  # a file, never a path
        return None
    for root in roots:
        for candidate in root.glob(f"*/{escape(session_id)}.jsonl"):  # the id literally, never a pattern
            return candidate
    return None
