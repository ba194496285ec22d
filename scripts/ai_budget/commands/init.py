"""budget init DIR: a fresh budget repo for users who keep their data apart
from the code (point AI_BUDGET_HOME at it)."""

from __future__ import annotations

from pathlib import Path

from ..errors import BudgetError
from ..outputs import gitrepo
from ..state import budget_file
from ..atomic import write_atomic
from . import Result

BACKLOG_TEMPLATE = """# Backlog

<!-- One task a line: [L] [M] [H] or [X] (about 5, 15, 35, 70 % of the 5-hour window),
     the task, and optionally (TYPE xUNITS) naming a calibration type, e.g.
     [H] Flashcards for chapter 3 (flashcard x15) -->

## Now

"""


def run(args, now) -> Result:
    home = Path(args.dir).expanduser().resolve()
    if (home / "budget.json").exists():
        raise BudgetError(f"{home / 'budget.json'} already exists; init refuses to overwrite a budget")
    for sub in ("tasks", "sessions"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    budget_file.save_new(home / "budget.json", budget_file.default_budget())
    files = [home / "budget.json", home / "tasks" / "backlog.md", home / "tasks" / "completed.md",
             home / "sessions" / ".gitkeep", home / ".gitignore"]
    contents = [None, BACKLOG_TEMPLATE, "# Completed Tasks\n", "", "*.lock\n.*.tmp\n"]
    for path, text in zip(files, contents):
        if text is not None and not path.exists():
            write_atomic(path, text)
    git = gitrepo.commit(home, files, "init: ai-budget repo with budget.json and backlog")
    text = (f"Created a budget repo in {home}" + (f" (commit {git['sha']})" if git["committed"] else "") +
            f"\nUse it with: export AI_BUDGET_HOME={home}   (add that to your shell profile)")
    return Result(data={"home": str(home), "commit": git}, text=text,
                  warnings=[] if git["committed"] else git["notes"])
