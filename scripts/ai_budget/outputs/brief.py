"""Render the session brief as terminal text or compact markdown (for the skill)."""

from __future__ import annotations

from ..analysis import limits as spend
from ..sources.utilisation import STALE_AFTER_S
from .. import paths
from ..timefmt import age, countdown, parse_iso
from .text import num, pct, source_note


def _window(label: str, win: dict, now) -> str:
    if win.get("util") is None:
        return f"{label} n/a"
    if win.get("reset_since"):
        return f"{label} {pct(win['util'])} before its reset at {countdown(parse_iso(win['resets_at']), now)}, now unknown"
    resets = parse_iso(win.get("resets_at"))
    text = f"{label} {pct(win['util'])} (resets {countdown(resets, now) if resets else 'when next used'})"
    p = win.get("pace")
    if p:
        where = "on an even pace" if p["stage"] == "on track" else p["stage"].replace("ahead", "ahead of") + " an even pace"
        text += f", {where} ({p['delta_pct']:+.0f} pts; {p['expected_pct']:.0f}% of window elapsed)"
        if not p["lasts_to_reset"] and p["runs_out_at"]:
            text += f", runs out ~{countdown(p['runs_out_at'], now)} at this rate"
    return text


def limit_lines(c: dict, now) -> list[str]:
    """Per-model weekly caps and extra usage (API only). Next to a fresher status-line
    reading they are older: then they carry their own age."""
    as_of = parse_iso(c.get("limits_as_of"))
    suffix = f" (as of {age(as_of, now)})" if as_of and (now - as_of).total_seconds() > STALE_AFTER_S else ""
    lines = [f"weekly {s['model']}: {pct(s['util'])}" + ("  ← binding" if s.get("active") else "") + suffix
             for s in c.get("scoped_weekly") or []]
    extra = c.get("extra_usage")
    if extra and extra.get("enabled"):
        used, limit = extra.get("used_usd") or 0, extra.get("limit_usd")
        lines.append(f"extra usage: ${used:.2f}" + (f" of ${limit:.2f}" if limit else "") + suffix)
    return lines


def claude_lines(c: dict, now) -> list[str]:
    lines = [_window("5h", c.get("five_hour") or {}, now), _window("7d", c.get("seven_day") or {}, now)]
    lines += limit_lines(c, now)
    note = source_note(c, now)
    if note:
        lines.append(note)
    return lines


def balance_line(name: str, b: dict) -> str:
    if name == "gemini":
        text = str(b.get("status") or "unknown").replace("_", " ")
        if b.get("used") is not None:
            text += f", {num(b['used'])}" + (f" of {num(b['limit'])}" if b.get("limit") is not None else "") + f" {b.get('unit') or ''}".rstrip()
    elif b.get("used") is None:
        text = f"no count yet (limit {num(b.get('limit'))} {b.get('unit')})"
    else:
        unit = str(b.get("unit")).replace("_", " ")
        text = f"{num(b['used'])} of {num(b['limit'])} {unit} used, {num(b['remaining'])} left"
        if b.get("resets_at"):
            text += f", resets {b['resets_at'][:10]}"
    if b.get("reset_since_update"):
        text += " — RESET since this count; update it"
    if b.get("stale"):
        age = "never updated" if b.get("age_days") is None else f"updated {b['age_days']:.0f} days ago"
        text += f" — STALE ({age}): `{b['how_to_update']}`"
    return text


def credits_line(a: dict) -> str | None:
    """Anthropic API credits, when their ledger has an entry (None: nothing to say)."""
    if a.get("problem"):
        return a["problem"]
    if not a.get("entries"):
        return None
    text = f"${a['balance_usd']:,.2f} balance ({'updated ' + str(round(a['age_days'])) + ' days ago' if a['age_days'] >= 1 else 'updated today'})"
    if a.get("month_spend_usd") is not None:
        text += f", ${a['month_spend_usd']:,.2f} spent this month"
    if a.get("burn_usd_per_day") is not None:
        text += f", ${a['burn_usd_per_day']:,.2f}/day"
        if a.get("runs_out_at"):
            text += f", runway {int(a['runway_days'])} days (to {a['runs_out_at'][:10]})"
    if a.get("stale"):
        text += f" — STALE: `{a['how_to_update']}`"
    return text


def task_line(e: dict) -> str:
    units = f" ({e['task_type']} ×{e['units']})" if e.get("units") else ""
    span = f" ({e['range_pct'][0]:.0f}–{e['range_pct'][1]:.0f}%)" if e.get("range_pct") else ""
    return f"[{e['tag']}] {e['text']}{units} → ~{e['estimate_pct']:.0f}%{span} of 5h ({e['basis']})"


def recommendation(plan: dict, claude: dict, now) -> list[str]:
    out = []
    resets = parse_iso((claude.get("five_hour") or {}).get("resets_at"))
    after_reset = f"after the reset at {countdown(resets, now)}" if resets else "in a later window"
    until_reset = f"until after the reset at {countdown(resets, now)}" if resets else "to a later window"
    if plan["start"]:
        s = plan["start"]
        out.append(f"Start with [{s['tag']}] {s['text']}: ~{s['estimate_pct']:.0f}% fits in the {plan['headroom_pct']:.0f}% left.")
        for e in plan["then"]:
            out.append(f"Then [{e['tag']}] {e['text']} (~{e['estimate_pct']:.0f}%).")
    cp = plan.get("checkpoint")
    if cp:
        t = cp["task"]
        lead = "Then, partly" if plan["start"] else "Nothing fits whole; start"
        out.append(f"{lead}: [{t['tag']}] {t['text']} — ~{cp['fits_units']} of {t['units']} units fit; "
                   f"checkpoint (commit, /budget-log) at ~{cp['stop_at_pct']:.0f}% and finish {after_reset}.")
    if plan["defer"]:
        names = "; ".join(f"[{e['tag']}] {e['text']}" for e in plan["defer"][:4])
        more = f" (+{len(plan['defer']) - 4} more)" if len(plan["defer"]) > 4 else ""
        out.append(f"Defer {until_reset}: {names}{more}.")
    for m in plan["move"][:3]:
        out.append(f"Claude is low: move [{m['task']['tag']}] {m['task']['text']} to {' or '.join(m['to'])}.")
    out += plan["notes"]
    if not out:
        out.append(f"Backlog is empty: add tasks to {paths.budget_home() / 'tasks' / 'backlog.md'}.")
    return out


def local_line(local: dict) -> str:
    def part(label, t):
        return f"{label} {num(t['tokens'])} tokens, ${t['cost_usd']:.2f}" + (" + unpriced" if t["unpriced"] else "")
    parts = [part("today", local["today"])] + ([part("this window", local["window"])] if local.get("window") else [])
    counting = "still being counted (the first index of this machine's transcripts is built in the background); so far " \
        if local.get("counting") else ""
    return counting + "; ".join(parts) + " (API-equivalent estimate)"


def limits_line(lim: dict | None) -> str | None:
    """"day $4.10/$10 (41%) ok; week $48.00/$50 (96%) CRITICAL (API-equivalent)", most severe
    first; None when no limit is set."""
    periods = (lim or {}).get("periods") or {}
    if not periods:
        return None
    order = sorted(periods, key=lambda p: (-spend.STATUSES.index(periods[p]["status"]), spend.PERIODS.index(p)))
    parts = [f"{spend.describe(p, periods[p])} {periods[p]['status'] if periods[p]['status'] == 'ok' else periods[p]['status'].upper()}"
             for p in order]
    return "; ".join(parts) + (" (API-equivalent estimate)" if lim["unit"] == "usd" else "")


def text(data: dict, now) -> str:
    c, plan = data["claude"], data["backlog"]
    local = now.astimezone().strftime("%a %d %b %H:%M")
    lines = [f"=== Budget check: {local} ===", ""]
    cl = claude_lines(c, now)
    lines.append(f"Claude   {cl[0]}")
    lines += [f"         {x}" for x in cl[1:]]
    lines.append(f"Local    {local_line(data['local'])}")
    if limits_line(data.get("limits")):
        lines.append(f"Limits   {limits_line(data['limits'])}")
    lines.append(f"Copilot  {balance_line('copilot', data['copilot'])}")
    lines.append(f"Gemini   {balance_line('gemini', data['gemini'])}")
    credits = credits_line(data.get("api_credits") or {})
    if credits:
        lines.append(f"API      {credits}")
    lines += ["", "Backlog (estimated cost in % of the 5-hour window):"]
    lines += [f"  {task_line(e)}" for e in plan["estimates"]] or [f"  (no tasks in {paths.budget_home() / 'tasks' / 'backlog.md'})"]
    lines += ["", "Recommendation:"] + [f"  → {r}" for r in recommendation(plan, c, now)]
    return "\n".join(lines)


def markdown(data: dict, now, limit: int | None = None, notes: tuple[str, ...] = ()) -> str:
    """The brief in priority order, so a `limit` (the SessionStart hook's) drops from the tail:
    Claude and pace, the recommendation, the other accounts, then backlog lines while there is room."""
    c, plan = data["claude"], data["backlog"]
    cl = claude_lines(c, now)
    lines = [f"**Claude:** {cl[0]}; {'; '.join(cl[1:])}"]
    if limits_line(data.get("limits")):
        lines.append(f"**Spend limits:** {limits_line(data['limits'])}")
    lines.append("**Recommendation:**")
    lines += [f"- {r}" for r in recommendation(plan, c, now)]
    lines += list(notes) + [f"**Copilot:** {balance_line('copilot', data['copilot'])}",
                            f"**Gemini:** {balance_line('gemini', data['gemini'])}",
                            *([f"**API credits:** {c}"] if (c := credits_line(data.get("api_credits") or {})) else []),
                            f"**Local usage:** {local_line(data['local'])}", "**Backlog:**"]
    tasks = [f"- {task_line(e)}" for e in plan["estimates"]] or ["- (empty)"]
    if limit is None:
        return "\n".join(lines + tasks)
    return _fit(lines, tasks, limit)


def _fit(head: list[str], tail: list[str], limit: int) -> str:
    """Lines in priority order while they fit. No line takes more than a third of the
    room; a head line too long for the room left is shortened, a backlog line is left out;
    what was left out is counted in a last line."""
    reserve = len("- (+999 more: run /budget-check)") + 1
    longest = limit // 3
    kept, left_out, size = [], 0, 0
    for n, line in enumerate(head + tail):
        line = line if len(line) <= longest else line[:longest - 1] + "…"
        room = limit - size - (0 if n == len(head) + len(tail) - 1 and not left_out else reserve)
        if len(line) + 1 > room and n < len(head) and room > 40:
            line = line[:room - 2] + "…"
        if len(line) + 1 <= room:
            kept.append(line)
            size += len(line) + 1
        else:
            left_out += 1
    if left_out:
        kept.append(f"- (+{left_out} more: run /budget-check)")
    return "\n".join(kept)[:limit]
