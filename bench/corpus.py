"""Deterministic synthetic Claude Code projects tree for benchmarks.

Same seed and size → byte-identical tree. Shapes follow real transcripts: one
line per content block with partial then final usage (older versions repeat the
final usage on every line), 5m/1h cache breakdowns, big tool results repeated in
toolUseResult, hook/bash/agent progress, subagent files (2.1.x) or inline
sidechains (older), resumed sessions replaying a prefix, <synthetic> API-error
lines, lines without requestId or message.id, blank and malformed lines, and
files whose last line is still being written.

    python3 bench/corpus.py DIR --mb 500
"""

from __future__ import annotations

import argparse
import json
import random
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

MODELS = [("claude-opus-4-5-20251101", 5), ("claude-sonnet-4-5-20250929", 4), ("claude-haiku-4-5-20251001", 1)]
VERSIONS = [("2.1.42", 78), ("2.0.76", 17), ("1.0.128", 5)]
TOOLS = ["Bash", "Read", "Edit", "Write", "Grep", "Glob", "WebFetch", "WebSearch", "TodoWrite", "Task"]
END = datetime(2026, 11, 1, tzinfo=timezone.utc)
WORDS = ("the build test parser index window budget token cache session request model project file line error value "
         "config update return import class function module result output input check report daily").split()


class Gen:
    def __init__(self, seed: int):
        self.r = random.Random(seed)
        self.text_pool = " ".join(self.r.choice(WORDS) for _ in range(200_000))

    def uid(self) -> str:
        return str(uuid.UUID(int=self.r.getrandbits(128), version=4))

    def rid(self, prefix: str) -> str:
        return prefix + "".join(self.r.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789") for _ in range(24))

    def text(self, n: int) -> str:
        start = self.r.randrange(0, len(self.text_pool) - n - 1)
        return self.text_pool[start:start + n]

    def pick(self, weighted):
        return self.r.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _usage(g: Gen, out: int, final: bool, legacy: bool) -> dict:
    c5, c1 = g.r.choice([(0, g.r.randrange(200, 20000)), (g.r.randrange(100, 5000), 0), (0, 0)])
    u = {"input_tokens": g.r.choice([1, 3, 6, g.r.randrange(1, 900)]),
         "cache_creation_input_tokens": c5 + c1, "cache_read_input_tokens": g.r.randrange(10_000, 180_000),
         "output_tokens": out}
    if not legacy:
        u["cache_creation"] = {"ephemeral_5m_input_tokens": c5, "ephemeral_1h_input_tokens": c1}
        u["service_tier"] = "standard"
    if final and not legacy:
        u["server_tool_use"] = {"web_search_requests": 0, "web_fetch_requests": 0}
        u["iterations"] = []
    return u


def session_lines(g: Gen, project_cwd: str, session: str, start: datetime, turns: int, version: str,
                  sidechain: bool = False, agent: str | None = None):
    """Yield (line_dict_or_raw, subagent_lines) for one conversation."""
    legacy = version.startswith("1.")
    model = g.pick(MODELS)
    t = start
    parent = None
    base = {"isSidechain": sidechain, "userType": "external", "cwd": project_cwd, "sessionId": session,
            "version": version, "gitBranch": "main"}
    if agent:
        base["agentId"] = agent
    for _ in range(turns):
        t += timedelta(seconds=g.r.randrange(5, 240))
        u = g.uid()
        content = g.text(g.r.randrange(80, 1500))
        if g.r.random() < 0.005:  # pasted screenshot
            content = [{"type": "text", "text": content},
                       {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": g.text(40_000)}}]
        yield {**base, "parentUuid": parent, "type": "user", "message": {"role": "user", "content": content},
               "uuid": u, "timestamp": _ts(t)}, None
        parent = u
        if g.r.random() < 0.3:
            yield {**base, "parentUuid": parent, "type": "progress", "data": {"type": "hook_progress", "hookEvent": "UserPromptSubmit",
                   "hookName": "UserPromptSubmit", "command": "~/.claude/hooks/notify.sh"}, "uuid": g.uid(), "timestamp": _ts(t)}, None
        for _step in range(g.r.randrange(1, 5)):
            t += timedelta(seconds=g.r.randrange(2, 60))
            mid, req = g.rid("msg_01"), g.rid("req_011C")
            blocks = ([{"type": "thinking", "thinking": g.text(g.r.randrange(100, 2000)), "signature": g.text(200)}]
                      if g.r.random() < 0.4 else [])
            blocks.append({"type": "text", "text": g.text(g.r.randrange(50, 1200))})
            tool = g.r.choice(TOOLS) if g.r.random() < 0.8 else None
            tool_id = "toolu_01" + g.rid("")[:22]
            if tool:
                blocks.append({"type": "tool_use", "id": tool_id, "name": tool, "input": {"command": g.text(g.r.randrange(20, 600))}})
            final_out = g.r.randrange(20, 4000)
            repeat_final = legacy or version.startswith("2.0") or g.r.random() < 0.35
            no_request = legacy and g.r.random() < 0.3
            for i, block in enumerate(blocks):
                last = i == len(blocks) - 1
                out = final_out if (last or repeat_final) else g.r.randrange(1, 30)
                msg = {"model": model, "id": mid, "type": "message", "role": "assistant", "content": [block],
                       "stop_reason": "tool_use" if last and tool else None, "stop_sequence": None,
                       "usage": _usage(g, out, last, legacy)}
                if g.r.random() < 0.002:
                    del msg["id"]
                line = {**base, "parentUuid": parent, "message": msg, "type": "assistant", "uuid": g.uid(),
                        "timestamp": _ts(t + timedelta(milliseconds=300 * i))}
                if not no_request:
                    line["requestId"] = req
                yield line, None
                parent = line["uuid"]
            if g.r.random() < 0.01:
                yield {**base, "parentUuid": parent, "type": "assistant", "uuid": g.uid(), "timestamp": _ts(t), "isApiErrorMessage": True,
                       "message": {"model": "<synthetic>", "id": g.uid(), "role": "assistant", "type": "message",
                                   "content": [{"type": "text", "text": "API Error: Request timed out."}],
                                   "usage": {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0,
                                             "cache_read_input_tokens": 0}}}, None
            if not tool:
                continue
            sub = None
            if tool == "Task" and not sidechain:
                agent_id = g.rid("a")[:8]
                if version.startswith("2.1"):
                    sub = (agent_id, list(session_lines(g, project_cwd, session, t, g.r.randrange(2, 8), version, True, agent_id)))
                else:  # older versions wrote sidechains inline
                    for inline, _ in session_lines(g, project_cwd, session, t, g.r.randrange(1, 4), version, True):
                        yield inline, None
                yield {**base, "parentUuid": parent, "type": "progress", "data": {"type": "agent_progress", "agentId": agent_id,
                       "prompt": g.text(200), "normalizedMessages": []}, "uuid": g.uid(), "timestamp": _ts(t)}, None
            for k in range(g.r.randrange(0, 3) if tool == "Bash" else 0):
                yield {**base, "parentUuid": parent, "type": "progress", "data": {"type": "bash_progress", "output": g.text(100),
                       "elapsedTimeSeconds": k + 1}, "uuid": g.uid(), "timestamp": _ts(t)}, None
            size = g.r.choice([200, 800, 2500, 6000]) if g.r.random() < 0.99 else 60_000
            result = g.text(size)
            extra = {}
            if tool == "Task":  # a Task result carries its own nested usage
                extra = {"totalTokens": 12345, "usage": {"input_tokens": 10, "output_tokens": 900}}
            t += timedelta(seconds=g.r.randrange(1, 90))
            u = g.uid()
            yield {**base, "parentUuid": parent, "type": "user", "uuid": u, "timestamp": _ts(t),
                   "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": result}]},
                   "toolUseResult": {"stdout": result, "stderr": "", "interrupted": False, **extra}}, sub
            parent = u
        yield {**base, "parentUuid": parent, "type": "system", "subtype": "turn_duration", "durationMs": g.r.randrange(1000, 90000),
               "uuid": g.uid(), "timestamp": _ts(t)}, None


def generate(out: Path, megabytes: float, seed: int = 7) -> dict:
    g = Gen(seed)
    target = int(megabytes * 1_000_000)
    projects_dir = out / "projects"
    projects_dir.mkdir(parents=True, exist_ok=True)
    n_projects = max(2, int(megabytes / 6))
    projects = [f"-home-dev-src-proj{i:03d}" for i in range(n_projects)]
    written = files = lines = 0
    previous: list[str] = []
    day = 0
    while written < target:
        project = g.r.choice(projects)
        cwd = "/home/dev/src/" + project.rsplit("-", 1)[1]
        session = g.uid()
        start = END - timedelta(days=60) + timedelta(days=day % 60, hours=g.r.choice([8, 9, 10, 13, 14, 16, 20, 22]),
                                                     minutes=g.r.randrange(60))
        day += 1 if g.r.random() < 0.06 else 0
        version = g.pick(VERSIONS)
        body: list[str] = []
        if previous and g.r.random() < 0.05:  # resumed: replays a prefix of the previous session
            body += previous[: len(previous) // 2]
        subs = []
        for obj, sub in session_lines(g, cwd, session, start, g.r.randrange(3, 25), version):
            body.append(json.dumps(obj, separators=(",", ":")))
            if sub:
                subs.append(sub)
            if g.r.random() < 0.001:
                body.append("")
            if g.r.random() < 0.0005:
                body.append(body[-1][: len(body[-1]) // 2])  # a line cut mid-file
        previous = body
        path = projects_dir / project / f"{session}.jsonl"
        path.parent.mkdir(exist_ok=True)
        tail = g.r.random() < 0.015
        data = "\n".join(body) + ("" if tail else "\n")
        path.write_text(data, encoding="utf-8")
        written += len(data.encode())
        files += 1
        lines += len(body)
        for agent_id, sub_lines in subs:
            sub_path = projects_dir / project / session / "subagents" / f"agent-{agent_id}.jsonl"
            sub_path.parent.mkdir(parents=True, exist_ok=True)
            data = "".join(json.dumps(o, separators=(",", ":")) + "\n" for o, _ in sub_lines)
            sub_path.write_text(data, encoding="utf-8")
            written += len(data.encode())
            files += 1
            lines += len(sub_lines)
    return {"bytes": written, "files": files, "lines": lines, "projects": n_projects}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--mb", type=float, default=500)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    print(json.dumps(generate(args.dir, args.mb, args.seed)))


if __name__ == "__main__":
    main()
