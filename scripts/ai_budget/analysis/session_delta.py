"""How much of the 5-hour window did this session use? Pure.

A delta is fed to calibration only when it can be trusted. Hard cases:
no start snapshot, a stale or missing reading, the window reset during the
session (resets_at moved), and other sessions running at the same time
(the delta is attributed by this session's share of local API-equivalent cost).
"""

from __future__ import annotations

import math

from ..timefmt import parse_iso

SAME_WINDOW_S = 120  # the API recomputes resets_at on each call; it drifts by < 1 s


def is_pct(value) -> bool:
    """A utilisation percentage: a finite number ≥ 0 (the status line or the API
    can hand over NaN, infinities or negatives)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) and value >= 0


def _reset(value):
    return parse_iso(value) if value else None


def five_hour_delta(start: dict | None, end: dict, share: float | None) -> dict:
    """start/end: {'util', 'resets_at', 'trusted'}; share: this session's fraction
    of all local usage since the start (None = unknown)."""
    out = {"before": start.get("util") if start and is_pct(start.get("util")) else None,
           "after": end.get("util") if is_pct(end.get("util")) else None,
           "raw_delta": None, "delta": None, "trusted": False, "reason": None, "share": share}
    if start is None:
        out["reason"] = "no session-start snapshot (run /budget-check at the start of a session)"
        return out
    if not is_pct(start.get("util")) or not start.get("trusted"):
        out["reason"] = "the start reading was stale or missing"
        return out
    if not is_pct(end.get("util")) or not end.get("trusted"):
        out["reason"] = "no fresh utilisation reading now (" + (end.get("problem") or "source unavailable") + ")"
        return out
    start_reset, end_reset = _reset(start.get("resets_at")), _reset(end.get("resets_at"))
    if start_reset and end_reset and abs((end_reset - start_reset).total_seconds()) > SAME_WINDOW_S:
        out["reason"] = (f"the 5-hour window reset during the session; used at least {end['util']:.1f}% "
                         "of the new window, the share of the old one is unknown")
        out["raw_delta"] = end["util"]
        return out
    raw = end["util"] - start["util"]
    out["raw_delta"] = round(raw, 2)
    if raw < 0:
        out["reason"] = f"utilisation fell ({start['util']:.1f}% → {end['util']:.1f}%)"
        return out
    if share is None:
        out["delta"] = round(raw, 2)
        out["trusted"] = True
        return out
    out["delta"] = round(raw * share, 2)
    out["trusted"] = True
    if share < 0.999:
        out["reason"] = f"other Claude sessions ran meanwhile: {share:.0%} of local usage was this session's"
    return out


def split(delta: float | None, output_tokens: int, tasks: list[dict], calibration: dict) -> list[dict]:
    """Share a session's delta and output tokens between its task types in
    proportion to units × calibrated %/unit; uncalibrated types get the mean
    rate of the calibrated ones (or 1, when none is calibrated)."""
    rates = {}
    for t in tasks:
        entry = calibration.get(t["type"], {})
        if entry.get("units_total"):
            rates[t["type"]] = entry["pct_total"] / entry["units_total"]
    fallback = sum(rates.values()) / len(rates) if rates else 1.0
    weights = [t["units"] * (rates.get(t["type"]) or fallback) for t in tasks]
    total = sum(weights) or 1.0
    out = []
    for t, w in zip(tasks, weights):
        share = w / total
        out.append({**t, "share": round(share, 4),
                    "pct": round(delta * share, 2) if delta is not None else None,
                    "output_tokens": round(output_tokens * share)})
    return out
