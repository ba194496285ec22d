"""sessions/YYYY-MM-DD.md: one section per session, in the plan's format, each
ending with its numbers as a JSON comment so history and calibration can be
rebuilt from the logs. Sections are only ever appended."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..state.atomic import locked, write_atomic
from .text import num

MARKER = "<!-- ai-budget:session "
_RECORD = re.compile(r"^<!-- ai-budget:session (\{.*\}) -->$", re.M)


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
    lines += ["", "**Calibration:** " + ("; ".join(rec["calibration_text"]) or "unchanged")]
    if rec["lessons"]:
        lines += ["", "**Lessons:**"] + [f"- {x}" for x in rec["lessons"]]
    if rec["next"]:
        lines += ["", "**Next session:**"] + [f"- {x}" for x in rec["next"]]
    if rec["completed"]:
        lines += ["", "**Moved to completed:**"] + [f"- {x}" for x in rec["completed"]]
    machine = {k: rec[k] for k in ("v", "session_id", "date", "started_at", "ended_at", "delta", "seven_day",
                                    "calibration_tasks", "tokens", "cost_usd", "unpriced_models")}
    lines += ["", MARKER + json.dumps(machine, separators=(",", ":"), sort_keys=True) + " -->", ""]
    return "\n".join(lines)


def append(path: Path, section: str, date: str) -> None:
    with locked(path):
        old = path.read_text(encoding="utf-8") if path.exists() else f"# Sessions {date}\n"
        write_atomic(path, old.rstrip("\n") + "\n\n" + section)


def records(sessions_dir: Path) -> list[dict]:
    """Every machine-readable record, oldest first."""
    out = []
    for path in sorted(sessions_dir.glob("*.md")):
        for m in _RECORD.finditer(path.read_text(encoding="utf-8")):
            try:
                out.append(json.loads(m.group(1)))
            except ValueError:
                continue
    return sorted(out, key=lambda r: r.get("ended_at") or "")
