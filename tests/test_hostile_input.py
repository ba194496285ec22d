"""Issue 11, input validation: hostile or broken values from the usage API,
budget.json, the backlog, history files and the command line get one clear line
and a documented exit code, and never a wrong number, a traceback or a secret."""

import json
from datetime import timedelta

import pytest

from ai_budget.timefmt import now_utc, parse_iso
from conftest import TOKEN, run, run_cli, write_credentials

GOOD_7D = {"utilization": 13.0, "resets_at": None}


def _budget(env):
    return json.loads((env.budget / "budget.json").read_text())


def test_a_string_utilisation_is_coerced(env, api, capsys):
    write_credentials(env.claude)
    api.answer(200, {"five_hour": {"utilization": "12", "resets_at": None}, "seven_day": GOOD_7D})
    code, out, err = run(capsys, "fetch")
    assert code == 0 and "12.0%" in out
    assert _budget(env)["claude"]["five_hour_util"] == 12.0


@pytest.mark.parametrize("raw", ['-5', 'NaN', 'Infinity', '1e9', '"twelve"', '1' + '0' * 400],
                         ids=["negative", "nan", "inf", "absurd", "word", "400-digit"])
def test_an_unusable_utilisation_is_rejected_and_the_last_values_kept(env, api, capsys, raw):
    write_credentials(env.claude)
    api.answer(200, {"five_hour": {"utilization": 33.0, "resets_at": None}, "seven_day": GOOD_7D})
    assert run(capsys, "fetch")[0] == 0
    api.answer(200, '{"five_hour": {"utilization": %s, "resets_at": null}, "seven_day": {"utilization": 13}}' % raw)
    code, out, err = run(capsys, "fetch", "--force")
    assert code == 1 and "five_hour.utilization is not a percentage" in err and err.count("\n") == 1
    assert _budget(env)["claude"]["five_hour_util"] == 33.0


@pytest.mark.parametrize("retry_after", ["300000000000", "1\u00b2", "9" * 5000], ids=["huge", "superscript", "5000-digit"])
def test_any_retry_after_closes_the_gate_for_at_most_six_hours(env, api, capsys, retry_after):
    write_credentials(env.claude)
    api.answer(429, {}, {"Retry-After": retry_after})
    code, out, err = run(capsys, "fetch")
    assert code == 1 and "rate-limited" in err and "Traceback" not in err
    blocked = parse_iso(json.loads((env.cache / "usage-api.json").read_text())["blocked_until"])
    assert now_utc() + timedelta(minutes=4) < blocked <= now_utc() + timedelta(hours=6, minutes=1)
    assert run(capsys, "fetch", "--force")[0] == 1 and len(api.requests) == 1  # the gate holds


def test_a_huge_answer_is_refused_unread(env, api, capsys):
    write_credentials(env.claude)
    api.answer(200, b'{"five_hour": {"utilization": 1}, "pad": "' + b"x" * (3 << 20) + b'"}')
    code, out, err = run(capsys, "fetch")
    assert code == 1 and "-byte cap; ignored" in err


def test_a_huge_answer_without_a_length_is_cut_at_the_cap():
    import io

    from ai_budget.errors import SourceUnavailable
    from ai_budget.sources import usage_api

    class Endless(io.RawIOBase):  # a chunked body that never ends
        headers: dict = {}
        read_bytes = 0

        def read(self, n=-1):
            self.read_bytes += n
            return b"x" * n

    body = Endless()
    with pytest.raises(SourceUnavailable, match="cap"):
        usage_api._read_capped(body)
    assert body.read_bytes <= usage_api.MAX_BODY + (1 << 16)
