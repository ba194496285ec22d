"""budget.json: validation, migration, preservation, atomic locked writes."""

import json
import multiprocessing

import pytest

from ai_budget.errors import BudgetError
from ai_budget.state import budget_file
from conftest import run


def test_malformed_file_is_reported_and_left_untouched(env, capsys):
    path = env.budget / "budget.json"
    path.write_text('{"claude": {"plan": "pro",}')
    before = path.read_bytes()
    code, out, err = run(capsys, "set", "copilot", "--used", "5")
    assert code == 2
    assert "budget.json: invalid JSON at line 1" in err and "Traceback" not in err
    assert path.read_bytes() == before


@pytest.mark.parametrize("broken, field", [
    ({"copilot": {"used": -1}}, "copilot.used"),
    ({"copilot": {"unit": "dollars"}}, "copilot.unit"),
    ({"calibration": {"flashcard": {"samples": "two"}}}, "calibration.flashcard.samples"),
    ({"claude": []}, "claude"),
    ({"schema_version": 99}, "schema_version"),
])
def test_invalid_fields_are_named(env, broken, field):
    path = env.budget / "budget.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(BudgetError, match=field.replace(".", r"\.")):
        budget_file.load(path)


def test_unknown_keys_survive_an_update(env):
    path = env.budget / "budget.json"
    data = budget_file.default_budget()
    data["my_notes"] = {"keep": True}
    data["copilot"]["seat"] = "personal"
    path.write_text(json.dumps(data))
    with budget_file.update(path) as d:
        d["copilot"]["used"] = 3
    saved = json.loads(path.read_text())
    assert saved["my_notes"] == {"keep": True} and saved["copilot"]["seat"] == "personal"
    assert saved["copilot"]["used"] == 3


def test_plan_shaped_v1_file_is_migrated(env):
    path = env.budget / "budget.json"
    path.write_text(json.dumps({
        "claude": {"plan": "pro", "five_hour_util": 12.0},
        "copilot": {"plan": "pro", "premium_requests_used": 120, "premium_requests_limit": 300},
        "gemini": {"plan": "api", "status": "billing_pending"},
        "calibration": {"flashcard": {"unit": "per card", "samples": 2, "avg_output_tokens": 700, "avg_5h_pct": 2.5}},
    }))
    data = budget_file.load(path)
    assert data["schema_version"] == budget_file.SCHEMA_VERSION
    assert (data["copilot"]["unit"], data["copilot"]["used"], data["copilot"]["limit"]) == ("premium_requests", 120, 300)
    assert "premium_requests_used" not in data["copilot"]
    assert data["calibration"]["flashcard"]["pct_total"] == 5.0
    assert set(data["calibration"]) == {"flashcard"}  # the user's own types, not re-added defaults
    assert data["alerts"]["warn_at"] == 70


def test_v2_samples_stop_counting_tokens_only_samples(env):
    # v2 counted tokens-only samples in `samples`; each %-sample added ≥ 1 unit to units_total.
    path = env.budget / "budget.json"
    entry = {"unit": "per card", "units_total": 2, "pct_total": 5.0, "token_units_total": 9, "output_tokens_total": 900}
    path.write_text(json.dumps({"schema_version": 2, "calibration": {
        "flashcard": {**entry, "samples": 4},
        "feature": {**entry, "samples": 3, "units_total": 0, "pct_total": 0.0}}}))
    cal = budget_file.load(path)["calibration"]
    assert (cal["flashcard"]["samples"], cal["flashcard"]["token_samples"]) == (2, 4)
    assert (cal["feature"]["samples"], cal["feature"]["token_samples"]) == (0, 3)


def test_v3_flat_windows_are_nested(env):
    path = env.budget / "budget.json"
    path.write_text(json.dumps({"schema_version": 3, "claude": {
        "five_hour_util": 12.0, "five_hour_resets_at": "2026-01-01T15:00:00Z", "seven_day_util": 3.0}}))
    claude = budget_file.load(path)["claude"]
    assert claude["five_hour"] == {"util": 12.0, "resets_at": "2026-01-01T15:00:00Z"}
    assert claude["seven_day"] == {"util": 3.0, "resets_at": None}
    assert claude["five_hour_ends"] == ["2026-01-01T15:00:00Z"] and "five_hour_util" not in claude


def test_failed_block_writes_nothing(env):
    path = env.budget / "budget.json"
    budget_file.save_new(path, budget_file.default_budget())
    before = path.read_bytes()
    with pytest.raises(RuntimeError):
        with budget_file.update(path) as d:
            d["copilot"]["used"] = 99
            raise RuntimeError("midway")
    assert path.read_bytes() == before


def _bump(path, key, times):
    for _ in range(times):
        with budget_file.update(path) as d:
            d.setdefault("counters", {}).setdefault(key, 0)
            d["counters"][key] += 1


def test_concurrent_writers_lose_nothing(env):
    path = env.budget / "budget.json"
    budget_file.save_new(path, budget_file.default_budget())
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_bump, args=(path, f"w{i}", 40)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    data = json.loads(path.read_text())
    assert data["counters"] == {f"w{i}": 40 for i in range(4)}
    assert not list(env.budget.glob(".budget.json.*.tmp"))
