"""budget report daily|weekly|monthly|session|blocks|models|projects|tools|agents|skills: usage history."""

from __future__ import annotations

from .. import core, paths
from ..analysis import reports
from ..errors import BudgetError
from ..outputs.text import num, table
from ..sources import statusline_snapshot, utilisation
from ..state import budget_file, index
from ..timefmt import parse_iso
from . import Result, day_ms as _day_ms, parse_day as _date, save_history, zone as _zone


def known_resets(budget: dict) -> list[int]:
    """Real 5-hour window ends we have seen (usage API or status line): every one
    budget.json kept, its last reading's and the status line's current one."""
    claude = budget["claude"]
    ends = utilisation.note_end(claude["five_hour_ends"], claude["five_hour"].get("resets_at"))
    snap = statusline_snapshot.read()
    if snap:
        ends = utilisation.note_end(ends, (snap.get("five_hour") or {}).get("resets_at"))
    return [int(parse_iso(end).timestamp() * 1000) for end in ends]


def run(args, now) -> Result:
    tz = _zone(args.tz)
    since, until = _date(args.since, "--since"), _date(args.until, "--until")
    if since and until and since > until:
        raise BudgetError(f"--since {since} is after --until {until}")
    if args.kind == "accuracy":
        for flag, given in (("--project", args.project), ("--breakdown", args.breakdown), ("--save", args.save)):
            if given:
                raise BudgetError(f"{flag}: not with report accuracy, which reads the session logs")
        return accuracy_report(since, until)
    home, machine = paths.budget_home(), paths.machine_id()
    budget = budget_file.load(paths.budget_file())
    core.synced_prices(budget, now)
    warnings: list[str] = []
    lo, hi = _day_ms(since, tz, -1), _day_ms(until, tz, 2)  # coarse SQL prefilter; the reports filter exactly
    if args.kind == "blocks":
        rows = index.entries(lo, hi, args.project)
        data = reports.blocks(rows, int(now.timestamp() * 1000), known_resets(budget), _day_ms(since, tz), _day_ms(until, tz, 1))
    elif args.kind in reports.ATTRIBUTION:
        data = reports.attribution(args.kind, index.attributed(lo, hi, args.project), core.history_rows(home, machine, warnings),
                                   tz, since, until, args.project)
    else:
        rows = index.usage(lo, hi, args.project, per_session=args.kind in ("session", "projects"),
                           slot_ms=index.slot_ms_for(tz, now))
        if args.kind != "session":
            rows += core.history_rows(home, machine, warnings)
        data = reports.build(args.kind, rows, tz, since, until, args.project)
    if args.save:
        data["history"] = saved = save_history(home, machine, now)
        warnings += [n for n in saved["commit"]["notes"] if saved["changed"] and not saved["commit"]["committed"]]
    if args.kind == "blocks":
        text = render_blocks(data, tz)
    elif args.kind in reports.ATTRIBUTION:
        text = render_attribution(args.kind, data, args.breakdown)
    else:
        text = render(args.kind, data, args.breakdown)
    return Result(data=data, text=text, warnings=warnings)


def accuracy_report(since: str | None, until: str | None) -> Result:
    """`report accuracy`: the brief's estimates against what the sessions measured, from
    the committed session logs only (as `calibrate --rebuild` reads them), by their local date."""
    from ..analysis import accuracy
    from ..outputs import accuracy_text, session_log

    records = [r for r in session_log.records(paths.budget_home() / "sessions")
               if (since is None or str(r.get("date")) >= since) and (until is None or str(r.get("date")) <= until)]
    data = accuracy.report(records)
    return Result(data=data, text=accuracy_text.render(data))


EXTRA_LABEL = "  + not in transcript lines (from cost-state)"
UNATTRIBUTED_LABEL = "  ? unattributed (from cost-state)"


def _footer(t: dict) -> list[str]:
    lines = ["Costs are API-equivalent estimates at list prices; your subscription is billed by plan."]
    if t.get("notInTranscript"):
        lines.append("'+ not in transcript lines': /compact, auto-compact and background calls that only Claude Code's "
                     "cost-state records count; not included in the rows above them, which count lines as ccusage does.")
    if t.get("unattributed"):
        lines.append("'? unattributed': what a fork's cost-state records hold beyond its lines when the record it was "
                     "forked from cannot be told apart; it may belong to a related session, so it is in neither figure.")
    if t.get("unpricedModels"):
        lines.append(f"Unpriced (no price known, not counted as $0): {', '.join(t['unpricedModels'])}")
    return lines


def render(kind: str, data: dict, breakdown: bool) -> str:
    list_key, field = reports.KINDS[kind]
    headers = [field, "input", "output", "cache write", "cache read", "total tokens", "cost (API-eq.)"]
    rows = []

    def figures(label, r):
        return [label, num(r["inputTokens"]), num(r["outputTokens"]), num(r["cacheCreationTokens"]),
                num(r["cacheReadTokens"]), num(r["totalTokens"]), f"${r['totalCost']:.2f}"]

    for r in data[list_key]:
        label = r[field] if kind != "session" else f"{r['sessionId'][:8]} {r['projectPath'][-28:]}"
        rows.append(figures(label, r))
        rows += _apart(figures, r)
        if breakdown and kind != "models":
            for m in r.get("modelBreakdowns", []):
                rows.append([f"  {m['modelName']}", num(m["inputTokens"]), num(m["outputTokens"]),
                             num(m["cacheCreationTokens"]), num(m["cacheReadTokens"]), "", f"${m['cost']:.2f}"])
    t = data["totals"]
    rows.append(figures("total", t))
    rows += _apart(figures, t)
    return "\n".join([table(headers, rows), *_footer(t)])


def _apart(figures, r: dict) -> list:
    return [figures(label, r[key]) for key, label in (("notInTranscript", EXTRA_LABEL), ("unattributed", UNATTRIBUTED_LABEL))
            if r.get(key)]


def render_attribution(kind: str, data: dict, breakdown: bool) -> str:
    list_key, field = reports.ATTRIBUTION[kind]
    headers = [field, "responses", "input", "output", "cache write", "cache read", "total tokens", "share", "cost (API-eq.)"]

    def figures(label, r, share):
        return [label, num(r["entries"]), num(r["inputTokens"]), num(r["outputTokens"]), num(r["cacheCreationTokens"]),
                num(r["cacheReadTokens"]), num(r["totalTokens"]), share, f"${r['totalCost']:.2f}"]

    rows = []
    for r in data[list_key]:
        rows.append(figures(r[field], r, f"{r['sharePct']:.1f}%"))
        if breakdown:
            rows += [[f"  {m['modelName']}", "", num(m["inputTokens"]), num(m["outputTokens"]), num(m["cacheCreationTokens"]),
                      num(m["cacheReadTokens"]), "", "", f"${m['cost']:.2f}"] for m in r.get("modelBreakdowns", [])]
    rows.append(figures("total", data["totals"], "100%" if data[list_key] else ""))
    return "\n".join([table(headers, rows), data["rule"], *_footer(data["totals"])])


def render_blocks(data: dict, tz) -> str:
    rows = []
    for b in data["blocks"]:
        start = parse_iso(b["startTime"]).astimezone(tz).strftime("%Y-%m-%d %H:%M")
        if b["isGap"]:
            rows.append([start, "(gap)", "", "", "", "", ""])
            continue
        status = "ACTIVE" if b["isActive"] else ""
        burn = f"${b['burnRate']['costPerHour']:.2f}/h" if b["burnRate"] else ""
        proj = f"→ ${b['projection']['totalCost']:.2f} in {b['projection']['remainingMinutes']}m" if b["projection"] else ""
        rows.append([start, status, "real" if b["window"] == "usage-api" else "estimated", num(b["totalTokens"]),
                     f"${b['costUSD']:.2f}", burn, proj])
    t = data["totals"]
    rows.append(["total", "", "", num(t["totalTokens"]), f"${t['totalCost']:.2f}", "", ""])
    note = "Windows marked 'estimated' start at the hour of their first message, as ccusage guesses; 'real' ones come from the usage API."
    return "\n".join([table(["block start", "status", "window", "tokens", "cost (API-eq.)", "burn", "projection"], rows),
                      note, *_footer(t)])
