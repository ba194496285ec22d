"""Estimated against actual. Pure.

`check` keeps the brief's estimate for each backlog task with a task type
(`check_estimates`, in the session start file); `log` stores beside each measured
task the estimate made at that session's check for its type, scaled to the units
logged (`session_estimates`, in the session log's record); `report` compares them
over the committed records: per task type, the mean absolute error and the bias
(estimate − actual; positive = we guessed too high) in % of the 5-hour window and in
output tokens, and how the error moves as samples grow. Names and numbers only.
"""

from __future__ import annotations

import math

from .calibration import is_type_name

BASES = ("calibrated", "default")


def check_estimates(estimates: list[dict]) -> list[dict]:
    """What a check records from the planner's estimates: tasks naming a type and units."""
    return [{"type": e["task_type"], "units": e["units"], "pct": e["estimate_pct"], "output_tokens": e.get("output_tokens"),
             "basis": "calibrated" if e.get("calibrated") else "default", "samples": e.get("samples", 0)}
            for e in estimates if e.get("task_type") and e.get("units")]


MAX_VALUE = 1e15  # budget.json's bound for any count: sums of such stay finite


def _number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) \
        and 0 <= value <= MAX_VALUE


def _valid(e) -> bool:
    """The start file is a cache anyone can edit: only well-formed estimates count."""
    return isinstance(e, dict) and isinstance(e.get("type"), str) and type(e.get("units")) is int and e["units"] > 0 \
        and _number(e.get("pct")) and (e.get("output_tokens") is None or _number(e["output_tokens"])) \
        and e.get("basis") in BASES and type(e.get("samples")) is int


def session_estimates(made: list | None, calibration_tasks: list[dict]) -> list[dict]:
    """For each measured task, the first estimate the check made for its type, scaled
    to the units logged (the brief estimated its backlog line's units)."""
    made = [e for e in _list(made) if _valid(e)]
    out = []
    for t in calibration_tasks:
        e = next((e for e in made if e["type"] == t["type"]), None)
        if e is None:
            continue
        scale = t["units"] / e["units"]
        out.append({"type": t["type"], "units": t["units"], "checked_units": e["units"],
                    "pct": round(e["pct"] * scale, 2),
                    "output_tokens": None if e["output_tokens"] is None else round(e["output_tokens"] * scale),
                    "basis": e["basis"], "samples": e["samples"]})
    return out


def _list(value) -> list:
    return value if isinstance(value, list) else []


def pairs(records: list[dict]) -> list[dict]:
    """(estimate, actual) per measured task type, oldest first; an actual with no
    estimate is kept with estimate None (no check, or its type was not in the backlog)."""
    out = []
    for rec in records:
        made = {e["type"]: e for e in _list(rec.get("estimates")) if isinstance(e, dict) and is_type_name(e.get("type"))}
        for t in _list(rec.get("calibration_tasks")):
            if not isinstance(t, dict) or not is_type_name(t.get("type")):  # a hand-edited log: no escape, no 100k name
                continue
            e = made.get(t["type"]) or {}
            out.append({"type": t["type"], "date": rec.get("date"), "session_id": rec.get("session_id"),
                        "units": t.get("units"), "basis": e.get("basis"), "samples_then": e.get("samples"),
                        "estimate_pct": e.get("pct") if _number(e.get("pct")) else None,
                        "actual_pct": t.get("pct") if _number(t.get("pct")) else None,
                        "estimate_output_tokens": e.get("output_tokens") if _number(e.get("output_tokens")) else None,
                        "actual_output_tokens": t.get("output_tokens") if _number(t.get("output_tokens")) else None})
    return out


def _errors(rows: list[dict], key: str) -> list[float]:
    return [r[f"estimate_{key}"] - r[f"actual_{key}"] for r in rows
            if r[f"estimate_{key}"] is not None and r[f"actual_{key}"] is not None]


def _mae(errors: list[float]) -> float | None:
    return sum(abs(e) for e in errors) / len(errors) if errors else None


def _stats(errors: list[float], digits: int) -> dict:
    """MAE and bias, and the MAE over the first and the last half of the samples
    (the middle one of an odd count is in neither): is the estimate learning?"""
    n, half = len(errors), len(errors) // 2

    def r(v):
        return None if v is None else round(v, digits) if digits else round(v)
    return {"n": n, "mae": r(_mae(errors)), "bias": r(sum(errors) / n if n else None),
            "first_half_mae": r(_mae(errors[:half])) if half else None,
            "last_half_mae": r(_mae(errors[n - half:])) if half else None}


def report(records: list[dict]) -> dict:
    rows = pairs(records)
    types = {}
    for name in sorted({r["type"] for r in rows}):
        mine = [r for r in rows if r["type"] == name]
        pct, tokens = _errors(mine, "pct"), _errors(mine, "output_tokens")
        running, seen = [], []
        for r in mine:  # a running MAE column, one row per sample with both numbers
            if r["estimate_pct"] is not None and r["actual_pct"] is not None:
                seen.append(r["estimate_pct"] - r["actual_pct"])
                running.append({**r, "error_pct": round(seen[-1], 2), "running_mae_pct": round(_mae(seen), 2)})
        types[name] = {"pct": _stats(pct, 2), "output_tokens": _stats(tokens, 0),
                       "by_basis": {b: _stats(_errors([r for r in mine if r["basis"] == b], "pct"), 2) for b in BASES},
                       "without_estimate": sum(1 for r in mine if r["basis"] is None),
                       "samples": running}
    return {"types": types, "records": len(records), "measured_tasks": len(rows),
            "compared": sum(t["pct"]["n"] for t in types.values())}
