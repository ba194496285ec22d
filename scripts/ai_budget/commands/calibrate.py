"""budget calibrate: per-task-type running averages in budget.json.

A sample added by hand is also kept in budget.json's `manual_samples` ledger, in
the same atomic write as the totals, and committed: `--rebuild` replays it with
the session logs' records."""

from __future__ import annotations

from .. import paths
from ..analysis import calibration as cal
from ..errors import BudgetError
from ..outputs import gitrepo, session_log
from ..state import budget_file
from ..state.budget_file import empty_calibration
from ..timefmt import iso
from . import Result


def describe(name: str, entry: dict) -> str:
    lines = [f"Updated '{name}': {entry['samples']} sample(s)"]
    if entry.get("avg_5h_pct") is not None:
        spread = f" ± {entry['sd_5h_pct']:.2f}" if entry.get("sd_5h_pct") is not None else ""
        lines.append(f"  avg_5h_pct:        {entry['avg_5h_pct']:.2f}%{spread} {entry['unit']}  ({entry['units_total']} units)")
    if entry.get("avg_output_tokens") is not None:
        lines.append(f"  avg_output_tokens: {entry['avg_output_tokens']:,} {entry['unit']}")
    return "\n".join(lines)


def run(args, now) -> Result:
    path = paths.budget_file()
    if args.list:
        calibration = budget_file.load(path)["calibration"]
        text = "\n".join(f"{n}: {cal.per_unit_text(e)}" for n, e in sorted(calibration.items()))
        if any(e.get("samples", 0) >= 2 and e.get("pct_sq_total") is None for e in calibration.values()):
            text += "\n± ?: the spread is unknown for totals from before schema 5; `calibrate --rebuild` recomputes it"
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
        return rebuild(now)
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


def rebuild(now) -> Result:
    """Recompute every average from the records: the sessions' machine-readable
    records (a retried log counted once) and budget.json's ledger of samples added
    by hand. Under the lock, so no log or calibrate running meanwhile is lost."""
    home = paths.budget_home()
    with budget_file.update(paths.budget_file()) as budget:
        records = session_log.records(home / "sessions")
        rebuilt = {name: empty_calibration(e.get("unit", "per unit")) for name, e in budget["calibration"].items()}
        valid = []
        for rec in records:
            try:
                valid.append((rec, [cal.valid_record_task(t) for t in rec.get("calibration_tasks") or []]))
            except BudgetError:
                continue
        for _, tasks in valid:
            for t in tasks:
                rebuilt[t["type"]] = cal.add_sample(rebuilt.get(t["type"]) or empty_calibration("per unit"),
                                                    t["units"], t["pct"], t["output_tokens"])
        for n, sample in enumerate(cal.manual_samples(budget)):
            try:
                t = cal.valid_record_task(sample)
            except BudgetError as exc:
                raise BudgetError(f"budget.json: field 'manual_samples[{n}]': {exc}; left untouched") from None
            rebuilt[t["type"]] = cal.add_sample(rebuilt.get(t["type"]) or empty_calibration("per unit"),
                                                t["units"], t["pct"], t["output_tokens"])
        budget["calibration"] = rebuilt
        keep_after = iso(now - cal.APPLIED_KEEP)
        # What budget.json now holds for each recent record, so a retry of one replaces it.
        budget["applied_logs"] = {r["session_id"]: {"started_at": r.get("started_at"), "ended_at": r.get("ended_at"),
                                                    "calibration_tasks": tasks}
                                  for r, tasks in valid if str(r.get("ended_at")) >= keep_after and isinstance(r.get("session_id"), str)}
    manual, skipped = len(cal.manual_samples(budget)), len(records) - len(valid)
    text = f"Rebuilt calibration from {len(records)} session record(s) and {manual} sample(s) added by hand" \
        + (f"; skipped {skipped} malformed record(s)" if skipped else "")
    return Result(data={"records": len(records), "manual_samples": manual, "skipped": skipped, "calibration": rebuilt},
                  text=text)
