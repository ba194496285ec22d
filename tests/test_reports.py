"""The reports built on the index: days, parity with ccusage, blocks placed by real 5-hour ends."""

import json

import pytest

from conftest import CORPUS, line, run, run_json, write_session


def test_timezone_bucketing(env, capsys):
    write_session(env.projects, [line(mid="m1", rid="r1", ts="2026-01-01T23:30:00.000Z")])
    assert run_json(capsys, "report", "daily", "--tz", "UTC")[1]["daily"][0]["date"] == "2026-01-01"
    assert run_json(capsys, "report", "daily", "--tz", "Asia/Kolkata")[1]["daily"][0]["date"] == "2026-01-02"
    code, out, err = run(capsys, "report", "daily", "--tz", "Mars/Olympus")
    assert code == 2 and "--tz" in err


@pytest.mark.skipif(not CORPUS.is_dir(), reason="tests/fixtures/corpus-public not present")
def test_corpus_parity_and_agreement(env, monkeypatch, capsys):
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(CORPUS / "claude"))
    ours = run_json(capsys, "report", "daily", "--tz", "UTC")[1]
    theirs = json.loads((CORPUS / "expected" / "ccusage-20.0.24_claude_daily.json").read_text())
    fields = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")
    for a, b in zip(ours["daily"], theirs["daily"], strict=True):
        assert a["date"] == b["date"] and all(a[f] == b[f] for f in fields)
        assert a["totalCost"] == pytest.approx(b["totalCost"], rel=0.01)
        assert {m["modelName"]: [m[f] for f in fields] for m in a["modelBreakdowns"]} == \
               {m["modelName"]: [m[f] for f in fields] for m in b["modelBreakdowns"]}
    for kind in ("weekly", "monthly", "session", "models", "projects"):
        other = run_json(capsys, "report", kind, "--tz", "UTC")[1]["totals"]
        assert other["totalTokens"] == ours["totals"]["totalTokens"] == 4106478
        assert other["totalCost"] == pytest.approx(ours["totals"]["totalCost"])


def E(ts_min, out=100, model="claude-sonnet-4-5"):
    from ai_budget.sources.transcripts import Entry
    return (Entry(ts_min * 60_000, None, None, model, False, 0, out, 0, 0, 0), 0.01)


def test_blocks_as_ccusage_and_placed_by_real_resets():
    from ai_budget.analysis import reports

    base = 29_000_000 * 60  # minutes; an hour boundary
    rows = [E(base + 10), E(base + 200), E(base + 320), E(base + 1000)]  # 320: 5 h after the start → new block; 1000: gap
    data = reports.blocks(rows, now_ms=(base + 1010) * 60_000)
    kinds = [(b["isGap"], b["entries"], b["window"]) for b in data["blocks"]]
    assert kinds == [(False, 2, "estimated"), (False, 1, "estimated"), (True, 0, None), (False, 1, "estimated")]
    first = data["blocks"][0]
    assert first["startTime"].endswith("00:00.000Z") and first["burnRate"] is None  # not active: no rate
    active = data["blocks"][-1]
    assert active["isActive"] and active["burnRate"] is None  # one entry: zero duration
    assert data["totals"]["outputTokens"] == 400
    # The usage API said the window ends at base+330 min: it started at base+30, not at the floored hour.
    real = reports.blocks(rows[:3], now_ms=(base + 321) * 60_000, known_resets=[(base + 330) * 60_000])
    assert [(b["window"], b["entries"]) for b in real["blocks"]] == [("estimated", 1), ("usage-api", 2)]
    assert real["blocks"][1]["isActive"] and real["blocks"][1]["projection"]["remainingMinutes"] == 9
    assert real["blocks"][1]["endTime"] == reports.ms_to_iso((base + 330) * 60_000)


def test_report_blocks_and_bad_dates(env, capsys):
    write_session(env.projects, [line(mid="m1", rid="r1", ts="2026-01-01T10:00:00.000Z"),
                                 line(mid="m2", rid="r2", ts="2026-01-01T11:00:00.000Z", out=3)])
    data = run_json(capsys, "report", "blocks")[1]
    assert data["blocks"][0]["entries"] == 2 and data["totals"]["outputTokens"] == 8
    assert "estimated" in run(capsys, "report", "blocks")[1]
    assert run(capsys, "report", "daily", "--since", "2026-02-30")[0] == 2
    code, _, err = run(capsys, "report", "daily", "--since", "2026-02-01", "--until", "2026-01-01")
    assert code == 2 and "after --until" in err


def test_check_shows_local_usage_from_the_index(env, capsys):
    from datetime import datetime, timezone
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write_session(env.projects, [line(mid="m1", rid="r1", out=5, ts=now), line(mid="m0", rid="r0", out=9, ts="2020-01-01T10:00:00.000Z")])
    code, data, _ = run_json(capsys, "check", "--no-fetch")
    assert data["local"]["today"]["output_tokens"] == 5 and data["local"]["window"] is None
    assert "Local    today 15 tokens" in run(capsys, "check", "--no-fetch")[1]


def test_report_blocks_placed_by_a_reset_read_from_the_usage_api(env, api, capsys, clock):
    """Through the CLI: `fetch` stores the API's resets_at; `report blocks` places the active window by it."""
    from datetime import timedelta

    from ai_budget.timefmt import iso
    from conftest import write_credentials

    now = clock["now"]
    write_credentials(env.claude)
    resets = now + timedelta(minutes=70)
    api.answer(200, {"five_hour": {"utilization": 30.0, "resets_at": iso(resets)},
                     "seven_day": {"utilization": 5.0, "resets_at": iso(now + timedelta(days=2))}})
    assert run(capsys, "fetch")[0] == 0
    write_session(env.projects, [line(mid="m1", rid="r1", ts=iso(now - timedelta(minutes=20)).replace("Z", ".000Z"))])
    active = run_json(capsys, "report", "blocks")[1]["blocks"][-1]
    assert active["window"] == "usage-api" and active["endTime"] == iso(resets).replace("Z", ".000Z")


def test_report_blocks_places_a_past_block_by_an_earlier_observed_end(env, api, capsys, clock):
    """Every 5-hour end a reading gave is kept in budget.json (one per window: the API
    recomputes resets_at), so a past block is placed by its real end too."""
    from datetime import timedelta

    from ai_budget.timefmt import iso
    from conftest import write_credentials

    now = clock["now"]
    write_credentials(env.claude)
    earlier, current = now - timedelta(hours=5, minutes=13), now + timedelta(minutes=70)
    for at, end in ((now - timedelta(hours=7), earlier), (now - timedelta(hours=6, minutes=50), earlier + timedelta(seconds=30)),
                    (now, current)):
        clock["now"] = at
        api.answer(200, {"five_hour": {"utilization": 30.0, "resets_at": iso(end)},
                         "seven_day": {"utilization": 5.0, "resets_at": iso(now + timedelta(days=2))}})
        assert run(capsys, "fetch")[0] == 0
    claude = json.loads((env.budget / "budget.json").read_text())["claude"]
    assert claude["five_hour_ends"] == [iso(earlier), iso(current)]
    write_session(env.projects, [line(mid="m1", rid="r1", ts=iso(earlier - timedelta(minutes=30)).replace("Z", ".000Z")),
                                 line(mid="m2", rid="r2", ts=iso(now - timedelta(minutes=20)).replace("Z", ".000Z"))])
    past, *_, active = run_json(capsys, "report", "blocks")[1]["blocks"]
    assert (past["window"], past["startTime"]) == ("usage-api", iso(earlier - timedelta(hours=5)).replace("Z", ".000Z"))
    assert active["window"] == "usage-api" and active["endTime"] == iso(current).replace("Z", ".000Z")



def test_totals_add_and_take_out_every_field():
    """Totals.add names its fields one by one (it runs for every slot row): a new field must be in it."""
    from ai_budget.tokens import Totals

    some = Totals(**{name: i + 1 for i, name in enumerate(Totals.__slots__)})
    total = Totals()
    total.add(some)
    total.add(some)
    assert all(getattr(total, name) == 2 * getattr(some, name) for name in Totals.__slots__)
    total.add(some, sign=-1)
    assert total == some
