"""Calibration keeps its spread (schema 5), estimates made at check time are kept
beside the measured cost, and `report accuracy` compares them."""

import json
import math
import shutil

import pytest

from ai_budget.analysis import calibration
from ai_budget.state import budget_file
from conftest import REPO, run, run_json

V4 = REPO / "tests" / "fixtures" / "budget-v4.json"  # written by ai-budget f1ea5ad (schema 4)


def weighted_sd(samples):
    """The spread by its definition: per-unit costs pct/units, weighted by units, n/(n-1)."""
    units = sum(u for u, _ in samples)
    mean = sum(p for _, p in samples) / units
    var = sum(u * (p / u - mean) ** 2 for u, p in samples) / units
    return math.sqrt(var * len(samples) / (len(samples) - 1))


def test_spread_is_the_weighted_sd_and_a_take_out_undoes_it():
    entry = budget_file.empty_calibration("per card")
    samples = [(15, 38.5), (20, 51.0), (10, 29.0)]
    for units, pct in samples:
        entry = calibration.add_sample(entry, units, pct, units * 600)
    assert entry["sd_5h_pct"] == pytest.approx(weighted_sd(samples), abs=1e-4)
    assert calibration.per_unit_text(entry) == f"2.63 %/card ± {weighted_sd(samples):.2f}, 3 samples"
    out = calibration.add_sample(entry, 10, 29.0, 6000, count=-1)
    assert out["pct_sq_total"] == pytest.approx(38.5 ** 2 / 15 + 51.0 ** 2 / 20, abs=1e-6)
    assert out["sd_5h_pct"] == pytest.approx(weighted_sd(samples[:2]), abs=1e-4)
    assert out["sd_output_tokens"] == 0  # 600 tokens a card every time
    one = calibration.add_sample(budget_file.empty_calibration("per card"), 15, 38.5)
    assert one["sd_5h_pct"] is None and calibration.per_unit_text(one) == "2.57 %/card, 1 sample"


def test_v4_file_migrates_with_spread_unknown_until_rebuild(env, capsys):
    path = env.budget / "budget.json"
    shutil.copy(V4, path)
    data = budget_file.load(path)
    assert json.loads(V4.read_text())["schema_version"] == 4 and data["schema_version"] == 5
    cards, refactor, docs = (data["calibration"][k] for k in ("flashcard", "refactor", "docs_page"))
    assert cards["pct_sq_total"] is None and cards["tokens_sq_total"] is None and cards["sd_5h_pct"] is None
    assert (cards["samples"], cards["pct_total"], cards["avg_5h_pct"]) == (2, 89.5, 2.5571)  # totals kept
    assert refactor["pct_sq_total"] is None and refactor["tokens_sq_total"] == 0.0  # it never had a token sample
    assert docs["pct_sq_total"] == 0.0
    assert calibration.per_unit_text(cards) == "2.56 %/card ± ?, 2 samples"
    # A new sample on an unknown spread keeps it unknown: a guess would look exact.
    code, out, _ = run_json(capsys, "calibrate", "flashcard", "10", "29", "8800")
    assert code == 0 and out["calibration"]["pct_sq_total"] is None and out["calibration"]["samples"] == 3
    code, out, _ = run(capsys, "calibrate", "--list")
    assert "flashcard: 2.63 %/card ± ?, 3 samples" in out and "calibrate --rebuild" in out
    code, out, _ = run_json(capsys, "calibrate", "--rebuild")
    cards = out["calibration"]["flashcard"]
    samples = [(15, 38.5), (20, 51.0), (10, 29.0)]  # the ledger of samples added by hand
    assert cards["pct_sq_total"] == pytest.approx(sum(p * p / u for u, p in samples), abs=1e-6)
    assert cards["sd_5h_pct"] == pytest.approx(weighted_sd(samples), abs=1e-4)
    assert budget_file.load(path)["calibration"]["flashcard"]["sd_5h_pct"] == cards["sd_5h_pct"]


@pytest.mark.parametrize("field, value", [("pct_sq_total", -1), ("pct_sq_total", "1"), ("sd_5h_pct", -0.5),
                                          ("tokens_sq_total", 1e400)])
def test_bad_spread_fields_are_one_line(env, capsys, field, value):
    path = env.budget / "budget.json"
    data = budget_file.default_budget()
    data["calibration"]["flashcard"][field] = value
    path.write_text(json.dumps(data).replace("Infinity", "1e999"))
    before = path.read_bytes()
    code, _, err = run(capsys, "calibrate", "--list")
    assert code == 2 and f"calibration.flashcard.{field}" in err and len(err.strip().splitlines()) == 1
    assert path.read_bytes() == before
