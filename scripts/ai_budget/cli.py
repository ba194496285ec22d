"""Command-line entry: parse argv, run one command, print text or one JSON object.

Exit codes: 0 ok · 1 a source was unavailable (did what it could) · 2 bad input.
`budget status --exit-code` adds the spend limits' worst status: 0 ok (or no
limit set) · 10 warning · 11 critical · 12 exceeded (1 and 2 keep their meaning).
"""

from __future__ import annotations

import json
import sys

from . import notices
from .errors import EXIT_BAD_INPUT, BudgetError
from .timefmt import now_utc

STATUS_EXIT_CODES = (10, 11, 12)  # analysis/limits.EXIT_CODES: warning, critical, exceeded


def _parser_class():
    """argparse is loaded only for the commands that need it (not the status line or the hooks)."""
    import argparse

    def formatter(prog):
        # The width argparse would take from shutil.get_terminal_size, without importing shutil
        # (argparse makes a formatter for every argument added: 2 ms a run).
        return argparse.HelpFormatter(prog, width=_columns() - 2)

    class Parser(argparse.ArgumentParser):
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("formatter_class", formatter)
            super().__init__(*args, **kwargs)

        def error(self, message):  # one line, exit 2, no usage dump
            sys.stderr.write(f"{self.prog}: {message} (see --help)\n")
            raise SystemExit(EXIT_BAD_INPUT)

    return Parser


def _columns() -> int:
    """shutil.get_terminal_size().columns: $COLUMNS, else the terminal's, else 80."""
    import os

    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Unused:
    """Stands in for the sub-parsers of the commands not being run: building them all
    (argparse formats each argument as it is added) cost each run 5 ms."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: self


def build_parser(only: str | None = None):
    """The whole parser, or (only) just the one command's sub-parser in it."""
    Parser = _parser_class()
    common = Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    session = Parser(add_help=False)
    session.add_argument("--no-fetch", action="store_true", help="do not call the usage API")
    session.add_argument("--session", metavar="ID", type=lambda v: v.strip() or None,
                         help="Claude Code session id (default: the current transcript)")
    parser = Parser(prog="budget", description="Local, git-backed budget manager for AI coding subscriptions.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    parser.commands = sub.choices  # the commands built

    def add_parser(name, **kwargs):
        return sub.add_parser(name, **kwargs) if only in (None, name) else _Unused()

    p = add_parser("fetch", parents=[common], help="Claude utilisation from the OAuth usage API")
    p.add_argument("--force", action="store_true", help="ignore the 3-minute cache (not the 429 gate)")

    p = add_parser("check", parents=[common, session], help="session-start brief: accounts, backlog, what to do first")
    p.add_argument("--markdown", action="store_true", help="compact markdown for the skill (always exits 0)")

    p = add_parser("log", parents=[common, session], help="end of session: measure, calibrate, write the log, commit")
    p.add_argument("--task", action="append", metavar="TYPE:UNITS[:DESCRIPTION]")
    p.add_argument("--lesson", action="append", metavar="TEXT")
    p.add_argument("--next", action="append", metavar="TEXT")
    p.add_argument("--copilot-used", metavar="N")
    p.add_argument("--gemini", metavar="TEXT", help="how Gemini was used this session")
    p.add_argument("--complete", action="append", metavar="TEXT", help="move the backlog line containing TEXT")
    p.add_argument("--no-commit", action="store_true")

    p = add_parser("tokens", parents=[common], help="token totals for one Claude Code session")
    p.add_argument("file", nargs="?", metavar="SESSION_FILE")
    p.add_argument("--session", metavar="ID", help="session id instead of a file")

    p = add_parser("calibrate", parents=[common], help="update per-task-type cost averages")
    p.add_argument("task_type", nargs="?", metavar="TYPE")
    p.add_argument("units", nargs="?", metavar="UNITS")
    p.add_argument("pct_delta", nargs="?", metavar="PCT_DELTA")
    p.add_argument("output_tokens", nargs="?", metavar="OUTPUT_TOKENS")
    p.add_argument("--add-type", metavar="NAME")
    p.add_argument("--unit", metavar="'per X'", help="with --add-type")
    p.add_argument("--reset", metavar="TYPE")
    p.add_argument("--rebuild", action="store_true", help="recompute all averages from sessions/*.md")
    p.add_argument("--list", action="store_true", help="list the task types")

    p = add_parser("report", parents=[common], help="usage history (API-equivalent cost)")
    p.add_argument("kind", choices=["daily", "weekly", "monthly", "session", "blocks", "models", "projects",
                                    "tools", "agents", "skills", "accuracy"])
    p.add_argument("--since", metavar="DATE")
    p.add_argument("--until", metavar="DATE")
    p.add_argument("--tz", metavar="ZONE", help="IANA time zone for day buckets (default: local)")
    p.add_argument("--project", metavar="NAME", help="only this project folder")
    p.add_argument("--breakdown", action="store_true", help="per-model rows")
    p.add_argument("--save", action="store_true", help="update and commit this machine's history/ file")

    p = add_parser("optimize", parents=[common], help="findings from your own counts, with estimated savings")
    p.add_argument("--since", metavar="DATE", help="from this day (default: the last 30 days)")
    p.add_argument("--tz", metavar="ZONE", help="IANA time zone for --since (default: local)")

    for name, text in (("statusline", "Claude Code statusLine command (reads its JSON on stdin)"),
                       ("hook", "Claude Code hook handler: session-start, user-prompt-submit, pre-tool-use, stop, session-end")):
        FAST[name](add_parser(name, help=text))

    p = add_parser("status", parents=[common], help="spend limits and the 5-hour window (exit codes for scripts)")
    p.add_argument("--no-fetch", action="store_true", help="do not call the usage API")
    p.add_argument("--exit-code", action="store_true", help="exit 10 warning, 11 critical, 12 exceeded (0 ok)")

    add_parser("usage", parents=[common], help="today, this week, this month on one screen")

    p = add_parser("watch", parents=[session], help="live view: 5-hour gauge, burn rate, today against its limit (q to quit)")
    p.add_argument("--interval", metavar="S", default="5", help="seconds between redraws (default 5, at least 1)")
    p.add_argument("--once", action="store_true", help="print one frame and exit")

    p = add_parser("estimate", parents=[common], help="a task's cost before it starts: %% of the 5-hour window, $")
    p.add_argument("task", metavar="TYPE|DESCRIPTION", help="a calibration task type, or what the task is (not stored)")
    p.add_argument("units", nargs="?", metavar="xN", help="units of the task type (x15)")
    p.add_argument("--tier", metavar="TIER", help="trivial, simple, moderate, complex or massive (default: calibration)")
    p.add_argument("--files", metavar="N", help="files it reads and edits")
    p.add_argument("--reads", metavar="N", help="files it only reads")
    p.add_argument("--no-fetch", action="store_true", help="do not call the usage API")

    p = add_parser("backlog", parents=[common], help="open backlog tasks with estimated cost")
    p.add_argument("--short", action="store_true", help="task lines only")

    for name, text in (("install", "link the skills into Claude Code"), ("uninstall", "remove what install added")):
        p = add_parser(name, parents=[common], help=text)
        p.add_argument("--claude-dir", metavar="DIR", help="Claude Code folder (default: $CLAUDE_CONFIG_DIR or ~/.claude)")
        p.add_argument("--dry-run", action="store_true", help="show the changes, make none")
        if name == "install":
            p.add_argument("--hooks", action="store_true", help="also add the budget hooks to settings.json")
            p.add_argument("--statusline", action="store_true", help="also set the status line (chaining an existing one)")
            p.add_argument("--mcp", action="store_true", help="also register the MCP server (user scope, .claude.json)")

    add_parser("mcp", help="stdio MCP server for Claude Code (JSON-RPC on stdin and stdout)")

    p = add_parser("init", parents=[common], help="create a fresh budget repo in DIR")
    p.add_argument("dir", metavar="DIR")

    p = add_parser("serve", help="local dashboard: a page and a JSON API on 127.0.0.1")
    p.add_argument("--port", default="8765", help="TCP port (0: any free one; default 8765)")
    p.add_argument("--open", action="store_true", help="open the page in the default browser")

    p = add_parser("set", parents=[common], help="manual balances and settings: copilot, gemini, api, alerts, limits, retention")
    what = p.add_subparsers(dest="what", required=True, parser_class=Parser)
    c = what.add_parser("copilot", parents=[common])
    c.add_argument("--used")
    c.add_argument("--limit")
    c.add_argument("--unit", help="credits or premium_requests")
    c.add_argument("--plan", help="free, pro, pro+, max, business, enterprise")
    c.add_argument("--resets-at", metavar="DATE")
    g = what.add_parser("gemini", parents=[common])
    g.add_argument("--status")
    g.add_argument("--used")
    g.add_argument("--limit")
    g.add_argument("--unit")
    k = what.add_parser("api", parents=[common], help="Anthropic API credits: the balance the Console shows")
    k.add_argument("--balance", metavar="USD", required=True)
    k.add_argument("--topup", metavar="USD", help="credits bought since the last entry (included in --balance)")
    a = what.add_parser("alerts", parents=[common])
    a.add_argument("--warn-at")
    a.add_argument("--critical-at")
    a.add_argument("--block-at", help="block prompts at this 5h %%, or 'off'")
    lim = what.add_parser("limits", parents=[common], help="spend limits per day, week (from Monday), month")
    for period in ("daily", "weekly", "monthly"):
        lim.add_argument(f"--{period}", metavar="AMOUNT", help="API-equivalent $ (or tokens with --unit tokens), or 'off'")
    lim.add_argument("--unit", help="usd (default) or tokens")
    lim.add_argument("--warn-at", metavar="PCT", help="warning from this %% of a limit (default 80)")
    lim.add_argument("--critical-at", metavar="PCT", help="critical from this %% of a limit (default 95)")
    r = what.add_parser("retention", parents=[common], help="how many days of per-response rows the index keeps")
    r.add_argument("--days", required=True, metavar="N", help="whole days, or 'off' to keep everything")
    return parser


def _handler(command: str):
    from importlib import import_module

    if command == "uninstall":
        return import_module(".commands.install", __package__).run_uninstall
    module = {"set": "set_balance"}.get(command, command)
    return import_module(f".commands.{module}", __package__).run


HOOK_EVENTS = ("session-start", "user-prompt-submit", "pre-tool-use", "stop", "session-end")
# Claude Code runs these on every message: a parser of their own skips building
# all the others (most of the start-up time of a status line run).
FAST = {"statusline": lambda p: p.add_argument("--chain", action="store_true"),
        "hook": lambda p: p.add_argument("event", choices=HOOK_EVENTS)}


class Args:
    """Parsed arguments (what argparse.Namespace holds)."""

    def __init__(self, **values):
        self.__dict__.update(values)


def _fast_args(argv: list[str]) -> Args | None:
    """The exact argv that install writes for the status line and the hooks, parsed
    without argparse (its import is a good part of a status line run); None otherwise."""
    if argv[:1] == ["statusline"] and argv[1:] in ([], ["--chain"]):
        return Args(command="statusline", chain=len(argv) == 2)
    if len(argv) == 2 and argv[0] == "hook" and argv[1] in HOOK_EVENTS:
        return Args(command="hook", event=argv[1])
    return None


def parse(argv: list[str]):
    fast = _fast_args(argv)
    if fast is not None:
        return fast
    if argv and argv[0] in FAST:  # anything else: argparse's own answer (help, errors)
        import argparse

        parser = _parser_class()(prog=f"budget {argv[0]}")
        FAST[argv[0]](parser)
        return argparse.Namespace(command=argv[0], **vars(parser.parse_args(argv[1:])))
    if argv and not argv[0].startswith("-"):
        parser = build_parser(only=argv[0])
        if argv[0] in parser.commands:  # a known command: its parser alone will do
            return parser.parse_args(argv)
    return build_parser().parse_args(argv)


def main(argv=None) -> int:
    _closed_streams_to_devnull()
    args = parse(sys.argv[1:] if argv is None else list(argv))
    try:
        return _run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `budget report | head -1`: the reader has all it wanted
        _silence_stdout()
        return 1
    except Exception as exc:  # noqa: BLE001 - the last net; each known fault has its own fix and message
        if args.command in FAST:  # Claude Code runs these on every message: never break the session
            return 0
        # The type only: an exception's text can quote a header value (the token).
        sys.stderr.write(f"budget {args.command}: internal error ({type(exc).__name__}); nothing more is shown, "
                         "as its details could hold secrets\n")
        return 1


def _closed_streams_to_devnull() -> None:
    """Run with stdout or stderr closed (`>&-`), Python sets it to None: every print was an
    AttributeError, so `status --exit-code >&-` exited 1, not its status. Output goes nowhere instead."""
    import os

    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w"))


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush cannot raise again."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _run(args) -> int:
    as_json = getattr(args, "json", False)
    try:
        result = _handler(args.command)(args, now_utc())
    except BudgetError as exc:
        sys.stderr.write(f"budget {args.command}: {exc}\n")
        if as_json:
            print(json.dumps({"ok": False, "error": str(exc), "exit_code": exc.exit_code}))
        return exc.exit_code
    # --markdown is read by Claude (stderr merges into the skill's text): the brief names problems itself.
    warnings = result.warnings + ([] if getattr(args, "markdown", False) else notices.drain())
    for warning in warnings:
        sys.stderr.write(f"budget {args.command}: warning: {warning}\n")
    if as_json:
        # `status --exit-code` reports a limit's status in its code: the command itself succeeded.
        payload = {"ok": result.code == 0 or result.code in STATUS_EXIT_CODES, **result.data}
        if warnings:
            payload["warnings"] = warnings
        print(json.dumps(payload, indent=2, default=str, allow_nan=False))  # a bare NaN is not JSON
    elif result.text:
        print(result.text)
    sys.stdout.flush()  # a closed pipe shows here, inside the guard
    return result.code
