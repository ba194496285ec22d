"""budget estimate: a task's cost before it starts (core.task_estimate): % of the
5-hour window, output tokens, API-equivalent dollars, whether it fits before the
reset, and whether the figure came from calibration or a tier's default."""

from __future__ import annotations

from .. import core, paths
from ..analysis import estimate
from ..errors import EXIT_UNAVAILABLE, BudgetError
from ..outputs.session_log import fold
from ..outputs.text import source_note
from ..state import budget_file
from ..timefmt import countdown, parse_iso
from . import Result


def run(args, now) -> Result:
    name = args.task.strip().lower()
    if not name:
        raise BudgetError("estimate: give a task type (flashcard x15) or a description with --tier")
    calibration = budget_file.load(paths.budget_file())["calibration"]
    task_type = name if name in calibration else None
    units = estimate.units(args.units)
    if units is not None and task_type is None:
        raise BudgetError(f"units: {args.units!r} counts only for a task type (known: {', '.join(sorted(calibration))}); "
                          "describe the whole task and give --tier")
    tier = estimate.tier(args.tier) if args.tier is not None else None
    files = estimate.count(args.files or 0, "--files")
    reads = estimate.count(args.reads or 0, "--reads")
    data = core.task_estimate(now, task_type=task_type, units=units, tier=tier, files=files, reads=reads,
                              allow_fetch=not args.no_fetch)
    data["task"] = fold(args.task.strip()[:200])  # echoed (one line, no control characters), never stored
    u = data["utilisation"]
    # As check: exit 1 when no usable reading says how much of the window is left.
    code = EXIT_UNAVAILABLE if u["problem"] or u["source"] == "none" else 0
    return Result(data=data, text=render(data, now), code=code, warnings=[u["problem"]] if u["problem"] else [])


def _span(r: dict, fmt: str) -> str:
    return fmt.format(r["mid"]) if r["low"] == r["high"] else f"{fmt.format(r['low'])}–{fmt.format(r['high'])}"


def render(d: dict, now) -> str:
    what = d["task"] + (f" ×{d['units']}" if d["units"] else "")
    pct = d["pct"]
    lines = [f"{what}: ~{_span(pct, '{:.1f}')}% of the 5-hour window" + ("" if pct["low"] == pct["high"] else f" (mid {pct['mid']:.1f}%)"),
             f"  from    {d['basis']}"]
    if d["pct_per_token_basis"]:
        lines.append(f"  as %    {d['pct_per_token_basis']}")
    if d["output_tokens"]:
        lines.append(f"  tokens  ~{_span(d['output_tokens'], '{:,}')} output")
    if not d["output_tokens"]:
        lines.append("  tokens  unknown: no output-token samples for this type yet, so no dollars either")
    if d["api_equivalent_usd"]:
        lines.append(f"  cost    ~{_span(d['api_equivalent_usd'], '${:,.2f}')} API-equivalent (an estimate; the "
                     f"subscription covers it): {d['usd_basis']}")
    u = d["utilisation"]
    if d["used_5h_pct"] is None:
        lines.append("  window  utilisation unknown: cannot say whether it fits" + (f" ({u['problem']})" if u.get("problem") else ""))
    else:
        resets = parse_iso(u.get("resets_at"))
        verdict = {"fits": "fits before the reset", "tight": "may not fit before the reset: checkpoint on the way",
                   "does not fit": "does not fit before the reset: defer it or split it"}[d["fits"]]
        lines.append(f"  window  {d['used_5h_pct']:.0f}% used, {d['headroom_pct']:.0f}% left"
                     + (f", resets {countdown(resets, now)}" if resets else "") + f": {verdict}")
        note = source_note(u, now)
        if note:
            lines.append(f"          {note}")
    return "\n".join(lines)
