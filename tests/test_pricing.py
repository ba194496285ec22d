"""API-equivalent pricing: the rules, and a model with no price."""

import pytest

from ai_budget.analysis import pricing
from conftest import line, run, run_json, write_session


def test_unknown_model_is_unpriced_not_free(env, capsys):
    write_session(env.projects, [line(mid="m1", rid="r1", model="claude-future-9")])
    code, data, _ = run_json(capsys, "report", "daily", "--tz", "UTC")
    assert data["totals"]["unpricedModels"] == ["claude-future-9"]
    assert "Unpriced" in run(capsys, "report", "models", "--tz", "UTC")[1]


def test_pricing_rules():
    p = pricing.load()
    ts = 1767225600000  # 2026-01-01
    assert p.cost("claude-sonnet-4-5-20250929", ts, 100_000, 0, 0, 0, 0) == pytest.approx(0.3)
    assert p.cost("claude-sonnet-4-5", ts, 0, 0, 50_000, 50_000, 0) == pytest.approx(0.05 * 3.75 + 0.05 * 6.0)  # 5m vs 1h
    long = p.cost("claude-sonnet-4-5", ts, 150_000, 1_000, 0, 0, 60_000)  # 210K input: whole request at 6/22.5
    assert long == pytest.approx((150_000 * 6 + 1_000 * 22.5 + 60_000 * 0.6) / 1e6)
    feb, apr = 1770681600000, 1775001600000  # opus 4.6: surcharge only until 2026-03-13
    assert p.cost("claude-opus-4-6", feb, 250_000, 0, 0, 0, 0) == pytest.approx(2.5)
    assert p.cost("claude-opus-4-6", apr, 250_000, 0, 0, 0, 0) == pytest.approx(1.25)
    assert p.cost("claude-opus-5", ts, 0, 1_000_000, 0, 0, 0, fast=True) == pytest.approx(50.0)
    assert p.cost("claude-nope", ts, 1, 1, 0, 0, 0) is None
    custom = pricing.load({"claude-nope": {"input": 1, "output": 2}})
    assert custom.cost("claude-nope", ts, 1_000_000, 0, 0, 0, 0) == pytest.approx(1.0)

