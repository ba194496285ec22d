"""Session planning: estimate each backlog task in % of the 5-hour window and
recommend what to start, where to checkpoint, what to defer or move. Pure."""

from __future__ import annotations

import math

from ..sources.backlog import TAG_DEFAULT_PCT
from .calibration import estimate_pct, per_unit_text, spread

LOW_HEADROOM_PCT = 20.0


def estimate(task, calibration: dict) -> dict:
    entry = calibration.get(task.task_type) if task.task_type else None
    pct = estimate_pct(entry, task.units) if task.units else None
    sd = None
    if pct is not None:
        per_unit, sd = entry["pct_total"] / entry["units_total"], spread(entry)
        basis = f"calibrated: {per_unit_text(entry)}"
    else:
        pct, per_unit = TAG_DEFAULT_PCT[task.tag], None
        basis = "tag estimate"
        if task.task_type and task.task_type not in calibration:
            basis += f"; unknown type '{task.task_type}'"
        elif task.task_type:
            basis += f"; '{task.task_type}' not calibrated yet"
    return {
        "section": task.section, "tag": task.tag, "text": task.text, "task_type": task.task_type,
        "units": task.units, "line": task.line_no, "estimate_pct": round(pct, 1),
        "per_unit_pct": round(per_unit, 3) if per_unit else None, "basis": basis,
        # ± one standard deviation of the sessions' per-unit cost, times the units
        "range_pct": [round(max(0.0, pct - sd * task.units), 1), round(pct + sd * task.units, 1)] if sd is not None else None,
        "calibrated": per_unit is not None, "samples": entry.get("samples", 0) if entry else 0,
        "output_tokens": round(entry["avg_output_tokens"] * task.units)
        if entry and task.units and entry.get("avg_output_tokens") is not None else None,
    }


def plan(tasks, calibration: dict, used_5h: float | None, weekly_used: float | None,
         alternatives: list[str], warn_at: float = 70) -> dict:
    """Recommendation for the next session. `used_5h` None = unknown utilisation:
    plan against a full window and say so."""
    estimates = [estimate(t, calibration) for t in tasks]
    headroom = 100.0 - (used_5h if used_5h is not None else 0.0)
    headroom = max(0.0, headroom)
    candidates = [e for e in estimates if e["tag"] != "L"]
    result = {"headroom_pct": round(headroom, 1), "known_utilisation": used_5h is not None,
              "estimates": estimates, "start": None, "then": [], "checkpoint": None, "defer": [], "move": [], "notes": []}
    left = headroom
    for e in candidates:
        if result["start"] is None and e["estimate_pct"] <= left:
            result["start"] = e
            left -= e["estimate_pct"]
        elif result["start"] is not None and e["estimate_pct"] <= left:
            result["then"].append(e)
            left -= e["estimate_pct"]
        else:
            result["defer"].append(e)
    if result["defer"] and result["defer"][0]["per_unit_pct"] and result["defer"][0]["units"]:
        # The most important task that does not fit whole: how far it gets in what is left.
        first = result["defer"][0]
        fits = max(0, min(math.floor(left / first["per_unit_pct"]), first["units"]))
        if fits:
            result["defer"].pop(0)
            result["checkpoint"] = {"task": first, "fits_units": fits,
                                    "stop_at_pct": round(100 - left + fits * first["per_unit_pct"], 1)}
    low = used_5h is not None and (headroom < LOW_HEADROOM_PCT or used_5h >= warn_at)
    weekly_low = weekly_used is not None and weekly_used >= warn_at
    if (low or weekly_low) and alternatives:
        movable = [e for e in estimates if e["tag"] in ("L", "M") and e is not result["start"]]
        result["move"] = [{"task": e, "to": alternatives} for e in movable]
    if weekly_low:
        result["notes"].append(f"weekly limit at {weekly_used:.0f}%: heavy tasks this week eat into every later window")
    if used_5h is None:
        result["notes"].append("utilisation unknown: planned against a full 5-hour window")
    return result
