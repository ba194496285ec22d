"""`report accuracy` as a table and a line of errors per task type. Pure."""

from __future__ import annotations

from .text import table


def _signed(v, digits=1) -> str:
    return "" if v is None else f"{v:+,.{digits}f}"


def _plain(v, digits=1) -> str:
    return "" if v is None else f"{v:,.{digits}f}"


def render(data: dict) -> str:
    if not data["types"]:
        return ("No measured tasks in sessions/*.md yet: `log --task TYPE:UNITS` after a `check` whose backlog "
                "names that type records one.")
    rows = []
    for name, t in data["types"].items():
        p, o = t["pct"], t["output_tokens"]
        moves = f"{p['first_half_mae']:.1f} → {p['last_half_mae']:.1f}" if p["first_half_mae"] is not None else ""
        rows.append([name, str(p["n"]), _plain(p["mae"]), _signed(p["bias"]), moves, str(o["n"]),
                     _plain(o["mae"], 0), _signed(o["bias"], 0), str(t["without_estimate"])])
    lines = [table(["type", "n", "MAE %", "bias %", "MAE 1st → 2nd half", "n tok", "MAE tokens", "bias tokens",
                    "no estimate"], rows), ""]
    for name, t in data["types"].items():
        if t["samples"]:
            errors = ", ".join(f"{s['error_pct']:+.1f}" for s in t["samples"])
            running = ", ".join(f"{s['running_mae_pct']:.1f}" for s in t["samples"])
            lines.append(f"{name}: error per session (oldest first) {errors}; running MAE {running}")
    lines.append("Errors are estimate − measured, in % of the 5-hour window (positive: estimated too high) and in "
                 "output tokens; the estimate is the brief's at the session's check, scaled to the units logged.")
    return "\n".join(lines)
