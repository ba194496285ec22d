"""One bad line, an unreadable or rewritten transcript, a damaged or unwritable index:
every report still answers, with one line saying what was left out."""

import json
import os

import pytest

from ai_budget.sources import transcripts
from conftest import line, run, run_json, write_session

GOOD = line(mid="ok", rid="ok", out=7)
DEEP = ('{"type":"assistant","message":{"usage":{"input_tokens":1,"output_tokens":1},"x":' + "[" * 1000 + "]" * 1000
        + '},"timestamp":"2026-01-01T10:00:00.000Z"}')


@pytest.mark.parametrize("bad", [
    DEEP,
    line(mid="m1", rid="r1", out=2 ** 63),
    line(mid="m2", rid="r2", out=2 ** 62) + "\n" + line(mid="m3", rid="r3", out=2 ** 62),
    line(mid="m4", rid="r4", ts="0001-01-01T00:00:00.000+01:00"),
    line(mid="m5", rid="r5", ts="9999-12-31T23:59:59.000-05:00"),
    '{"type":"cost-state","sessionId":"s1","startTime":Infinity,"totalAPIDuration":1e400,"modelUsage":{}}',
], ids=["nested", "2^63", "two-2^62", "year-1", "year-9999", "infinite-cost-state"])
def test_a_line_that_cannot_be_represented_is_skipped_and_counted(env, capsys, bad):
    write_session(env.projects, [GOOD, bad])
    code, data, err = run_json(capsys, "report", "daily")
    assert code == 0 and data["totals"]["outputTokens"] == 7 and "Traceback" not in err
    counted = "cost-state" not in bad  # a broken cost-state record is not a usage line
    assert any("cannot be represented" in w for w in data.get("warnings", [])) == counted
    code, out, err = run(capsys, "tokens", "--session", "s1")
    assert code == 0 and "Traceback" not in err
    assert run(capsys, "check", "--no-fetch")[0] in (0, 1)


def test_an_unreadable_transcript_is_read_once_it_can_be(env, capsys, monkeypatch):
    path = write_session(env.projects, [GOOD])
    real_open = open

    def refuse(file, *a, **k):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *a, **k)

    with monkeypatch.context() as patched:
        patched.setattr(transcripts, "open", refuse, raising=False)
        code, data, _ = run_json(capsys, "report", "daily")
    assert code == 0 and data["totals"]["outputTokens"] == 0
    assert any("could not read 1 transcript" in w for w in data["warnings"])
    assert run_json(capsys, "report", "daily")[1]["totals"]["outputTokens"] == 7


def test_a_file_rewritten_in_place_is_read_again(env, capsys):
    path = write_session(env.projects, [line(mid="a", rid="a", out=5)])
    assert run_json(capsys, "report", "daily")[1]["totals"]["outputTokens"] == 5
    inode = path.stat().st_ino
    with open(path, "r+b") as handle:  # same inode, longer, different from the first byte
        handle.write((line(mid="b", rid="b", out=9) + "\n" + line(mid="c", rid="c", out=1) + "\n").encode())
    assert path.stat().st_ino == inode
    assert run_json(capsys, "report", "daily")[1]["totals"]["outputTokens"] == 10


def test_a_damaged_index_is_set_aside_and_rebuilt(env, capsys):
    write_session(env.projects, [GOOD])
    env.cache.mkdir(parents=True)
    (env.cache / "index.sqlite").write_bytes(b"this is not a database" * 100)
    code, data, err = run_json(capsys, "report", "daily")
    assert code == 0 and data["totals"]["outputTokens"] == 7 and "Traceback" not in err
    assert any("set aside as index.sqlite.corrupt-" in w for w in data["warnings"])
    assert len(list(env.cache.glob("index.sqlite.corrupt-*"))) == 1
    code, data, _ = run_json(capsys, "report", "daily")
    assert code == 0 and "warnings" not in data  # rebuilt once, then quiet


def test_two_damaged_indexes_in_one_second_are_both_set_aside(env, capsys, monkeypatch):
    """The name was index.sqlite.corrupt-<second>: a folder set aside, then a damaged file in
    the same second was renamed onto it (IsADirectoryError: an 'internal error')."""
    from ai_budget.state import index

    monkeypatch.setattr(index.time, "time", lambda: 1_800_000_000.5)
    write_session(env.projects, [GOOD])
    env.cache.mkdir(parents=True)
    (env.cache / "index.sqlite").mkdir()
    assert run_json(capsys, "report", "daily")[1]["totals"]["outputTokens"] == 7
    (env.cache / "index.sqlite").unlink()
    (env.cache / "index.sqlite-wal").unlink(missing_ok=True)
    (env.cache / "index.sqlite").write_bytes(b"this is not a database" * 100)
    code, data, err = run_json(capsys, "report", "daily")
    assert code == 0 and data["totals"]["outputTokens"] == 7 and "Traceback" not in err
    assert sorted(p.name for p in env.cache.glob("index.sqlite.corrupt-*")) == \
        ["index.sqlite.corrupt-1800000000", "index.sqlite.corrupt-1800000000-1"]


def test_an_unwritable_cache_still_answers(env, capsys, monkeypatch, tmp_path):
    import tempfile

    write_session(env.projects, [GOOD])
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("AI_BUDGET_CACHE_DIR", str(blocker / "cache"))  # a folder under a file: never creatable
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    code, data, err = run_json(capsys, "report", "daily")
    assert code == 0 and data["totals"]["outputTokens"] == 7 and "Traceback" not in err
    assert any("is not writable: using a temporary index" in w for w in data["warnings"])
    assert run(capsys, "tokens", "--session", "s1")[0] == 0


SURROGATE_ID = line(mid="m-\ud800", rid="r9", out=3)  # json.dumps writes the escape "\ud800"
SURROGATE_MODEL = ('{"type":"cost-state","sessionId":"s1","startTime":1,"totalAPIDuration":1,"totalDuration":1,'
                   '"modelUsage":{"claude-\\udfff":{"inputTokens":1,"outputTokens":1}}}')


@pytest.mark.parametrize("bad", [SURROGATE_ID, SURROGATE_MODEL], ids=["message-id", "cost-state-model"])
def test_a_lone_surrogate_is_a_malformed_line_not_a_broken_index(env, capsys, bad):
    """SQLite holds UTF-8 only: one such line made every build an internal error, for good."""
    assert "\\ud800" in bad or "\\udfff" in bad
    write_session(env.projects, [GOOD, bad])
    code, data, err = run_json(capsys, "report", "daily")
    assert code == 0 and data["totals"]["outputTokens"] == 7 and "Traceback" not in err


def test_a_transcript_path_that_is_not_utf8_is_named_and_left_out(env, capsys):
    write_session(env.projects, [GOOD])
    odd = os.path.join(os.fsencode(env.projects), b"-home-me-\xff")
    os.makedirs(odd)
    with open(os.path.join(odd, b"s2.jsonl"), "w") as out:
        out.write(line(mid="other", rid="other", out=100) + "\n")
    os.utime(os.path.join(odd, b"s2.jsonl"), (4_000_000_000, 4_000_000_000))  # the newest: never the current session
    code, data, err = run_json(capsys, "report", "daily")
    assert code == 0 and data["totals"]["outputTokens"] == 7 and "Traceback" not in err
    assert any("not valid UTF-8" in w and "\\udcff" in w for w in data.get("warnings", []))
    code, data, err = run_json(capsys, "tokens")  # run outside any project: the newest transcript it can index
    assert code == 0 and data["session_id"] == "s1" and data["output_tokens"] == 7, err
