"""Calibration arithmetic and the manual balances."""

import json

import pytest

from ai_budget.analysis import calibration, planner
from ai_budget.sources import backlog
from ai_budget.state import budget_file
from conftest import REPO, run, run_json


def test_plan_example_weighted_by_units(env, capsys):
    run(capsys, "calibrate", "flashcard", "15", "38.5", "9843")
    code, data, _ = run_json(capsys, "calibrate", "flashcard", "20", "51.0", "12000")
    entry = data["calibration"]
    assert entry["samples"] == 2 and entry["units_total"] == 35
    assert entry["avg_5h_pct"] == pytest.approx(89.5 / 35, abs=1e-4)  # 2.557, not the plan's 2.93
    assert entry["avg_output_tokens"] == round(21843 / 35)


def test_tokens_only_sample_leaves_pct_average_alone():
    entry = calibration.add_sample(calibration.with_averages({"unit": "per card", "samples": 1, "units_total": 10,
                                   "pct_total": 20.0, "token_units_total": 0, "output_tokens_total": 0}), 5, None, 500)
    assert entry["avg_5h_pct"] == 2.0 and entry["units_total"] == 10 and entry["avg_output_tokens"] == 100
    assert entry["samples"] == 1 and entry["token_samples"] == 1


def test_brief_counts_only_samples_that_fed_the_average():
    entry = calibration.add_sample(budget_file.empty_calibration("per card"), 10, 20.0, 1000)
    entry = calibration.add_sample(entry, 5, None, 400)  # an untrusted delta: tokens only
    task = backlog.Task(section="", tag="H", text="Cards", task_type="flashcard", units=5, line_no=1, raw="")
    assert planner.estimate(task, {"flashcard": entry})["basis"] == "calibrated: 2.00 %/card, 1 sample"
    assert entry["token_samples"] == 2 and entry["avg_output_tokens"] == 93


@pytest.mark.parametrize("argv, needle", [
    (["calibrate", "nope", "1", "2"], "known types: circuit_diagram"),
    (["calibrate", "flashcard", "0", "2"], "units"),
    (["calibrate", "flashcard", "1.5", "2"], "units"),
    (["calibrate", "flashcard", "3", "-2"], "five_hour_pct_delta"),
    (["calibrate", "flashcard", "3", "nan"], "five_hour_pct_delta"),
    (["calibrate", "flashcard", "3", "inf"], "five_hour_pct_delta"),
    (["calibrate", "flashcard", "3", "2", "x"], "output_tokens"),
    (["calibrate", "flashcard"], "give TYPE UNITS PCT_DELTA"),
    (["calibrate", "--add-type", "9lives"], "--add-type"),
    (["set", "copilot", "--unit", "dollars"], "--unit"),
    (["set", "gemini", "--limit", "-4"], "--limit"),
    (["set", "alerts", "--warn-at", "95"], "--warn-at"),
    (["set", "copilot", "--resets-at", "soon"], "--resets-at"),
])
def test_bad_input_is_one_line_exit_2(env, capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2 and needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (env.budget / "budget.json").exists()


def test_add_and_reset_type(env, capsys):
    code, data, _ = run_json(capsys, "calibrate", "--add-type", "docs_page", "--unit", "page")
    assert data["calibration"]["unit"] == "per page"
    run(capsys, "calibrate", "docs_page", "2", "6")
    assert run(capsys, "calibrate", "--add-type", "docs_page")[0] == 2
    code, data, _ = run_json(capsys, "calibrate", "--reset", "docs_page")
    assert data["calibration"]["samples"] == 0 and data["calibration"]["unit"] == "per page"


def test_copilot_balance(env, capsys):
    code, data, err = run_json(capsys, "set", "copilot", "--used", "1600")
    c = data["copilot"]
    assert (c["unit"], c["used"], c["limit"]) == ("credits", 1600, 1500)
    assert c["resets_at"].endswith("-01T00:00:00Z") and c["last_updated"]
    assert "exceeds limit" in err
    code, data, _ = run_json(capsys, "set", "copilot", "--unit", "premium_requests", "--plan", "pro+")
    assert data["copilot"]["limit"] == 1500 and data["copilot"]["unit"] == "premium_requests"


def test_gemini_and_alerts(env, capsys):
    code, data, _ = run_json(capsys, "set", "gemini", "--status", "active", "--used", "40", "--limit", "1000")
    assert data["gemini"]["status"] == "active" and data["gemini"]["used"] == 40
    code, data, _ = run_json(capsys, "set", "alerts", "--warn-at", "60", "--block-at", "98")
    assert data["alerts"] == {"warn_at": 60, "critical_at": 90, "block_at": 98}


def test_plan_scripts_still_work(env):
    import subprocess, sys
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "update_calibration.py"), "flashcard", "15", "38.5", "9843"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "avg_5h_pct:        2.57% per card" in out.stdout
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "parse_session_tokens.py"), "/nope.jsonl"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and json.loads(out.stdout)["ok"] is False
