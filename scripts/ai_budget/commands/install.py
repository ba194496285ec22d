"""budget install / uninstall: link the skills into Claude Code's skills folder.

Idempotent; never replaces a skill of the same name that is not ours; uninstall
removes only links that point into this checkout."""

from __future__ import annotations

import os
from pathlib import Path

from .. import paths
from ..errors import BudgetError
from . import Result

SKILLS = ("budget-check", "budget-log")


def _ours(link: Path, target: Path) -> bool:
    return link.is_symlink() and Path(os.path.realpath(link)) == target.resolve()


def _claude_dir(args) -> Path:
    return Path(args.claude_dir).expanduser() if getattr(args, "claude_dir", None) else paths.claude_dir()


def install_skills(claude_dir: Path, dry_run: bool) -> list[str]:
    done = []
    skills_dir = claude_dir / "skills"
    for name in SKILLS:
        target = paths.code_root() / "skills" / name
        link = skills_dir / name
        if _ours(link, target):
            done.append(f"skill /{name}: already installed")
            continue
        if link.exists() or link.is_symlink():
            raise BudgetError(f"{link} exists and is not ai-budget's skill; move it away, then run install again")
        if not dry_run:
            skills_dir.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target, target_is_directory=True)
        done.append(f"skill /{name}: linked {link} → {target}")
    return done


def uninstall_skills(claude_dir: Path, dry_run: bool) -> list[str]:
    done = []
    for name in SKILLS:
        link = claude_dir / "skills" / name
        if _ours(link, paths.code_root() / "skills" / name):
            if not dry_run:
                link.unlink()
            done.append(f"skill /{name}: removed {link}")
        elif link.exists() or link.is_symlink():
            done.append(f"skill /{name}: {link} is not ours, left alone")
    return done


def run(args, now) -> Result:
    claude_dir = _claude_dir(args)
    lines = install_skills(claude_dir, args.dry_run)
    prefix = "would do: " if args.dry_run else ""
    return Result(data={"claude_dir": str(claude_dir), "actions": lines, "dry_run": args.dry_run},
                  text="\n".join(prefix + l for l in lines))


def run_uninstall(args, now) -> Result:
    claude_dir = _claude_dir(args)
    lines = uninstall_skills(claude_dir, args.dry_run) or ["nothing of ai-budget's is installed"]
    return Result(data={"claude_dir": str(claude_dir), "actions": lines, "dry_run": args.dry_run}, text="\n".join(lines))
