"""Transcript reading and de-duplication: the corpus parity and the edge cases."""

import json
from pathlib import Path
import tracemalloc

import pytest

from ai_budget.sources.dedup import Deduper
from ai_budget.analysis.totals import summarize
from ai_budget.sources import transcripts
from conftest import CORPUS, line, run, run_json, write_session


def totals_of(lines, tmp_path):
    path = tmp_path / "p" / "a.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(l + "\n" for l in lines))
    t = summarize(Deduper().extend(transcripts.read_entries(path)).kept)
    return t["input_tokens"], t["output_tokens"]


def L(mid, rid, t, side, out):
    return line(mid=mid, rid=rid, ts=f"2026-01-01T10:00:0{t}.000Z", side=side, inp=10, out=out, model="x")


# Reference §3.9.6: expected = ccusage 20.0.24 daily, except where noted.
CASES = {
    "A_no_request_id_streamed": ([L("m1", None, 1, 0, 5), L("m1", None, 2, 0, 5)], (10, 5)),  # ccusage daily: 20/10
    "B": ([L("m1", None, 1, 0, 5), L("m1", None, 1, 0, 50)], (10, 50)),
    "C_largest_wins": ([L("m1", "r1", 1, 0, 5), L("m1", "r1", 2, 0, 50)], (10, 50)),
    "F_sidechain_replay": ([L("m1", "r1", 1, 0, 5), L("m1", "r2", 2, 1, 50)], (10, 5)),
    "F3": ([L("m1", "r2", 1, 1, 50), L("m1", "r1", 2, 0, 5), L("m1", "r3", 3, 0, 7)], (20, 12)),
    "G": ([L("m1", "r1", 1, 0, 5), L("m1", None, 2, 1, 50)], (10, 5)),
    "I_two_requests": ([L("m1", "r1", 1, 0, 5), L("m1", "r2", 2, 0, 50)], (20, 55)),
    "J_main_beats_side": ([L("m1", "r1", 1, 1, 5), L("m1", "r1", 2, 0, 3)], (10, 3)),
    "Z1": ([L("m1", "r1", 1, 0, 5), L("m1", "r2", 1, 1, 50)], (10, 5)),
    "K_no_message_id": ([L(None, None, 1, 0, 5), L(None, None, 1, 0, 5)], (20, 10)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_dedup_rules(name, tmp_path):
    lines, expected = CASES[name]
    assert totals_of(lines, tmp_path) == expected


def test_same_instant_in_three_spellings_counts_once(tmp_path):
    lines = [line(mid="m1", ts=ts, out=5) for ts in
             ("2026-01-01T10:00:01.000Z", "2026-01-01T10:00:01Z", "2026-01-01T19:00:01.000+09:00")]
    assert totals_of(lines, tmp_path) == (10, 5)


def test_rejected_and_tolerated_lines(tmp_path):
    good = line(mid="m1", rid="r1", out=7)
    lines = [
        good,
        "{not json",
        line(mid="m2", rid="r2", extra={"cwd": None}),               # ":null" key → ccusage skips it
        line(mid="m3", rid="r3", ts="2026-01-01T10:00:01.123456Z"),  # microseconds
        line(mid="m4", rid="r4", extra={"version": "banana"}),
        line(mid="m6", rid="r6", extra={"version": []}),            # unhashable: dropped, never a crash
        line(mid="m7", rid="r7", extra={"version": {"major": 2}}),
        line(mid="m8", rid="r8", extra={"version": "\u0661.\u0662.\u0663x"}),  # other digits: \\d takes them, kept
        line(mid="m5", rid="r5", inp=16.0),                          # float tokens
        json.dumps({"type": "user", "message": {"role": "user", "content": "x"},
                    "toolUseResult": {"usage": {"input_tokens": 1, "output_tokens": 1}},
                    "timestamp": "2026-01-01T10:00:01.000Z"}, separators=(",", ":")),
    ]
    assert totals_of(lines, tmp_path) == (20, 12)


def respaced(text: str, sep: tuple) -> str:
    """The same JSON line as another tool would re-serialise it."""
    return json.dumps(json.loads(text), separators=sep)


SERIALISATIONS = {"compact": (",", ":"), "json.dumps default": (", ", ": "), "tabs and CR": (",\t", "\r:\t ")}


def test_every_json_serialisation_counts_the_same(env, capsys):
    """A file re-serialised with whitespace reports what the compact one does,
    null-key rejections included (ccusage would skip every spaced line)."""
    lines = [line(mid="m1", rid="r1", out=7, c5=100, c1=40), line(mid="m1", rid="r1", out=70, c5=100, c1=40),
             line(mid="m2", rid="r2", out=5, extra={"cwd": None}),  # rejected in every spelling
             line(mid="m3", rid="r3", inp=3, out=9, ts="2026-01-02T10:00:00.000Z", model="claude-opus-4-5"),
             json.dumps({"type": "user", "message": {"content": "the word usage: {not a key}"}, "name": "usage"})]
    seen = {}
    for name, sep in SERIALISATIONS.items():  # one at a time: the copies would de-duplicate each other
        for p in env.projects.rglob("*.jsonl"):
            p.unlink()
        env.cache.joinpath("index.sqlite").unlink(missing_ok=True)
        main = write_session(env.projects, [respaced(l, sep) for l in lines])
        code, t, _ = run_json(capsys, "tokens", str(main))
        assert code == 0
        daily = run_json(capsys, "report", "daily", "--tz", "UTC")[1]
        seen[name] = ({k: t[k] for k in ("exchanges", "input_tokens", "output_tokens", "cache_creation_1h_tokens", "models")},
                      daily)
    tokens, daily = seen["compact"]
    assert tokens["output_tokens"] == 79 and tokens["exchanges"] == 2
    assert [d["outputTokens"] for d in daily["daily"]] == [70, 9]
    assert seen["json.dumps default"] == seen["compact"] == seen["tabs and CR"]


@pytest.mark.parametrize("chunk", [5, 64, 1 << 20])
def test_spaced_usage_found_across_read_blocks(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(transcripts.UsageLines, "CHUNK", chunk)
    path = tmp_path / "a.jsonl"
    decoy = json.dumps({"k": "usage", "usage": 3, "x": ' "usage" '})  # "usage" but never an object
    path.write_text("\n".join([decoy, respaced(line(mid="m1", rid="r1"), (", ", ": ")), decoy]) + "\n")
    assert [e.message_id for e in transcripts.read_entries(path)] == ["m1"]


def test_partial_last_line_is_left_for_later(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(line(mid="m1", rid="r1") + "\n" + line(mid="m2", rid="r2")[:-20])
    reader = transcripts.UsageLines(path)
    assert len(list(transcripts.read_entries(path, reader=reader))) == 1
    assert reader.end == len(line(mid="m1", rid="r1")) + 1


@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
def test_usage_lines_across_read_blocks(tmp_path, monkeypatch, chunk):
    """Lines split across read blocks, blank lines and non-usage lines between them."""
    monkeypatch.setattr(transcripts.UsageLines, "CHUNK", chunk)
    noise = json.dumps({"type": "user", "message": {"content": "x" * 100}})
    body = "\n".join([noise, line(mid="m1", rid="r1"), "", noise, line(mid="m2", rid="r2", out=7), noise]) + "\n"
    path = tmp_path / "a.jsonl"
    path.write_text(body + line(mid="m3", rid="r3")[:30])
    reader = transcripts.UsageLines(path)
    assert [e.message_id for e in transcripts.read_entries(path, reader=reader)] == ["m1", "m2"]
    assert reader.end == len(body.encode())
    middle = body.index(noise, len(noise) + 1)  # resume from an offset inside the file
    assert [e.message_id for e in transcripts.read_entries(path, reader=transcripts.UsageLines(path, middle))] == ["m2"]


def test_cache_breakdown_and_synthetic(tmp_path):
    lines = [
        line(mid="m1", rid="r1", cache_write=0, c5=100, c1=40),  # pre-2.1.152 bug: flat total 0
        line(mid="m2", rid="r2", cache_write=70),
        line(mid="m3", model="<synthetic>", inp=0, out=0),
        line(mid="m4", rid="r4", extra={}, model="claude-opus-4-6").replace('"usage":{', '"usage":{"speed":"fast",'),
    ]
    path = tmp_path / "a.jsonl"
    path.write_text("".join(l + "\n" for l in lines))
    t = summarize(Deduper().extend(transcripts.read_entries(path)).kept)
    assert t["cache_creation_input_tokens"] == 210
    assert t["cache_creation_1h_tokens"] == 40
    assert t["exchanges"] == 4
    assert set(t["models"]) == {"claude-sonnet-4-5", "claude-opus-4-6-fast"}


def test_session_includes_subagents_and_agent_progress(env, capsys):
    progress = json.dumps({"type": "progress", "sessionId": "s1", "version": "2.1.38", "timestamp": "2026-01-01T10:00:05.000Z",
                           "data": {"type": "agent_progress", "agentId": "a1", "message": {
                               "type": "assistant", "timestamp": "2026-01-01T10:00:04.000Z", "requestId": "rs",
                               "message": {"id": "ms", "model": "claude-haiku-4-5", "usage": {"input_tokens": 3, "output_tokens": 9}}}}},
                          separators=(",", ":"))
    main = write_session(env.projects, [line(mid="m1", rid="r1", out=5), progress],
                         subagents={"agent-a1": [line(mid="ms", rid="rs", side=True, inp=3, out=9, model="claude-haiku-4-5"),
                                                 line(mid="m9", rid="r9", side=True, inp=1, out=1, model="claude-haiku-4-5")]})
    code, t, _ = run_json(capsys, "tokens", str(main))
    assert code == 0
    assert (t["exchanges"], t["input_tokens"], t["output_tokens"], t["subagent_files"]) == (3, 14, 15, 1)
    assert t["models"]["claude-haiku-4-5"]["output_tokens"] == 10


def test_reading_streams_in_constant_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(transcripts.UsageLines, "CHUNK", 1 << 20)
    path = tmp_path / "big.jsonl"
    filler = "x" * 4000
    with open(path, "w") as f:
        for i in range(6000):  # ~26 MB with big user lines between usage lines
            f.write(json.dumps({"type": "user", "message": {"content": filler}}) + "\n")
            f.write(line(mid=f"m{i}", rid=f"r{i}") + "\n")
    tracemalloc.start()
    count = sum(1 for _ in transcripts.read_entries(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 6000
    assert peak < 4_000_000  # a few read blocks, not the 26 MB file


def test_current_session_prefers_cwd_project(env, monkeypatch, capsys, tmp_path):
    other = write_session(env.projects, [line(mid="m1", rid="r1")], project="-elsewhere", session="s-other")
    mine = write_session(env.projects, [line(mid="m2", rid="r2", out=9)], project=transcripts.project_dir_name(tmp_path), session="s-mine")
    import os
    os.utime(mine, (1, 1))  # older than the other project's session
    monkeypatch.chdir(tmp_path)
    code, data, _ = run_json(capsys, "tokens")
    assert code == 0 and data["session_id"] == "s-mine" and data["output_tokens"] == 9
    code, data, _ = run_json(capsys, "tokens", str(other))
    assert data["session_id"] == "s-other"


def test_tokens_bad_input(env, capsys):
    code, out, err = run(capsys, "tokens", "/nonexistent/x.jsonl")
    assert code == 2 and "SESSION_FILE" in err and "Traceback" not in err
    code, out, err = run(capsys, "tokens", "--session", "nope")
    assert code == 2 and "--session" in err
    code, out, err = run(capsys, "tokens")
    assert code == 1 and "no Claude Code transcripts" in err


# ---------------------------------------------------------------- public corpus

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="tests/fixtures/corpus-public not present")


@needs_corpus
def test_every_corpus_session_matches_expected(monkeypatch, capsys, env):
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(CORPUS / "claude"))
    expected = json.loads((CORPUS / "expected" / "per-session_daily-rule.json").read_text())
    for s in expected["sessions"]:
        code, data, _ = run_json(capsys, "tokens", "--session", s["sessionId"])
        assert code == 0
        got = (data["input_tokens"], data["output_tokens"], data["cache_creation_input_tokens"],
               data["cache_read_input_tokens"], data["total_tokens"], data["exchanges"])
        want = (s["inputTokens"], s["outputTokens"], s["cacheCreationTokens"], s["cacheReadTokens"],
                s["totalTokens"], s["entries"])
        assert got == want, s["sessionId"]


@needs_corpus
def test_corpus_sessions_summed_per_day_match_ccusage_daily():
    root = CORPUS / "claude" / "projects"
    dedup = Deduper()
    for r, path, _st in transcripts.iter_transcripts([root]):
        project, session = transcripts.session_of(Path(path), r)
        dedup.extend(transcripts.read_entries(Path(path), project, session))
    from datetime import datetime, timezone
    days: dict = {}
    for e in dedup.kept:
        day = datetime.fromtimestamp(e.ts_ms / 1000, timezone.utc).strftime("%Y-%m-%d")
        for name in ([e.model_name] if e.model_name else []):
            row = days.setdefault((day, name), [0, 0, 0, 0])
            for i, v in enumerate((e.input, e.output, e.cache_create, e.cache_read)):
                row[i] += v
    ccusage = json.loads((CORPUS / "expected" / "ccusage-20.0.24_claude_daily.json").read_text())
    want = {(d["date"], m["modelName"]): [m["inputTokens"], m["outputTokens"], m["cacheCreationTokens"], m["cacheReadTokens"]]
            for d in ccusage["daily"] for m in d["modelBreakdowns"]}
    assert days == want


def test_a_lone_surrogate_anywhere_drops_the_line_as_ccusage_does(tmp_path):
    """ccusage 20.0.24's parser refuses a line holding a lone surrogate, escaped or as UTF-8 bytes, in any
    string or key (checked against it); a valid pair, Korean text (0xED lead bytes) and other text count."""
    def raw(mid, inp, text: bytes) -> bytes:
        return line(mid=mid, rid=mid, inp=inp, out=0).encode().replace(b'"hidden words"', b'"' + text + b'"') + b"\n"

    data = (raw("ok", 1, b"plain") + raw("pair", 2, b"\\ud83d\\ude00") + raw("korean", 4, "\ud55c".encode())
            + raw("lone", 8, b"cut \\ud83d") + raw("low", 16, b"\\udc00") + raw("bytes", 32, b"\xed\xa0\x80")
            + raw("invalid", 64, b"\xff") + raw("escaped", 128, b"\\\\ud800 is text"))
    key = json.loads(line(mid="key", rid="key", inp=256, out=0))
    key["k\ud800"] = 1
    data += json.dumps(key).encode() + b"\n"  # json.dumps escapes it: "k\ud800"
    path = tmp_path / "p" / "a.jsonl"
    path.parent.mkdir()
    path.write_bytes(data)
    assert sum(e.input for e in transcripts.read_entries(path)) == 1 + 2 + 4 + 128
