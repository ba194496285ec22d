"""`budget watch`'s frame as lines of text. Pure. Colour only when asked (the
command decides: a terminal, no NO_COLOR); every state also reads in words."""

from __future__ import annotations

from ..analysis import limits
from ..timefmt import countdown, parse_iso
from .text import num, source_note

WIDTH = 30
COLOURS = {"ok": "32", "warning": "33", "critical": "31", "exceeded": "1;31"}


def gauge(util: float | None) -> str:
    if util is None:
        return "[" + "?" * WIDTH + "]"
    filled = round(max(0.0, min(float(util), 100.0)) / 100 * WIDTH)
    return "[" + "#" * filled + "." * (WIDTH - filled) + "]"


def _paint(text: str, status: str, colour: bool) -> str:
    return f"\x1b[{COLOURS[status]}m{text}\x1b[0m" if colour and status in COLOURS else text


def _level(util: float, alerts: dict) -> str:
    if util >= 100:
        return "exceeded"
    if util >= alerts.get("critical_at", 90):
        return "critical"
    return "warning" if util >= alerts.get("warn_at", 70) else "ok"


def frame(data: dict, now, colour: bool = False) -> list[str]:
    five, window = data["five_hour"], data.get("window")
    util = None if five.get("reset_since") else five.get("util")
    resets = parse_iso(five.get("resets_at"))
    lines = [f"ai-budget watch · {now.astimezone().strftime('%a %d %b %H:%M:%S')} · q or Ctrl-C to leave", ""]
    shown = "n/a" if util is None else f"{float(util):5.1f}%"
    level = _level(float(util), data.get("alerts") or {}) if util is not None else ""
    if five.get("reset_since"):
        reset = f"the last reading ({float(five['util']):.0f}%) is from before the reset at {countdown(resets, now)}"
    else:
        reset = f"resets {countdown(resets, now)}" if resets and resets > now else "no running window"
    lines.append(f"5h window  {_paint(gauge(util), level, colour)} {shown}  {reset}")
    p = five.get("pace")
    if p:
        line = f"  pace     {p['stage']} ({p['delta_pct']:+.0f} pts; {p['expected_pct']:.0f}% of the window elapsed)"
        if not p["lasts_to_reset"] and p["runs_out_at"]:
            line += f", runs out ~{countdown(p['runs_out_at'], now)}"
        lines.append(line)
    if window:
        line = f"  burn     ${window['cost_usd']:.2f} in this window"
        if window.get("burn_usd"):
            line += f", ${window['burn_usd']['per_hour']:.2f}/h → ~${window['burn_usd']['at_end']:.2f} by the reset"
        lines.append(line)
        if window.get("burn_pct"):
            lines.append(f"           {window['burn_pct']['per_hour']:.1f} %/h → ~{window['burn_pct']['at_end']:.0f}% "
                         "of the window by the reset")
    today = data["today"]
    daily = data["limits"]["periods"].get("daily")
    if daily:
        lines.append("today      " + _paint(f"{limits.describe('daily', daily)} {daily['status']}", daily["status"], colour)
                     + f" · {num(today['tokens'])} tokens")
    else:
        lines.append(f"today      ${today['cost_usd']:.2f} · {num(today['tokens'])} tokens (no daily limit set)")
    for period in ("weekly", "monthly"):
        e = data["limits"]["periods"].get(period)
        if e and e["status"] != "ok":
            lines.append(f"{limits.LABELS[period]:<11}" + _paint(f"{limits.describe(period, e)} {e['status']}", e["status"], colour))
    s = data["session"]
    if s.get("cost_usd") is not None:
        lines.append(f"session    {s['id'][:8]}: ${s['cost_usd']:.2f} · {num(s['tokens'])} tokens · {num(s['responses'])} responses")
    else:
        lines.append("session    no transcript for this folder")
    note = source_note({"source": data["source"], "observed_at": data["observed_at"], "stale": data["stale"],
                        "problem": data["problem"]}, now)
    lines += ["", note or "", "Costs are API-equivalent estimates (a subscription is billed by plan)."]
    return lines
