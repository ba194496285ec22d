"""budget backlog: open tasks with their estimated cost."""

from __future__ import annotations

from .. import paths
from ..analysis.planner import estimate
from ..outputs.brief import task_line
from ..sources import backlog
from ..state import budget_file
from . import Result


def run(args, now) -> Result:
    calibration = budget_file.load(paths.budget_file())["calibration"]
    estimates = [estimate(t, calibration) for t in backlog.read(paths.budget_home() / "tasks" / "backlog.md")]
    if args.short:
        lines = [f"- [{e['tag']}] {e['text']}" for e in estimates]
    else:
        lines = [task_line(e) for e in estimates]
    return Result(data={"tasks": estimates}, text="\n".join(lines) or "(tasks/backlog.md has no tasks)")
