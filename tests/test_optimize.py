"""budget optimize: findings from counts, savings as list-price estimates; the offload rules reused."""

import json
import subprocess

import pytest

from ai_budget.analysis import offload, optimize, pricing
from conftest import line, run, run_json, write_session

PRICES = pricing.load()
FAMILIES = offload.family_models(PRICES)
OPUS, SONNET = FAMILIES["opus"], FAMILIES["sonnet"]
T0 = 1_790_000_000_000
MIN = 60_000


def row(minute, model=OPUS, session="s", inp=0, out=0, c5=0, c1=0, cread=0, sub=False, ref=None, agent=None,
        project="p", priced=True):
    ts = T0 + minute * MIN
    cost = PRICES.cost(model, ts, inp, out, c5, c1, cread) if priced else None
    return (ts, model, 0, project, session, inp, out, c5, c1, cread, cost, None, None, agent, sub, ref)


def by_id(found):
    return {f["id"]: f for f in found}


def run_findings(rows, records=(), since="1970-01-01T00:00:00Z", windows=0, critical=90):
    return by_id(optimize.findings(rows, PRICES, FAMILIES, list(records), since, windows, critical))


def test_opus_small_responses_saving_is_the_list_price_difference():
    rows = [row(0, out=100, cread=50_000), row(1, out=5_000, cread=50_000), row(2, model=SONNET, out=10)]
    f = run_findings(rows)["opus_small_responses"]
    small = rows[0]
    assert f["found"] and f["facts"]["small_responses"] == 1 and f["facts"]["opus_responses"] == 2
    assert f["saving_usd"] == pytest.approx(small[10] - PRICES.cost(SONNET, small[0], 0, 100, 0, 0, 50_000), abs=1e-4)
    assert f["facts"]["at_haiku_usd"] < f["facts"]["at_sonnet_usd"] < f["facts"]["cost_usd"]
    assert "estimate" in f["saving_basis"]


def test_cache_writes_never_read_again():
    rows = [row(0, c5=10_000), row(1, cread=10_000),  # read within 5 minutes
            row(2, c5=20_000), row(20, cread=20_000),  # the 5-minute write expired before the next request
            row(21, c1=30_000), row(70, cread=30_000),  # a 1-hour write read 49 minutes later
            row(71, c1=5_000)]  # the session's last write
    f = run_findings(rows)["cache_efficiency"]
    rates = PRICES.rates(OPUS, T0)
    assert f["found"] and f["facts"]["unread_write_tokens"] == 20_000
    assert f["facts"]["unread_at_session_end_tokens"] == 5_000
    assert f["saving_usd"] == pytest.approx(20_000 * (rates.cache_5m - rates.input) / 1e6, abs=1e-4)
    assert f["facts"]["cache_read_share_pct"] == 48.0  # 60k read of 60k read + 65k written


def test_subagents_and_the_main_chain_keep_their_own_caches():
    rows = [row(0, c5=1000), row(1, cread=0, sub=True, ref="toolu_1", c5=500), row(2, cread=1000),
            row(3, sub=True, ref="toolu_1", cread=500)]
    f = run_findings(rows)["cache_efficiency"]
    assert f["facts"]["unread_write_tokens"] == 0 and not f["found"]


def test_context_growth_within_a_session():
    growing = [row(i, session="grow", cread=10_000 + i * 5_000) for i in range(24)]
    flat = [row(i, session="flat", cread=80_000) for i in range(24)]
    short = [row(i, session="short", cread=10_000 * (i + 1)) for i in range(5)]
    f = run_findings(growing + flat + short)["context_growth"]
    assert f["found"] and f["facts"]["sessions_checked"] == 2 and f["facts"]["sessions_growing"] == 1
    top = f["facts"]["top"][0]
    assert top["session"] == "grow" and top["growth"] >= 2 and f["saving_usd"] > 0


def test_fan_outs_count_subagents_not_their_files_and_not_compaction():
    rows = [row(0, session="fan", out=10)]
    for n in range(3):
        rows += [row(1 + n, session="fan", sub=True, ref=f"toolu_{n}", agent="Explore", cread=40_000, out=100)]
    rows += [row(9, session="fan", sub=True, ref="acompact-1", agent="(compaction)", cread=99_000)]
    rows += [row(0, session="two", sub=True, ref=f"toolu_x{n}", agent="Plan") for n in range(2)]
    f = run_findings(rows)["subagent_fan_outs"]
    assert f["found"] and f["facts"]["fan_outs"] == 1 and f["facts"]["sessions_with_subagents"] == 2
    top = f["facts"]["top"][0]
    assert top["subagents"] == 3 and top["types"] == ["Explore"]
    subs = [r for r in rows if r[13] == "Explore"]
    assert f["saving_usd"] == pytest.approx(sum(r[10] - PRICES.cost(SONNET, r[0], *r[5:10]) for r in subs), abs=1e-4)


def test_limit_hits_from_session_logs():
    records = [{"session_id": "a", "date": "2026-01-02", "ended_at": "2026-01-02T10:00:00Z", "delta": {"after": 100.0}},
               {"session_id": "b", "date": "2026-01-03", "ended_at": "2026-01-03T10:00:00Z", "delta": {"after": 93.0}},
               {"session_id": "c", "date": "2025-12-01", "ended_at": "2025-12-01T10:00:00Z", "delta": {"after": 100.0}},
               {"session_id": "d", "ended_at": "2026-01-04T10:00:00Z", "delta": {"after": None}}, {"junk": 1}]
    f = run_findings([], records, since="2026-01-01T00:00:00Z", windows=4)["limit_hits"]
    assert f["found"] and f["saving_usd"] is None and "reset" in f["saving_basis"]
    assert f["facts"] == {"logged_sessions": 3, "ran_into_limit": 1, "ended_above_critical": 1,
                          "five_hour_windows_seen": 4,
                          "sessions": [{"session": "a", "date": "2026-01-02", "five_hour_pct": 100.0}]}


def test_nothing_to_find_and_unpriced_models():
    found = run_findings([row(0, model="mystery-model", priced=False, out=1, c5=100), row(1, model="mystery-model",
                                                                                        priced=False, cread=100)])
    assert all(f["saving_usd"] in (None, 0.0) for f in found.values())
    assert not any(f["found"] for k, f in found.items() if k != "cache_efficiency")
    empty = optimize.findings([], PRICES, FAMILIES, [], "1970-01-01T00:00:00Z", 0, 90)
    assert [f["found"] for f in empty] == [False] * 5 and empty[1]["facts"]["cache_read_share_pct"] is None


def test_findings_with_a_saving_come_first():
    rows = [row(0, out=10, c5=5000), row(30, out=10, cread=5000)]
    order = [f["id"] for f in optimize.findings(rows, PRICES, FAMILIES, [], "1970-01-01T00:00:00Z", 0, 90)]
    assert order[:2] == ["opus_small_responses", "cache_efficiency"]


# ---------------------------------------------------------------- the command


def _write_usage(env, when):
    """A small session in `when` (an aware datetime): Opus, a Task call, a subagent, a long pause."""
    def ts(minutes):
        from datetime import timedelta
        return (when + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def said(mid, minutes, blocks, **kw):
        obj = json.loads(line(mid=mid, rid="r" + mid, ts=ts(minutes), model=OPUS, **kw))
        obj["message"]["content"] = blocks
        return json.dumps(obj, separators=(",", ":"))

    task = {"type": "tool_use", "id": "toolu_9", "name": "Agent", "input": {"subagent_type": "Explore",
                                                                            "prompt": "secret prompt text"}}
    write_session(env.projects, [said("m1", 0, [{"type": "text", "text": "secret words"}], out=40, c5=20_000),
                                 said("m2", 1, [task], out=80, cache_read=20_000, c5=5_000),
                                 said("m3", 30, [], out=30, cache_read=0, c5=25_000)],
                  subagents={"agent-a1": [said("m4", 2, [], side=True, out=60, cache_read=3000,
                                               extra={"agentId": "a1", "attributionAgent": "Explore"})]})


def test_optimize_command_reads_and_writes_nothing(env, capsys, clock):
    assert run(capsys, "init", str(env.budget))[0] == 0
    _write_usage(env, clock["now"].replace(hour=1))
    before = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=env.budget, capture_output=True, text=True).stdout
    code, data, _ = run_json(capsys, "optimize", "--tz", "UTC")
    assert code == 0 and data["responses"] == 4 and len(data["findings"]) == 5
    assert all("estimate" in f["saving_basis"] or "reset" in f["saving_basis"] for f in data["findings"])
    found = by_id(data["findings"])
    assert found["opus_small_responses"]["facts"]["small_responses"] == 4
    cache = found["cache_efficiency"]["facts"]
    assert (cache["unread_write_tokens"], cache["unread_at_session_end_tokens"]) == (5_000, 25_000)  # m2's expired
    assert [r["action"] for r in data["offload"]][0] == "switch_model" and data["offload"][-1]["action"] == "batch_api"
    assert subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=env.budget, capture_output=True,
                          text=True).stdout == before
    code, text, _ = run(capsys, "optimize", "--tz", "UTC")
    assert code == 0 and "Opus used for small responses" in text and "estimate" in text and "Offload rules now" in text
    for out in (text, json.dumps(data)):
        assert "secret" not in out


def test_optimize_since_and_time_zones(env, capsys, clock):
    _write_usage(env, clock["now"].replace(hour=1))
    today = clock["now"].strftime("%Y-%m-%d")
    assert run_json(capsys, "optimize", "--since", today, "--tz", "UTC")[1]["responses"] == 4
    assert run_json(capsys, "optimize", "--since", "2999-01-01", "--tz", "UTC")[1]["responses"] == 0
    # 01:00 UTC is still the day before in Honolulu: --since today (there) leaves it out
    assert run_json(capsys, "optimize", "--since", today, "--tz", "Pacific/Honolulu")[1]["responses"] == 0
    for bad in (["--since", "2026-02-30"], ["--since", "soon"], ["--tz", "Mars/Base"]):
        code, _, err = run(capsys, "optimize", *bad)
        assert code == 2 and ("--since" in err or "--tz" in err)


def test_a_logged_session_at_the_limit_is_a_finding(env, capsys, clock):
    assert run(capsys, "init", str(env.budget))[0] == 0
    day = clock["now"].strftime("%Y-%m-%d")
    record = {"session_id": "s-limit", "date": day, "started_at": f"{day}T09:00:00Z", "ended_at": f"{day}T11:00:00Z",
              "delta": {"before": 40.0, "after": 100.0}}
    (env.budget / "sessions").mkdir(exist_ok=True)
    (env.budget / "sessions" / f"{day}.md").write_text(
        f"# Sessions {day}\n\n## Session: {day} 09:00–11:00\n\nwork\n\n<!-- ai-budget:session {json.dumps(record)} -->\n")
    code, data, _ = run_json(capsys, "optimize", "--tz", "UTC")
    hit = by_id(data["findings"])["limit_hits"]
    assert code == 0 and hit["found"] and hit["facts"]["sessions"] == [{"session": "s-limit", "date": day,
                                                                       "five_hour_pct": 100.0}]
    text = run(capsys, "optimize", "--tz", "UTC")[1]
    assert "Sessions that ran into the limit: no saving in dollars (the wait until the reset)" in text
    assert "session s-limit" in text
