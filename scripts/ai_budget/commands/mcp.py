"""budget mcp: a stdio MCP server, so Claude can check, estimate and log its own budget.

Hand-written JSON-RPC 2.0, one compact message a line (the runtime is stdlib
only). Reads call core and write nothing; `log_usage`, `configure_budget` and
`get_usage_history` run this CLI as a child process, so validation and writes
are exactly the CLI's and no command imports another. What Claude Code 2.1.328
sends (a `server/discover` probe, string and integer ids, signals instead of EOF)
is in the shared MCP reference.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from .. import core, notices, paths
from ..analysis import offload, pricing
from ..errors import BudgetError
from ..state import budget_file
from ..analysis.estimate import DEFAULT_TIER, TIERS
from ..timefmt import now_utc
from . import Result

PROTOCOLS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")  # newest first: the answer to any other
SERVER_VERSION = "1.0.0"
CHILD_TIMEOUT_S = 300
INSTRUCTIONS = ("ai-budget tracks this user's Claude subscription limits (5-hour and weekly %), Copilot and Gemini "
                "balances and a calibrated backlog. Call check_budget at the start of work, estimate_task_cost "
                "before a large task, get_offload_recommendations when the window runs low, and log_usage when "
                "the session's work is done.")


class RpcError(Exception):
    def __init__(self, code: int, message: str, data=None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


class ToolFault(Exception):
    """A tool's own failure (bad arguments included): an isError result the model can act on."""


# ---------------------------------------------------------------- the loop

def run(args, now) -> Result:
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # anything the library prints must not corrupt the protocol
    # Claude Code stops a server with SIGINT then SIGTERM, without closing stdin: both end the loop
    # quietly, even when the parent left SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    try:
        for raw in input_lines(sys.stdin.buffer):
            reply = handle_line(raw)
            if reply is not None:
                out.write(encode(reply) + b"\n")
                out.flush()
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    finally:
        sys.stdout = sys.__stdout__
    return Result(data={}, text="")


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt


def input_lines(stream):
    """stdin's lines. A signal that lands just before a blocking read would wait for the next
    line (seen under load); the wakeup pipe makes the wait return, so the handler runs at once."""
    if os.name == "nt":  # select works on sockets only there
        yield from iter(stream.readline, b"")
        return
    fd = stream.fileno()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    pending = b""
    while True:
        if fd in select.select([fd, wake_r], [], [])[0]:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                if pending:
                    yield pending
                return
            *complete, pending = (pending + chunk).split(b"\n")
            for line in complete:
                yield line + b"\n"
        else:
            os.read(wake_r, 64)  # the handler has run or runs now; drain so the next wait blocks


def encode(message: dict) -> bytes:
    try:
        return json.dumps(message, separators=(",", ":"), default=str, allow_nan=False).encode()
    except ValueError:  # a NaN somewhere in a result: answer, do not die
        return encode(error(message.get("id"), -32603, "Internal error (result is not JSON)"))


def error(mid, code: int, message: str, data=None) -> dict:
    body = {"code": code, "message": message, **({"data": data} if data is not None else {})}
    return {"jsonrpc": "2.0", "id": mid, "error": body}


def handle_line(raw: bytes) -> dict | None:
    """The reply to one input line, or None (a notification, a client's response, a blank line)."""
    if not raw.strip():
        return None
    try:
        msg = json.loads(raw)
    except (ValueError, RecursionError):
        return error(None, -32700, "Parse error")
    if isinstance(msg, list):
        return error(None, -32600, "Invalid Request: batches are not supported")
    if not isinstance(msg, dict):
        return error(None, -32600, "Invalid Request: not a JSON-RPC object")
    mid = msg.get("id")
    if "method" not in msg and ("result" in msg or "error" in msg):
        return None  # we send no requests, so no response is awaited
    if msg.get("jsonrpc") != "2.0" or not isinstance(msg.get("method"), str) \
            or ("id" in msg and (isinstance(mid, bool) or not isinstance(mid, (str, int)))):
        return error(mid if isinstance(mid, (str, int)) and not isinstance(mid, bool) else None, -32600,
                     "Invalid Request")
    if "id" not in msg:
        return None  # notifications are never answered
    params = msg.get("params")
    params = {} if params is None else params
    if not isinstance(params, dict):
        return error(mid, -32602, "Invalid params: expected an object")
    method = METHODS.get(msg["method"])
    if method is None:
        return error(mid, -32601, f"Method not found: {msg['method'][:80]}")
    try:
        return {"jsonrpc": "2.0", "id": mid, "result": method(params)}
    except RpcError as exc:
        return error(mid, exc.code, exc.message, exc.data)
    except Exception as exc:  # noqa: BLE001 - the type only: an exception's text could hold a secret
        sys.stderr.write(f"budget mcp: internal error ({type(exc).__name__}) in {msg['method'][:80]}\n")
        return error(mid, -32603, f"Internal error ({type(exc).__name__})")


def initialize(params: dict) -> dict:
    asked = params.get("protocolVersion")
    return {"protocolVersion": asked if asked in PROTOCOLS else PROTOCOLS[0],
            "capabilities": {"tools": {}, "resources": {}},
            "serverInfo": {"name": "ai-budget", "title": "AI budget", "version": SERVER_VERSION},
            "instructions": INSTRUCTIONS}


# ---------------------------------------------------------------- tools

@dataclass
class Tool:
    name: str
    title: str
    description: str
    schema: dict
    read_only: bool
    fn: Callable[[dict], tuple[dict, str]]

    def spec(self) -> dict:
        return {"name": self.name, "title": self.title, "description": self.description, "inputSchema": self.schema,
                "annotations": {"readOnlyHint": self.read_only, "destructiveHint": False,
                                "idempotentHint": self.read_only, "openWorldHint": False}}


def obj(properties: dict, required=()) -> dict:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


def validate(schema: dict, value, where: str = "arguments") -> None:
    """The subset of JSON Schema our tools use; the first fault as one line."""
    kind = schema.get("type")
    ok = {"object": isinstance(value, dict), "array": isinstance(value, list), "string": isinstance(value, str),
          "boolean": isinstance(value, bool),
          "integer": isinstance(value, int) and not isinstance(value, bool),
          "number": isinstance(value, (int, float)) and not isinstance(value, bool)}.get(kind, True)
    if not ok:
        raise ToolFault(f"{where}: expected {'an' if kind[0] in 'aeiou' else 'a'} {kind}, got {json.dumps(value)[:40]}")
    if "enum" in schema and value not in schema["enum"]:
        raise ToolFault(f"{where}: must be one of {', '.join(map(str, schema['enum']))}")
    if "minimum" in schema and value < schema["minimum"]:
        raise ToolFault(f"{where}: must be at least {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        raise ToolFault(f"{where}: must be at most {schema['maximum']}")
    if kind == "string" and not value.strip() and schema.get("minLength"):
        raise ToolFault(f"{where}: must not be empty")
    if kind == "array":
        for i, item in enumerate(value):
            validate(schema["items"], item, f"{where}[{i}]")
    if kind == "object":
        for key in schema.get("required", []):
            if key not in value:
                raise ToolFault(f"{where}: missing '{key}'")
        for key, item in value.items():
            if key not in schema["properties"]:
                raise ToolFault(f"{where}: unknown field '{str(key)[:40]}'")
            validate(schema["properties"][key], item, f"{where}.{key}")


def tools_list(_params: dict) -> dict:
    return {"tools": [t.spec() for t in TOOLS.values()]}


def tools_call(params: dict) -> dict:
    tool = TOOLS.get(params.get("name"))
    if tool is None:
        raise RpcError(-32602, f"Unknown tool: {str(params.get('name'))[:80]}")
    arguments = params.get("arguments")
    arguments = {} if arguments is None else arguments
    try:
        validate(tool.schema, arguments)
        data, text = tool.fn(arguments)
    except (ToolFault, BudgetError) as exc:
        return {"content": [{"type": "text", "text": one_line(str(exc))}], "isError": True}
    except Exception as exc:  # noqa: BLE001 - the type only: an exception's text could hold a secret
        sys.stderr.write(f"budget mcp: {tool.name}: internal error ({type(exc).__name__})\n")
        return {"content": [{"type": "text", "text": f"{tool.name}: internal error ({type(exc).__name__})"}],
                "isError": True}
    warnings = notices.drain()
    if warnings:
        data = {**data, "warnings": warnings}
    return {"content": [{"type": "text", "text": text}], "structuredContent": data}


def one_line(text: str) -> str:
    return " ".join(text.split())[:500]


def session_id() -> str | None:
    """Claude Code gives its servers the session's id: tools measure that session, not the newest transcript."""
    return os.environ.get("CLAUDE_CODE_SESSION_ID") or None


def brief(fetch: bool = True) -> dict:
    """core.brief: a usage API reading younger than its cache's 3 minutes is reused, so
    calls in a row cost one request at most and write nothing."""
    return core.brief(now_utc(), allow_fetch=fetch, session_id=session_id())


def compact_brief(b: dict) -> dict:
    """The brief as the model needs it: the numbers and the plan, without the per-line estimates."""
    c = b["claude"]

    def window(w):
        w = w or {}
        return {"used_pct": None if w.get("reset_since") else w.get("util"), "resets_at": w.get("resets_at"),
                "pace": w.get("pace")}

    def task(e):
        return e and {"text": e["text"], "estimate_pct": e["estimate_pct"], "basis": e["basis"]}

    plan = b["backlog"]
    return {
        "claude": {"five_hour": window(c.get("five_hour")), "seven_day": window(c.get("seven_day")),
                   "scoped_weekly": c.get("scoped_weekly") or [], "binding": c.get("binding"),
                   "extra_usage": c.get("extra_usage"), "source": c["source"], "age_s": c["age_s"],
                   "stale": c["stale"], "problem": c["problem"]},
        "local": b["local"],
        "copilot": {k: b["copilot"].get(k) for k in ("remaining", "used", "limit", "unit", "resets_at", "age_days", "stale")},
        "gemini": {k: b["gemini"].get(k) for k in ("status", "remaining", "used", "limit", "unit", "age_days", "stale")},
        "recommendation": {"headroom_pct": plan["headroom_pct"], "known_utilisation": plan["known_utilisation"],
                           "start": task(plan["start"]), "then": [task(e) for e in plan["then"]],
                           "checkpoint": plan["checkpoint"] and {**plan["checkpoint"], "task": task(plan["checkpoint"]["task"])},
                           "defer": [task(e) for e in plan["defer"]],
                           "move": [{"task": task(m["task"]), "to": m["to"]} for m in plan["move"]],
                           "notes": plan["notes"]},
    }


def pct_text(value) -> str:
    return "unknown" if value is None else f"{value:.0f}%"


def check_budget(a: dict) -> tuple[dict, str]:
    data = compact_brief(brief(a.get("fetch", True)))
    c, rec = data["claude"], data["recommendation"]
    start = rec["start"]["text"] if rec["start"] else "nothing fits"
    return data, (f"Claude 5h {pct_text(c['five_hour']['used_pct'])}, 7d {pct_text(c['seven_day']['used_pct'])} "
                  f"({c['source']}); start: {start}")


def estimate_task_cost(a: dict) -> tuple[dict, str]:
    """core.task_estimate: a calibrated type first, else the complexity tier (analysis/estimate.py)."""
    calibration = budget_file.load(paths.budget_file())["calibration"]
    name = a.get("task_type")
    entry = calibration.get(name) if name else None
    calibrated = entry is not None and bool(entry.get("units_total"))  # units default to 1
    if name and not calibrated and not a.get("complexity"):
        known = ", ".join(sorted(calibration)) or "none"
        state = "not calibrated yet" if entry is not None else "unknown"
        raise ToolFault(f"task type '{name}' is {state} (known: {known}); give a complexity tier instead")
    e = core.task_estimate(now_utc(), task_type=name if entry is not None else None, units=a.get("units"),
                           tier=None if calibrated else a.get("complexity", DEFAULT_TIER), files=a.get("files", 0))
    data = {"estimate_pct": e["pct"]["mid"], "range_pct": [e["pct"]["low"], e["pct"]["high"]], "basis": e["basis"],
            "output_tokens": e["output_tokens"] and e["output_tokens"]["mid"],
            "api_equivalent_usd": e["api_equivalent_usd"] and e["api_equivalent_usd"]["mid"], "usd_basis": e["usd_basis"],
            "used_5h_pct": e["used_5h_pct"], "headroom_pct": e["headroom_pct"],
            "fits_before_reset": None if e["headroom_pct"] is None else e["pct"]["mid"] <= e["headroom_pct"],
            "resets_at": e["utilisation"]["resets_at"]}
    fits = {True: "fits before the reset", False: "does not fit before the reset",
            None: "no utilisation reading to say whether it fits"}[data["fits_before_reset"]]
    return data, f"about {data['estimate_pct']}% of the 5-hour window ({e['basis']}); {fits}"


def cli_json(*argv: str) -> dict:
    """This CLI's --json answer, run as a child (its stdout piped: fd 1 is the protocol's)."""
    script = paths.code_root() / "scripts" / "budget.py"
    try:
        proc = subprocess.run([sys.executable, "-S", str(script), *argv, "--json"], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ToolFault(f"budget {argv[0]} took longer than {CHILD_TIMEOUT_S} s") from None
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        data = None
    if not isinstance(data, dict) or (proc.returncode and not data.get("ok", True) and "error" in data):
        lines = [l.removeprefix(f"budget {argv[0]}: ") for l in proc.stderr.splitlines() if l.strip()]
        raise ToolFault(f"budget {argv[0]}: " + (data or {}).get("error", lines[-1] if lines else f"exit {proc.returncode}"))
    return data


def log_usage(a: dict) -> tuple[dict, str]:
    argv = ["log"]
    if session_id():
        argv += ["--session", session_id()]
    for t in a.get("tasks", []):
        argv += ["--task", ":".join([t["type"], str(t["units"]), *([t["description"]] if t.get("description") else [])])]
    for key, flag in (("lessons", "--lesson"), ("next_steps", "--next"), ("completed", "--complete")):
        for item in a.get(key, []):
            argv += [flag, item]
    if "copilot_used" in a:
        argv += ["--copilot-used", str(a["copilot_used"])]
    if a.get("gemini"):
        argv += ["--gemini", a["gemini"]]
    if a.get("commit") is False:
        argv.append("--no-commit")
    data = cli_json(*argv)
    return data, "session logged" + (" and committed" if (data.get("git") or {}).get("committed") else "")


def get_usage_history(a: dict) -> tuple[dict, str]:
    since = (datetime.now().astimezone() - timedelta(days=a.get("days", 7) - 1)).strftime("%Y-%m-%d")
    data = cli_json("report", "daily", "--since", since, *(["--project", a["project"]] if a.get("project") else []))
    rows = [{"date": r["date"], "tokens": r["totalTokens"], "output_tokens": r["outputTokens"],
             "cost_usd": round(r["totalCost"], 4),
             "by_model": {m["modelName"]: round(m["cost"], 4) for m in r.get("modelBreakdowns", [])}}
            for r in data.get("daily", [])]
    total = round(sum(r["cost_usd"] for r in rows), 2)
    return ({"since": since, "project": a.get("project"), "days": rows, "total_cost_usd": total},
            f"{len(rows)} day(s) with usage since {since}: ${total} API-equivalent")


def get_offload_recommendations(a: dict) -> tuple[dict, str]:
    b = brief()
    plan, claude = b["backlog"], b["claude"]
    used = core.used_5h(claude)
    resets = (claude.get("five_hour") or {}).get("resets_at")
    recs = offload.recommendations(plan, used, resets, pricing.load(), planned=a.get("planned_task_pct"),
                                   model=a.get("model"), simple=bool(a.get("simple")), bulk_api=bool(a.get("bulk_api")))
    data = {"used_5h_pct": used, "headroom_pct": plan["headroom_pct"], "resets_at": resets, "recommendations": recs}
    return data, f"{len(recs)} recommendation(s); {plan['headroom_pct']:.0f}% of the 5-hour window left"


CONFIGURE = {"alerts": {"warn_at": "--warn-at", "critical_at": "--critical-at", "block_at": "--block-at"},
             "copilot": {"used": "--used", "limit": "--limit", "unit": "--unit", "plan": "--plan", "resets_at": "--resets-at"},
             "gemini": {"status": "--status", "used": "--used", "limit": "--limit", "unit": "--unit"},
             "api": {"balance": "--balance", "topup": "--topup"},
             "limits": {"daily": "--daily", "weekly": "--weekly", "monthly": "--monthly", "unit": "--unit",
                        "warn_at": "--warn-at", "critical_at": "--critical-at"}}


def configure_budget(a: dict) -> tuple[dict, str]:
    if not a:
        raise ToolFault("give at least one of: " + ", ".join(CONFIGURE))
    changed = {}
    for section, flags in CONFIGURE.items():  # in order; a failure names what was already applied
        if section not in a:
            continue
        argv = ["set", section]
        for key, value in a[section].items():
            argv += [flags[key], str(value)]
        try:
            changed[section] = cli_json(*argv)[section]
        except ToolFault as exc:
            done = f" ({', '.join(changed)} already saved)" if changed else ""
            raise ToolFault(f"{exc}{done}") from None
    return {"changed": changed}, "saved: " + ", ".join(changed)


TEXT = {"type": "string", "minLength": 1}  # CLI values pass as text: `budget set` parses them
TOOLS = {t.name: t for t in [
    Tool("check_budget", "Check budget",
         "Current Claude 5-hour and weekly utilisation with resets and pace, scoped weekly limits, extra usage, "
         "Copilot and Gemini balances (with their staleness) and what to work on first. Call it at the start of a "
         "session and before choosing what to do next. Writes nothing.",
         obj({"fetch": {"type": "boolean", "description": "ask the usage API when no fresh reading exists (default true)"}}),
         True, check_budget),
    Tool("estimate_task_cost", "Estimate a task's cost",
         "Estimate a task in % of the 5-hour window, output tokens and API-equivalent dollars, from the calibration "
         "for a task type and units (with its range), else a complexity tier's default; says whether it fits "
         "before the reset. Call it before starting a large task.",
         obj({"task_type": {"type": "string", "minLength": 1, "description": "a calibrated task type"},
              "units": {"type": "integer", "minimum": 1, "maximum": 100000},
              "complexity": {"type": "string", "enum": list(TIERS), "description": "without calibration (default moderate)"},
              "files": {"type": "integer", "minimum": 0, "maximum": 100000, "description": "files it reads and edits"},
              "description": {"type": "string", "description": "what the task is (not stored)"}}),
         True, estimate_task_cost),
    Tool("get_usage_history", "Usage history",
         "Daily token use and API-equivalent cost by model for the last N days on this machine and the budget "
         "repo's other machines. Call it when asked about past usage or trends.",
         obj({"days": {"type": "integer", "minimum": 1, "maximum": 366, "description": "default 7"},
              "project": {"type": "string", "minLength": 1, "description": "only this project folder"}}),
         True, get_usage_history),
    Tool("get_offload_recommendations", "Offload recommendations",
         "How to save the Claude window: switch model, defer until the reset, stop at a checkpoint, move light "
         "tasks to Copilot or Gemini, use the Batch API for bulk work; each with its saving and reason. Call it "
         "when the window runs low or a planned task may not fit.",
         obj({"planned_task_pct": {"type": "number", "minimum": 0, "maximum": 1000, "description": "from estimate_task_cost"},
              "model": {"type": "string", "enum": ["opus", "sonnet", "haiku"], "description": "the model in use"},
              "simple": {"type": "boolean", "description": "the planned work is simple"},
              "bulk_api": {"type": "boolean", "description": "the work is bulk API calls"}}),
         True, get_offload_recommendations),
    Tool("log_usage", "Log the session",
         "End of session: measure this session's usage, record tasks with units (calibration), lessons, next steps "
         "and completed backlog lines, and commit — exactly `budget log`. Call it once when the work is done.",
         obj({"tasks": {"type": "array", "items": obj({"type": {"type": "string", "minLength": 1},
                                                       "units": {"type": "integer", "minimum": 1, "maximum": 100000},
                                                       "description": {"type": "string"}}, ["type", "units"])},
              "lessons": {"type": "array", "items": TEXT},
              "next_steps": {"type": "array", "items": TEXT},
              "completed": {"type": "array", "items": TEXT, "description": "text of backlog lines done"},
              "copilot_used": {"type": "integer", "minimum": 0},
              "gemini": {"type": "string", "description": "how Gemini was used"},
              "commit": {"type": "boolean", "description": "commit the budget repo (default true)"}}),
         False, log_usage),
    Tool("configure_budget", "Configure the budget",
         "Set alert thresholds (warn, critical, block prompts at a 5-hour %), the Copilot and Gemini balances, the "
         "Anthropic API credit balance (api) and spend limits per day, week and month in API-equivalent dollars or "
         "tokens ('off' clears one), validated as `budget set` validates them and committed. Call it when the user "
         "gives new limits or balances.",
         obj({section: obj({k: TEXT for k in flags}) for section, flags in CONFIGURE.items()}),
         False, configure_budget),
]}


# ---------------------------------------------------------------- resources

def _pricing() -> dict:
    with open(pricing.PRICES_FILE, encoding="utf-8") as handle:
        return json.loads(handle.read())


RESOURCES = {
    "budget://status": ("status", "The brief as JSON: utilisation, balances, backlog plan", brief),
    "usage://today": ("today", "Local API-equivalent usage today, this window and this month", lambda: core.usage_summary(now_utc())),
    "pricing://models": ("models", "The dated API price table (USD per million tokens)", _pricing),
}


def resources_list(_params: dict) -> dict:
    return {"resources": [{"uri": uri, "name": name, "description": text, "mimeType": "application/json"}
                          for uri, (name, text, _fn) in RESOURCES.items()]}


def resources_read(params: dict) -> dict:
    uri = params.get("uri")
    if not isinstance(uri, str):
        raise RpcError(-32602, "Invalid params: 'uri' must be a string")
    if uri not in RESOURCES:
        raise RpcError(-32002, "Resource not found", {"uri": uri[:200]})
    body = RESOURCES[uri][2]()
    notices.drain()  # a resource has no place for warnings; the tools report them
    return {"contents": [{"uri": uri, "mimeType": "application/json",
                          "text": json.dumps(body, separators=(",", ":"), default=str)}]}


METHODS = {"initialize": initialize, "ping": lambda _p: {}, "tools/list": tools_list, "tools/call": tools_call,
           "resources/list": resources_list, "resources/read": resources_read,
           "resources/templates/list": lambda _p: {"resourceTemplates": []}}
