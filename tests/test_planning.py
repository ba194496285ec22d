"""Pure planning arithmetic: pace, backlog syntax, estimates, recommendations, deltas."""

from datetime import datetime, timedelta, timezone

import pytest

from ai_budget.analysis import pace, planner
from ai_budget.analysis.session_delta import five_hour_delta, split
from ai_budget.sources import backlog

NOW = datetime(2026, 11, 22, 14, 0, tzinfo=timezone.utc)
CAL = {"flashcard": {"unit": "per card", "samples": 2, "units_total": 35, "pct_total": 89.5},
       "feature": {"unit": "per feature", "samples": 0, "units_total": 0, "pct_total": 0.0}}


def test_backlog_syntax():
    tasks = backlog.parse("# B\n## Study\n[H] Cards SMA101 (flashcard x15)\n- [m] Plan (feature ×2)\n"
                          "[X] Big (refactor 4)\n[L] plain line\nnot a task\n[H] odd (flashcard x0)\n")
    assert [(t.tag, t.text, t.task_type, t.units, t.section) for t in tasks] == [
        ("H", "Cards SMA101", "flashcard", 15, "Study"), ("M", "Plan", "feature", 2, "Study"),
        ("X", "Big", "refactor", 4, "Study"), ("L", "plain line", None, None, "Study"),
        ("H", "odd (flashcard x0)", None, None, "Study")]


def test_pace_formula():
    p = pace.pace(50.0, NOW + timedelta(hours=3), NOW)  # 2h of 5h elapsed → expected 40 %
    assert p["expected_pct"] == 40.0 and p["delta_pct"] == 10.0 and p["stage"] == "ahead"
    assert p["lasts_to_reset"] is False and p["runs_out_at"] == NOW + timedelta(minutes=120)
    assert pace.pace(10.0, NOW + timedelta(hours=3), NOW)["lasts_to_reset"] is True
    assert pace.pace(10.0, NOW - timedelta(minutes=1), NOW) is None
    assert pace.stage(1.5) == "on track" and pace.stage(-20) == "far behind"


def test_calibrated_estimate_and_checkpoint():
    tasks = backlog.parse("[H] Cards (flashcard x15)\n[M] Dash (feature x1)\n[L] css\n")
    p = planner.plan(tasks, CAL, used_5h=80.0, weekly_used=30.0, alternatives=["Copilot"])
    cards = p["estimates"][0]
    assert cards["estimate_pct"] == round(89.5 / 35 * 15, 1) and cards["basis"] == "calibrated: 2.56 %/card ± ?, 2 samples"
    assert p["start"]["text"] == "Dash" and p["estimates"][1]["basis"].startswith("tag estimate")
    cp = p["checkpoint"]  # the dashboard (15 %) starts; 5 % is left for cards at 2.56 % each
    assert cp["fits_units"] == 1 and cp["stop_at_pct"] == pytest.approx(95 + 89.5 / 35, abs=0.1)
    assert [m["task"]["text"] for m in p["move"]] == ["css"]
    nothing_fits = planner.plan(tasks[:1], CAL, used_5h=95.0, weekly_used=None, alternatives=[])
    assert nothing_fits["start"] is None and nothing_fits["checkpoint"]["fits_units"] == 1
    assert planner.plan(tasks[:1], CAL, used_5h=99.0, weekly_used=None, alternatives=[])["checkpoint"] is None


def test_start_then_defer():
    tasks = backlog.parse("[H] A\n[M] B\n[H] C\n")
    p = planner.plan(tasks, {}, used_5h=40.0, weekly_used=None, alternatives=[])
    assert p["start"]["text"] == "A" and [e["text"] for e in p["then"]] == ["B"]
    assert p["checkpoint"] is None and [e["text"] for e in p["defer"]] == ["C"]  # uncalibrated: no unit to split


def w(util, resets="2026-11-22T17:00:00Z", trusted=True, problem=None):
    return {"util": util, "resets_at": resets, "trusted": trusted, "problem": problem}


@pytest.mark.parametrize("start, end, share, trusted, delta, reason", [
    (w(10), w(30), None, True, 20.0, None),
    (w(10), w(30), 0.25, True, 5.0, "25% of local usage"),
    (None, w(30), None, False, None, "no session-start snapshot"),
    (w(10, trusted=False), w(30), None, False, None, "start reading was stale"),
    (w(10), w(30, trusted=False, problem="429"), None, False, None, "429"),
    (w(10), w(5, resets="2026-11-22T22:00:00Z"), None, False, None, "reset during the session"),
    (w(10), w(10.0, resets="2026-11-22T17:00:00.9Z"), None, True, 0.0, None),
    (w(30), w(20), None, False, None, "utilisation fell"),
    (w(0.0, resets=None), w(12, resets="2026-11-22T19:00:00Z"), None, True, 12.0, None),
])
def test_five_hour_delta(start, end, share, trusted, delta, reason):
    d = five_hour_delta(start, end, share)
    assert d["trusted"] is trusted and d["delta"] == delta
    assert (reason is None and d["reason"] is None) or reason in d["reason"]


def test_split_weights_units_by_calibrated_rate():
    parts = split(30.0, 3000, [{"type": "flashcard", "units": 10}, {"type": "feature", "units": 1}], CAL)
    rate = 89.5 / 35  # feature is uncalibrated: it gets the mean calibrated rate
    assert [p["share"] for p in parts] == [round(10 / 11, 4), round(1 / 11, 4)]
    assert sum(p["output_tokens"] for p in parts) == 3000 and parts[0]["pct"] == round(30 * 10 * rate / (11 * rate), 2)
