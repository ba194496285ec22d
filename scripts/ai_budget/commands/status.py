"""budget status: the spend limits' status per period and the 5-hour window; with
--exit-code the worst limit status is the exit code (0 ok or none set, 10 warning,
11 critical, 12 exceeded), for scripts. Writes nothing but caches."""

from __future__ import annotations

from .. import core
from ..analysis import limits
from ..outputs.brief import limits_line
from ..outputs.text import source_note, window_line
from . import Result


def run(args, now) -> Result:
    data = core.status(now, allow_fetch=not args.no_fetch)
    lim = data["limits"]
    lines = [window_line("five_hour", data["five_hour"], now)]
    p = data["five_hour"].get("pace")
    if p:
        lines[0] += f", {p['stage']} ({p['delta_pct']:+.0f} pts)"
    note = source_note({"source": data["source"], "observed_at": data["observed_at"], "stale": data["stale"],
                        "problem": data["problem"]}, now)
    if note:
        lines.append(f"            {note}")
    summary = limits_line(lim)
    lines.append(f"Limits:     {summary} → {lim['status']}" if summary else
                 "Limits:     none set (budget set limits --daily 10 --weekly 50 --monthly 200)")
    code = limits.EXIT_CODES[lim["status"]] if args.exit_code else 0
    return Result(data=data, text="\n".join(lines), code=code)
