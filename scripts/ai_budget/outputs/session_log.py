"""sessions/YYYY-MM-DD.md: one section per session, in the plan's format, each
ending with its numbers as a JSON comment so history and calibration can be
rebuilt from the logs. A record is identified by its session and start: a
retry of the same log replaces its section, and a rebuild counts it once.

Only the writer can make a record: every rendered line is folded onto one line
(user text cannot start a line of its own), and a record counts only as the
last line of a '## Session:' section, after a blank line, where render() puts it."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

from ..atomic import locked, read_text, write_atomic
from .text import num

MARKER = "<!-- ai-budget:session "
HEADER = "## Session: "
_RECORD = re.compile(r"^<!-- ai-budget:session (\{.*\}) -->$")


def fold(text: str) -> str:
    """One line of text: control characters and line/paragraph separators become
    spaces, and an HTML comment cannot be opened (it would hide the rest of the page)."""
    one = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in str(text))
    return one.replace("<!--", "<! --")


def key(rec: dict) -> tuple:
    """A record's identity; a hand-edited one may hold any JSON there (a list is unhashable)."""
    return tuple(v if v is None or isinstance(v, str) else repr(v) for v in (rec.get("session_id"), rec.get("started_at")))


def _pct(v):
    return "?" if v is None else f"{v:.1f}%"


def _k(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


def render(rec: dict) -> str:
    d = rec["delta"]
    start_l, end_l = rec["started_local"], rec["ended_local"]
    if d["delta"] is not None:
        delta = f"Δ+{d['delta']:.1f}%" + (f" of Δ+{d['raw_delta']:.1f}% raw, {d['share']:.0%} this session" if d.get("share") is not None and d["share"] < 0.999 else "")
    else:
        delta = "Δ not measured"
    seven = rec["seven_day"]
    t = rec["tokens"]
    lines = [
        f"## Session: {rec['date']} {start_l}–{end_l}",
        "",
        f"**Claude:** 5h window {_pct(d['before'])}→{_pct(d['after'])} ({delta}) | 7-day {_pct(seven['before'])}→{_pct(seven['after'])}",
    ]
    if not d["trusted"] or d.get("reason"):
        lines.append(f"**Delta note:** {d['reason']}" + ("" if d["trusted"] else " — not used for calibration"))
    lines += [
        f"**Tokens — output:** {num(t['output_tokens'])} | input: {num(t['input_tokens'])} | cache built: {_k(t['cache_creation_input_tokens'])} "
        f"| cache read: {_k(t['cache_read_input_tokens'])} | web fetches: {t['web_fetch_requests']} | searches: {t['web_search_requests']}",
        f"**API-equivalent cost:** {rec['cost_text']} (estimate at list prices; the subscription covers it)",
        f"**Copilot:** {rec['copilot']}",
        f"**Gemini:** {rec['gemini']}",
        "",
        "**Work done:**",
    ]
    lines += [f"- {x['type']} {x['units']} unit{'s' if x['units'] != 1 else ''}" + (f" — {x['description']}" if x.get("description") else "")
              for x in rec["tasks"]] or ["- (nothing logged)"]
    lines += ["", "**Cost breakdown:**"]
    for x in rec["tasks"]:
        per_tok = round(x["output_tokens"] / x["units"])
        pct = f"~{x['pct']:.1f}% 5h window (~{x['pct'] / x['units']:.2f}%/unit)" if x.get("pct") is not None else "5h share not measured"
        lines.append(f"- {x['type']}: {pct}, {_k(x['output_tokens'])} output tokens (~{per_tok} tokens/unit)")
    if not rec["tasks"]:
        lines.append("- (no task types)")
    measured = {t["type"]: t for t in rec["calibration_tasks"]}
    for e in rec["estimates"]:
        actual = measured[e["type"]]["pct"]
        lines.append(f"- {e['type']} estimated at check: ~{e['pct']:.1f}% ({e['basis']}, {e['samples']} "
                     f"sample{'s' if e['samples'] != 1 else ''})"
                     + (f", measured {actual:.1f}%" if actual is not None else ""))
    lines += ["", "**Calibration:** " + ("; ".join(rec["calibration_text"]) or "unchanged")]
    if rec["lessons"]:
        lines += ["", "**Lessons:**"] + [f"- {x}" for x in rec["lessons"]]
    if rec["next"]:
        lines += ["", "**Next session:**"] + [f"- {x}" for x in rec["next"]]
    if rec["completed"]:
        lines += ["", "**Moved to completed:**"] + [f"- {x}" for x in rec["completed"]]
    machine = {k: rec[k] for k in ("v", "session_id", "date", "started_at", "ended_at", "delta", "seven_day",
                                    "calibration_tasks", "estimates", "tokens", "cost_usd", "unpriced_models")}
    # "-->" can only occur inside a JSON string; escaped, it cannot end the comment early.
    record = json.dumps(machine, separators=(",", ":"), sort_keys=True).replace("-->", "--\\u003e")
    return "\n".join([fold(l) for l in lines] + ["", MARKER + record + " -->", ""])


def sections(text: str) -> list[tuple[int, int, dict | None]]:
    """(first line, end line, record or None) of each '## Session:' section."""
    lines = text.splitlines()
    starts = [n for n, l in enumerate(lines) if l.startswith(HEADER)]
    out = []
    for start, end in zip(starts, starts[1:] + [len(lines)]):
        last = end
        while last > start and not lines[last - 1].strip():
            last -= 1
        m = _RECORD.match(lines[last - 1]) if last - start >= 3 and not lines[last - 2].strip() else None
        try:
            rec = json.loads(m.group(1)) if m else None
        except ValueError:
            rec = None
        out.append((start, end, rec if isinstance(rec, dict) else None))
    return out


def read(path: Path, date: str) -> str:
    from ..errors import BudgetError

    try:
        return read_text(path)
    except FileNotFoundError:
        return f"# Sessions {date}\n"
    except BudgetError as exc:
        raise BudgetError(f"{exc}, nothing written") from None


def append(path: Path, section: str, date: str, rec: dict) -> None:
    """Add the section, or replace the one a failed or killed run of the same log wrote."""
    with locked(path):
        old = read(path, date)
        same = [(s, e) for s, e, r in sections(old) if r and key(r) == key(rec)]
        if same:
            lines = old.splitlines()
            start, end = same[-1]
            tail = lines[end:]
            text = "\n".join(lines[:start] + section.rstrip("\n").split("\n") + ([""] + tail if tail else [])) + "\n"
        else:
            text = old.rstrip("\n") + "\n\n" + section
        write_atomic(path, text)


def records(sessions_dir: Path) -> list[dict]:
    """Every machine-readable record, oldest first; of the records with one key
    (a log retried after a failure), the latest."""
    from .. import notices
    from ..errors import BudgetError

    latest = {}
    for path in sorted(sessions_dir.glob("*.md")):
        try:
            text = read_text(path, errors="replace")
        except (FileNotFoundError, BudgetError) as exc:  # a FIFO there would hang every reader
            notices.add(str(exc) if isinstance(exc, BudgetError) else f"{path}: gone while read")
            continue
        for _, _, rec in sections(text):
            if rec is not None and (key(rec) not in latest or str(rec.get("ended_at")) >= str(latest[key(rec)].get("ended_at"))):
                latest[key(rec)] = rec
    return sorted(latest.values(), key=lambda r: str(r.get("ended_at") or ""))
