"""budget estimate: a task's cost before it starts, from calibration (with its
spread) or a tier's default; whether it fits before the reset. On fixtures, at
times relative to the clock fixture."""

import json
from datetime import timedelta

import pytest

from ai_budget.analysis import estimate, pricing
from ai_budget.state import budget_file
from ai_budget.timefmt import iso
from conftest import line, run, run_json, write_session
from test_workflow import ts


def reading(env, five, when, resets):
    env.cache.mkdir(exist_ok=True)
    (env.cache / "statusline-snapshot.json").write_text(json.dumps(
        {"observed_at": iso(when), "five_hour": {"util": five, "resets_at": iso(resets)},
         "seven_day": {"util": 10.0, "resets_at": None}}))


def tree(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.parts}


@pytest.fixture
def cards(env, capsys):
    for units, pct, tokens in ((15, 38.5, 9000), (20, 51.0, 12400), (10, 29.0, 5600)):
        assert run(capsys, "calibrate", "flashcard", str(units), str(pct), str(tokens))[0] == 0
    return env


def test_calibrated_estimate_carries_its_spread_and_count(cards, capsys, clock):
    reading(cards, 40.0, clock["now"], clock["now"] + timedelta(hours=2))
    before = tree(cards.budget)
    code, d, err = run_json(capsys, "estimate", "flashcard", "x15", "--no-fetch")
    assert code == 0, err
    per_unit, sd = 118.5 / 45, 0.1748  # test_accuracy checks the spread's arithmetic
    assert d["source"] == "calibration" and d["samples"] == 3 and d["tier"] is None
    assert d["pct"]["mid"] == round(per_unit * 15, 1)
    assert d["pct"]["low"] == pytest.approx(per_unit * 15 - sd * 15, abs=0.06)
    assert d["pct"]["high"] == pytest.approx(per_unit * 15 + sd * 15, abs=0.06)
    assert d["output_tokens"]["mid"] == round(27000 / 45 * 15)
    assert d["basis"] == "calibrated: 2.63 %/card ± 0.17, 3 samples"
    assert d["used_5h_pct"] == 40.0 and d["headroom_pct"] == 60.0 and d["fits"] == "fits"
    code, text, _ = run(capsys, "estimate", "Flashcard", "×15", "--no-fetch")
    assert "Flashcard ×15: ~36.9–42.1% of the 5-hour window (mid 39.5%)" in text
    assert "calibrated: 2.63 %/card ± 0.17, 3 samples" in text and "fits before the reset" in text
    assert "API-equivalent (an estimate" in text
    assert tree(cards.budget) == before  # a read: budget.json, logs and tasks untouched


def test_fits_tight_and_does_not_fit(cards, capsys, clock):
    for used, verdict in ((55.0, "fits"), (60.0, "tight"), (64.0, "does not fit")):
        reading(cards, used, clock["now"], clock["now"] + timedelta(hours=1))
        d = run_json(capsys, "estimate", "flashcard", "x15", "--no-fetch")[1]
        assert (d["pct"]["low"], d["pct"]["high"]) == (36.9, 42.1) and d["fits"] == verdict, used
    text = run(capsys, "estimate", "flashcard", "x15", "--no-fetch")[1]
    assert "does not fit before the reset: defer it or split it" in text


def test_tier_with_files_and_the_assumed_ratio(env, capsys, clock):
    code, d, _ = run_json(capsys, "estimate", "refactor auth module", "--tier", "complex", "--files", "6", "--no-fetch")
    assert code == 1 and d["source"] == "tier" and d["tier"] == "complex" and d["task_type"] is None  # no reading: 1
    mult = 1 + estimate.FILE_READ * 6 + estimate.FILE_EDIT * 6
    low, high = estimate.TIERS["complex"]
    assert d["file_multiplier"] == pytest.approx(mult)
    assert d["output_tokens"] == {"low": round(low * mult), "mid": round((low + high) / 2 * mult), "high": round(high * mult)}
    assert d["pct"]["low"] == round(low * mult / estimate.ASSUMED_TOKENS_PER_PCT, 1)  # a Pro plan
    assert "assumed for the plan" in d["pct_per_token_basis"] and d["samples"] is None
    assert d["fits"] is None and d["used_5h_pct"] is None  # no reading at all
    text = run(capsys, "estimate", "refactor auth module", "--tier", "complex", "--files", "6", "--no-fetch")[1]
    assert "complex tier: 6,000–15,000 output tokens × 1.60 for 6 files" in text and "utilisation unknown" in text
    # Max 5x: the same tokens are a fifth of the share
    data = budget_file.default_budget()
    data["claude"]["rate_limit_tier"] = "default_claude_max_5x"
    (env.budget / "budget.json").write_text(json.dumps(data))
    d5 = run_json(capsys, "estimate", "refactor auth module", "--tier", "complex", "--files", "6", "--no-fetch")[1]
    assert d5["pct"]["high"] == round(high * mult / (5 * estimate.ASSUMED_TOKENS_PER_PCT), 1)


def test_tier_uses_the_accounts_own_ratio_and_an_uncalibrated_type_says_so(cards, capsys, clock):
    d = run_json(capsys, "estimate", "feature", "--no-fetch")[1]
    assert d["task_type"] == "feature" and d["tier"] == "moderate" and "'feature' not calibrated yet" in d["basis"]
    tokens_per_pct = 27000 / 118.5  # flashcard: 600 output tokens a card at 2.633 % a card
    assert d["pct"]["mid"] == round(sum(estimate.TIERS["moderate"]) / 2 / tokens_per_pct, 1)
    assert "your calibration, 3 samples" in d["pct_per_token_basis"]
    forced = run_json(capsys, "estimate", "flashcard", "x15", "--tier", "simple", "--no-fetch")[1]
    assert forced["source"] == "tier" and forced["tier"] == "simple"  # --tier wins over calibration


def test_dollars_from_this_machines_recent_cost_per_output_token(cards, capsys, clock):
    d = run_json(capsys, "estimate", "flashcard", "x15", "--no-fetch")[1]
    assert "list price of the output tokens alone" in d["usd_basis"] and "lower bound" in d["usd_basis"]
    prices = pricing.load()
    model = prices.newest("sonnet")
    rate = prices.cost(model, int(clock["now"].timestamp() * 1000), 0, 1_000_000, 0, 0, 0) / 1_000_000
    assert d["api_equivalent_usd"]["mid"] == round(d["output_tokens"]["mid"] * rate, 2)
    t = clock["now"] - timedelta(days=3)
    write_session(cards.projects, [line(mid=f"m{i}", rid=f"r{i}", ts=ts(t + timedelta(minutes=i)), inp=2000, out=1000,
                                        cache_read=50_000) for i in range(4)])
    d = run_json(capsys, "estimate", "flashcard", "x15", "--no-fetch")[1]
    per_token = prices.cost("claude-sonnet-4-5", int(t.timestamp() * 1000), 2000, 1000, 0, 0, 50_000) / 1000
    assert "this machine's last 30 days" in d["usd_basis"]
    assert d["api_equivalent_usd"]["mid"] == round(d["output_tokens"]["mid"] * per_token, 2)


@pytest.mark.parametrize("argv, needle", [
    (["x", "--tier", "huge"], "--tier: unknown tier 'huge'; use one of trivial, simple, moderate, complex, massive"),
    (["flashcard", "x0"], "units: must be a whole number from 1"),
    (["flashcard", "x-3"], "units"),
    (["flashcard", "abc"], "units"),
    (["flashcard", "x1e3"], "units"),
    (["flashcard", "x99999999"], "units"),
    (["a", "--files", "-3"], "--files: must be a whole number from 0"),
    (["a", "--files", "NaN"], "--files"),
    (["a", "--reads", "1.5"], "--reads"),
    (["a", "--files", "100001"], "--files"),
    (["  "], "give a task type"),
    (["a", "--tier", ""], "--tier: unknown tier ''"),
    (["write the docs", "x3", "--tier", "simple"], "counts only for a task type"),
])
def test_bad_input_is_one_line_exit_2(env, capsys, argv, needle):
    code, out, err = run(capsys, "estimate", *argv, "--no-fetch")
    assert code == 2 and needle in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and out == ""
    code, out, _ = run(capsys, "estimate", *argv, "--no-fetch", "--json")
    assert code == 2 and json.loads(out)["ok"] is False


def test_extra_arguments_are_argparses_one_line(env, capsys):
    with pytest.raises(SystemExit) as exc:
        run(capsys, "estimate", "a", "x1", "extra")
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "unrecognized arguments: extra" in err and len(err.strip().splitlines()) == 1


def test_the_description_is_echoed_never_stored(env, capsys, clock):
    secret = "refactor the module holding hunter2"
    code, out, err = run(capsys, "estimate", secret + "\x1b[2J\nline two", "--tier", "simple", "--no-fetch")
    assert code == 1 and out.startswith(secret + " [2J line two:") and "warning: no utilisation recorded yet" in err
    for path in list(env.budget.rglob("*")) + list(env.cache.rglob("*")):
        assert not path.is_file() or b"hunter2" not in path.read_bytes()


def test_notes_on_files_with_calibration_and_units_with_a_tier(cards, capsys, clock):
    d = run_json(capsys, "estimate", "flashcard", "x15", "--files", "4", "--no-fetch")[1]
    assert d["source"] == "calibration" and "files: already in what its sessions measured" in d["basis"]
    d = run_json(capsys, "estimate", "feature", "x3", "--no-fetch")[1]
    assert d["tier"] == "moderate" and "a tier is for the whole task" in d["basis"]
    assert d["pct"] == run_json(capsys, "estimate", "feature", "--no-fetch")[1]["pct"]


def test_a_type_with_only_a_percentage_has_no_token_or_dollar_figure(env, capsys, clock):
    assert run(capsys, "calibrate", "refactor", "3", "12")[0] == 0  # no output tokens given
    code, text, _ = run(capsys, "estimate", "refactor", "x2", "--no-fetch")
    assert "~8.0% of the 5-hour window" in text and "no output-token samples for this type yet" in text
    assert "API-equivalent" not in text


def test_fits_from_the_usage_api_as_check_takes_it_and_no_fetch_asks_nothing(cards, api, capsys, clock):
    from conftest import write_credentials
    from test_workflow import usage
    write_credentials(cards.claude)
    api.answer(200, usage(50.0, clock["now"] + timedelta(hours=2)))
    code, d, err = run_json(capsys, "estimate", "flashcard", "x15")
    assert code == 0, err
    assert len(api.requests) == 1 and d["utilisation"]["source"] == "api" and d["used_5h_pct"] == 50.0
    assert d["fits"] == "fits" and d["utilisation"]["resets_at"] == iso(clock["now"] + timedelta(hours=2))
    clock["now"] += timedelta(minutes=10)  # past the API's cache
    code, d, _ = run_json(capsys, "estimate", "flashcard", "x15", "--no-fetch")
    # --no-fetch asks nothing; and estimate is a read: it kept no reading in budget.json (check does)
    assert len(api.requests) == 1 and code == 1 and d["used_5h_pct"] is None and d["fits"] is None
    assert budget_file.load(cards.budget / "budget.json")["claude"]["last_fetched"] is None
