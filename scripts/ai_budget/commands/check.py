"""budget check: the session-start brief (core.brief), recorded as the session's
start; computed entirely here so the skill only has to present it."""

from __future__ import annotations

from .. import core, paths
from ..errors import EXIT_UNAVAILABLE, BudgetError
from ..outputs import brief
from . import Result, record_check


def markdown_problem(problem: str) -> Result:
    """--markdown always exits 0 (Claude Code aborts a skill whose ! command fails): the problem is the brief."""
    return Result(data={}, text=f"**ai-budget could not make the brief:** {problem}. "
                                f"Fix that, then run `{paths.cli_command('check')}` to confirm.")


def run(args, now) -> Result:
    if args.json and args.markdown:
        raise BudgetError("--json and --markdown: choose one")
    if not args.markdown:
        return _brief(args, now)
    try:
        return _brief(args, now)
    except BudgetError as exc:
        return markdown_problem(str(exc))
    except Exception as exc:  # noqa: BLE001 - the type only: an exception's text could hold a secret
        return markdown_problem(f"internal error ({type(exc).__name__})")


def _brief(args, now) -> Result:
    data = record_check(core.brief(now, allow_fetch=not args.no_fetch, session_id=args.session), now, args.session)
    problem = data["claude"].get("problem")
    text = brief.markdown(data, now) if args.markdown else brief.text(data, now)
    # --markdown always exits 0: Claude Code aborts a skill whose ! command fails, and the brief names the problem.
    code = EXIT_UNAVAILABLE if (problem or data["claude"]["source"] == "none") and not args.markdown else 0
    # The brief already shows the problem; --markdown output is read by Claude, keep stderr quiet.
    return Result(data=data, text=text, code=code, warnings=[problem] if problem and not args.markdown else [])
