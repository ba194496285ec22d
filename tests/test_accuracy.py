"""Calibration keeps its spread (schema 5), estimates made at check time are kept
beside the measured cost, and `report accuracy` compares them."""

import json
import math
import shutil
from datetime import timedelta

import pytest

from ai_budget.analysis import calibration
from ai_budget.outputs import session_log
from ai_budget.state import budget_file
from ai_budget.timefmt import iso
from conftest import REPO, line, run, run_json, write_session
from test_data_safety import killed_log
from test_workflow import ts

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
    unknown = {**budget_file.empty_calibration("per card"), "samples": 1, "units_total": 15, "pct_total": 38.5,
               "pct_sq_total": None}
    assert calibration.add_sample(unknown, 15, 38.5, count=-1)["pct_sq_total"] == 0.0  # none left: known again
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


# ---------------------------------------------------------------- estimated against actual

BACKLOG = "## Study\n[H] Cards SMA101 (flashcard x15)\n[M] Dash (feature x1)\n[L] typo\n"


def status(env, five, when):
    """A status-line reading (what --no-fetch reads), taken `when`."""
    env.cache.mkdir(exist_ok=True)
    (env.cache / "statusline-snapshot.json").write_text(json.dumps(
        {"observed_at": iso(when), "five_hour": {"util": five, "resets_at": None},
         "seven_day": {"util": 10.0, "resets_at": None}}))


def session(env, capsys, clock, sid, before, after, task, out=1000, minutes=30):
    """check → work (one response of `out` output tokens) → log, all at times relative to the clock."""
    t0 = clock["now"]
    status(env, before, t0)
    assert run(capsys, "check", "--no-fetch", "--session", sid)[0] == 0
    write_session(env.projects, [line(mid=f"{sid}m", rid=f"{sid}r", ts=ts(t0 + timedelta(minutes=5)), out=out,
                                      session=sid)], session=sid)
    clock["now"] = t0 + timedelta(minutes=minutes)
    status(env, after, clock["now"])
    code, data, err = run_json(capsys, "log", "--no-fetch", "--session", sid, "--task", task, "--no-commit")
    assert code == 0, err
    clock["now"] += timedelta(minutes=1)
    return data


@pytest.fixture
def day(env, capsys, clock):
    (env.budget / "tasks").mkdir()
    (env.budget / "tasks" / "backlog.md").write_text(BACKLOG)
    run(capsys, "calibrate", "flashcard", "15", "38.5", "9000")  # 2.567 %/card, 600 tokens/card
    return env


def test_check_records_the_briefs_estimates_names_and_numbers_only(day, capsys, clock):
    status(day, 10.0, clock["now"])
    assert run(capsys, "check", "--no-fetch", "--session", "s1")[0] == 0
    made = json.loads((day.cache / "sessions" / "s1.json").read_text())["estimates"]
    assert made == [{"type": "flashcard", "units": 15, "pct": 38.5, "output_tokens": 9000, "basis": "calibrated", "samples": 1},
                    {"type": "feature", "units": 1, "pct": 15.0, "output_tokens": None, "basis": "default", "samples": 0}]
    assert "Cards" not in json.dumps(made) and "Dash" not in json.dumps(made)  # no task text


def test_log_stores_the_checks_estimate_beside_the_measure(day, capsys, clock):
    data = session(day, capsys, clock, "s1", 10.0, 40.0, "flashcard:10:SMA101", out=7000)
    assert data["estimates"] == [{"type": "flashcard", "units": 10, "checked_units": 15, "pct": round(38.5 / 15 * 10, 2),
                                  "output_tokens": 6000, "basis": "calibrated", "samples": 1}]
    day_file = (day.budget / "sessions" / f"{data['date']}.md").read_text()
    assert "- flashcard estimated at check: ~25.7% (calibrated, 1 sample), measured 30.0%" in day_file
    (rec,) = session_log.records(day.budget / "sessions")
    assert rec["estimates"] == data["estimates"] and "SMA101" not in json.dumps(rec["estimates"])


def test_report_accuracy_per_type_and_as_samples_grow(day, capsys, clock):
    measured = [(10, 40, "flashcard:10", 7000), (40, 60, "flashcard:10", 5000), (60, 75, "flashcard:5", 3000),
                (75, 90, "flashcard:5", 3100), (0, 20, "feature:1", 2000)]
    logs = [session(day, capsys, clock, f"s{n}", b, a, task, out) for n, (b, a, task, out) in enumerate(measured)]
    code, data, _ = run_json(capsys, "report", "accuracy")
    assert code == 0 and data["records"] == 5 and data["compared"] == 5
    cards = data["types"]["flashcard"]
    errors = [e["pct"] - l["calibration_tasks"][0]["pct"] for l in logs[:4] for e in l["estimates"]]
    assert cards["pct"]["n"] == 4 and len(errors) == 4
    assert cards["pct"]["mae"] == pytest.approx(sum(map(abs, errors)) / 4, abs=0.01)
    assert cards["pct"]["bias"] == pytest.approx(sum(errors) / 4, abs=0.01)
    assert cards["pct"]["first_half_mae"] == pytest.approx((abs(errors[0]) + abs(errors[1])) / 2, abs=0.01)
    assert cards["pct"]["last_half_mae"] == pytest.approx((abs(errors[2]) + abs(errors[3])) / 2, abs=0.01)
    assert [s["running_mae_pct"] for s in cards["samples"]][0] == round(abs(errors[0]), 2)
    # the calibration learnt from each session, so later checks estimated with more samples
    assert [s["samples_then"] for s in cards["samples"]] == [1, 2, 3, 4]
    token_errors = [e["output_tokens"] - l["calibration_tasks"][0]["output_tokens"] for l in logs[:4] for e in l["estimates"]]
    assert cards["output_tokens"]["bias"] == round(sum(token_errors) / 4)
    feature = data["types"]["feature"]  # a tag default: % compared, no token estimate
    assert feature["pct"]["bias"] == 15.0 - 20.0 and feature["output_tokens"]["n"] == 0
    assert feature["by_basis"]["default"]["n"] == 1 and cards["by_basis"]["calibrated"]["n"] == 4
    code, text, _ = run(capsys, "report", "accuracy")
    assert code == 0 and "flashcard" in text and "running MAE" in text and "MAE 1st → 2nd half" in text


def test_accuracy_reads_the_logs_a_retry_counts_once_and_rebuild_is_exact(day, capsys, clock, monkeypatch):
    session(day, capsys, clock, "s1", 10.0, 40.0, "flashcard:10", out=7000)
    t0 = clock["now"]
    status(day, 40.0, t0)
    assert run(capsys, "check", "--no-fetch", "--session", "s2")[0] == 0
    clock["now"] = t0 + timedelta(minutes=20)
    status(day, 52.0, clock["now"])
    assert killed_log(monkeypatch, capsys, "--session", "s2", "--task", "flashcard:4") != 0
    clock["now"] += timedelta(minutes=1)
    status(day, 53.0, clock["now"])
    assert run(capsys, "log", "--no-fetch", "--session", "s2", "--task", "flashcard:4", "--no-commit")[0] == 0
    cards = json.loads((day.budget / "budget.json").read_text())["calibration"]["flashcard"]
    samples = [(15, 38.5), (10, 30.0), (4, 13.0)]  # by hand, s1, s2 once (its retry replaced the killed run)
    assert cards["samples"] == 3 and cards["pct_sq_total"] == pytest.approx(sum(p * p / u for u, p in samples), abs=1e-6)
    assert cards["sd_5h_pct"] == pytest.approx(weighted_sd(samples), abs=1e-4)
    assert run_json(capsys, "report", "accuracy")[1]["types"]["flashcard"]["pct"]["n"] == 2
    assert run(capsys, "calibrate", "--rebuild")[0] == 0
    rebuilt = json.loads((day.budget / "budget.json").read_text())["calibration"]["flashcard"]
    assert rebuilt == cards


@pytest.mark.parametrize("hostile", ["not a list", [1, None, "x"], [{"type": "flashcard", "units": 0, "pct": 5}],
                                     [{"type": "flashcard", "units": 15, "pct": -3, "basis": "calibrated", "samples": 1}],
                                     [{"type": "flashcard", "units": True, "pct": 5, "basis": "default", "samples": 0}],
                                     [{"type": "flashcard", "units": 15, "pct": 1e999, "basis": "default", "samples": 0}]])
def test_a_hostile_start_file_estimate_is_ignored(day, capsys, clock, hostile):
    t0 = clock["now"]
    status(day, 10.0, t0)
    assert run(capsys, "check", "--no-fetch", "--session", "s1")[0] == 0
    path = day.cache / "sessions" / "s1.json"
    start = json.loads(path.read_text())
    path.write_text(json.dumps({**start, "estimates": hostile}).replace("Infinity", "1e999"))
    clock["now"] = t0 + timedelta(minutes=20)
    status(day, 20.0, clock["now"])
    code, data, err = run_json(capsys, "log", "--no-fetch", "--session", "s1", "--task", "flashcard:5", "--no-commit")
    assert code == 0, err
    assert data["estimates"] == []
    report = run_json(capsys, "report", "accuracy")[1]
    assert report["types"]["flashcard"]["without_estimate"] == 1 and report["compared"] == 0


def test_report_accuracy_on_hostile_records_and_no_records(env, capsys):
    code, text, _ = run(capsys, "report", "accuracy")
    assert code == 0 and "No measured tasks" in text
    (env.budget / "sessions").mkdir()
    recs = [{"session_id": "a", "started_at": "x", "ended_at": "1", "calibration_tasks": "nope", "estimates": 5},
            {"session_id": "b", "started_at": "y", "ended_at": "2", "calibration_tasks": [{"type": "flashcard", "units": 1,
             "pct": "9"}, 7], "estimates": [{"type": "flashcard", "pct": True}]}]
    body = "".join(f"## Session: d\n\ntext\n\n{session_log.MARKER}{json.dumps(r)} -->\n" for r in recs)
    (env.budget / "sessions" / "2026-01-01.md").write_text(body)
    code, data, err = run_json(capsys, "report", "accuracy")
    assert code == 0, err
    assert data["types"]["flashcard"]["pct"]["n"] == 0 and data["measured_tasks"] == 1
    assert run(capsys, "report", "accuracy", "--since", "2026-13-01")[0] == 2
    code, _, err = run(capsys, "report", "accuracy", "--save")
    assert code == 2 and "--save: not with report accuracy" in err


def _records(env, recs):
    (env.budget / "sessions").mkdir()
    body = "".join(f"## Session: d\n\ntext\n\n{session_log.MARKER}{json.dumps(r)} -->\n" for r in recs)
    (env.budget / "sessions" / "2026-01-01.md").write_text(body)


def test_a_hand_edited_record_id_never_crashes(env, capsys):
    """A list as a record's session id made report accuracy, calibrate --rebuild and optimize
    an 'internal error' (the record's key was unhashable)."""
    _records(env, [{"session_id": ["x"], "started_at": {"a": 1}, "ended_at": "1",
                    "calibration_tasks": [{"type": "flashcard", "units": 1, "pct": 2.0, "output_tokens": 10}], "estimates": []}])
    code, data, err = run_json(capsys, "report", "accuracy")
    assert code == 0 and list(data["types"]) == ["flashcard"] and data["measured_tasks"] == 1, err
    for argv in (["calibrate", "--rebuild"], ["optimize"]):
        code, _, err = run(capsys, *argv)
        assert code == 0 and "internal error" not in err, argv


def test_a_hand_edited_type_name_never_reaches_the_terminal(env, capsys):
    """A type name with an escape sequence was printed raw by report accuracy, and a
    100,000-character one made its table that wide; only task type names count."""
    _records(env, [{"session_id": "b", "started_at": "y", "ended_at": "2",
                    "calibration_tasks": [{"type": "\x1b[31mred", "units": 1, "pct": 2.0}, {"type": "t" * 100_000, "units": 1, "pct": 1},
                                          {"type": "flashcard", "units": 1, "pct": 2.0}],
                    "estimates": [{"type": "\x1b[31mred", "pct": 1.5, "basis": "default", "samples": 0}]}])
    code, text, err = run(capsys, "report", "accuracy")
    assert code == 0 and "flashcard" in text and "\x1b" not in text and "t" * 65 not in text, err
    code, _, err = run(capsys, "calibrate", "--add-type", "a" * 65)
    assert code == 2 and "at most 64" in err


def test_backlog_and_brief_show_the_range(day, capsys, clock):
    for units, pct in ((20, 51.0), (10, 29.0)):
        run(capsys, "calibrate", "flashcard", str(units), str(pct), str(units * 600))
    code, text, _ = run(capsys, "backlog")
    assert code == 0 and "[H] Cards SMA101 (flashcard ×15) → ~40% (37–42%) of 5h (calibrated: 2.63 %/card ± 0.17, 3 samples)" in text
    status(day, 10.0, clock["now"])
    assert "(37–42%) of 5h (calibrated: 2.63 %/card ± 0.17, 3 samples)" in run(capsys, "check", "--no-fetch", "--markdown")[1]


def test_a_fifo_among_the_session_logs_hangs_no_reader(env):
    """sessions/*.md were read with read_text: a FIFO there hung report accuracy, optimize and calibrate --rebuild."""
    import os

    from conftest import run_cli

    (env.budget / "sessions").mkdir()
    os.mkfifo(env.budget / "sessions" / "2026-01-01.md")
    for argv in (["report", "accuracy"], ["optimize"], ["calibrate", "--rebuild"]):
        proc, _ = run_cli(*argv, timeout=10)
        assert proc.returncode == 0 and "2026-01-01.md: not a regular file" in proc.stderr, (argv, proc.stderr)
