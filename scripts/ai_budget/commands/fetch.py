"""budget fetch: Claude utilisation from the OAuth usage API into budget.json."""

from __future__ import annotations

from .. import paths
from ..errors import EXIT_UNAVAILABLE, SourceUnavailable
from ..outputs.brief import limit_lines
from ..outputs.text import source_note, window_line
from ..sources import usage_api, utilisation
from ..state import budget_file
from . import Result


def describe(util: dict, now) -> list[str]:
    lines = [window_line("five_hour", util.get("five_hour"), now), window_line("seven_day", util.get("seven_day"), now)]
    return lines + [f"  {line}" for line in limit_lines(util, now)]


def run(args, now) -> Result:
    path = paths.budget_file()
    budget = budget_file.load(path)
    warnings, code = [], 0
    try:
        util = utilisation.from_api(usage_api.fetch(now, force=args.force), now)
    except SourceUnavailable as exc:
        warnings.append(str(exc))
        code = EXIT_UNAVAILABLE
        util = utilisation.last_known(budget, now, str(exc))
    if code == 0:
        with budget_file.update(path) as fresh:
            utilisation.record(fresh["claude"], util)
    lines = describe(util, now)
    note = source_note(util, now)
    if note and (code or util["source"] != "api"):
        lines.append(note)
    return Result(data={"claude": util}, text="\n".join(lines), code=code, warnings=warnings)
