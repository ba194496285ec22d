"""budget calibrate: per-task-type running averages in budget.json.

A sample added by hand is also kept in budget.json's `manual_samples` ledger, in
the same atomic write as the totals, and committed: `--rebuild` replays it with
the session logs' records."""

from __future__ import annotations

from .. import paths
from ..analysis import calibration as cal
from ..errors import BudgetError
from ..outputs import gitrepo
from ..state import budget_file
from ..state.budget_file import empty_calibration
from ..timefmt import iso
from . import Result


def describe(name: str, entry: dict) -> str:
    lines = [f"Updated '{name}': {entry['samples']} sample(s)"]
    if entry.get("avg_5h_pct") is not None:
        lines.append(f"  avg_5h_pct:        {entry['avg_5h_pct']:.2f}% {entry['unit']}  ({entry['units_total']} units)")
    if entry.get("avg_output_tokens") is not None:
        lines.append(f"  avg_output_tokens: {entry['avg_output_tokens']:,} {entry['unit']}")
    return "\n".join(lines)


def run(args, now) -> Result:
    path = paths.budget_file()
    if args.list:
        calibration = budget_file.load(path)["calibration"]
        text = ", ".join(f"{n} ({e['unit']}, {e['samples']} sample{'s' if e['samples'] != 1 else ''})"
                         for n, e in sorted(calibration.items()))
        return Result(data={"calibration": calibration}, text=text)
    if args.add_type:
        name = cal.valid_type_name(args.add_type)
        unit = (args.unit or "per unit").strip()
        with budget_file.update(path) as budget:
            if name in budget["calibration"]:
                raise BudgetError(f"--add-type: task type '{name}' already exists")
            budget["calibration"][name] = empty_calibration(unit if unit.startswith("per ") else f"per {unit}")
            entry = budget["calibration"][name]
        return Result(data={"type": name, "calibration": entry}, text=f"Added task type '{name}' ({entry['unit']})")
    if args.reset:
        with budget_file.update(path) as budget:
            old = cal.require_type(budget["calibration"], args.reset)
            budget["calibration"][args.reset] = entry = empty_calibration(old.get("unit", "per unit"))
        return Result(data={"type": args.reset, "calibration": entry}, text=f"Reset '{args.reset}' to no samples")
    if args.rebuild:
        from .log import rebuild_calibration  # history lives in the session logs
        return rebuild_calibration(now)
    if args.task_type is None or args.units is None or args.pct_delta is None:
        raise BudgetError("calibrate: give TYPE UNITS PCT_DELTA [OUTPUT_TOKENS], or --add-type/--reset/--rebuild")
    units, pct, tokens = cal.validate_sample(args.units, args.pct_delta, args.output_tokens)
    with budget_file.update(path) as budget:
        entry = cal.add_sample(cal.require_type(budget["calibration"], args.task_type), units, pct, tokens)
        budget["calibration"][args.task_type] = entry
        cal.manual_samples(budget).append({"type": args.task_type, "units": units, "pct": pct, "output_tokens": tokens, "at": iso(now)})
    git = gitrepo.commit(paths.budget_home(), [path], f"calibrate: {args.task_type} {units} units, {pct:g}% of the 5-hour window")
    return Result(data={"type": args.task_type, "calibration": entry, "commit": git}, text=describe(args.task_type, entry),
                  warnings=[] if git["committed"] else git["notes"])
