"""budget install / uninstall: link the skills into Claude Code's skills folder,
allow the skills' own commands in its settings.json, and with --hooks /
--statusline merge our entries there too; --mcp registers `budget mcp` as a
user-scope MCP server in Claude Code's .claude.json.

Idempotent; never replaces a skill of the same name that is not ours. The
settings file is backed up before any change, a malformed one is reported and
left untouched, and uninstall removes exactly the entries that run this
checkout's budget.py (restoring a status line we chained)."""

from __future__ import annotations

import copy
import difflib
import json
import os
import re
import shutil
from pathlib import Path

from .. import paths
from ..atomic import dump_json, locked, write_atomic
from ..errors import BudgetError
from ..state import previous_statusline
from . import Result

SKILLS = ("budget-check", "budget-log")
# event → (hook argument, matcher, timeout s). SessionStart may call the usage API (10 s timeout).
HOOKS = {"SessionStart": ("session-start", None, 20), "UserPromptSubmit": ("user-prompt-submit", None, 5),
         "PreToolUse": ("pre-tool-use", "Task|Agent", 5), "Stop": ("stop", None, 5), "SessionEnd": ("session-end", None, 2)}


# Our hook and status line commands, whichever checkout wrote them: after the repo moves,
# a re-install replaces the old entries instead of adding a second, dead set (a missing
# script makes python3 exit 2, which Claude Code takes as "block the prompt").
_OURS = re.compile(r"\bpython3(?: -S)? .*/scripts/budget\.py'? (?:hook [a-z-]+|statusline)(?: --chain)?$")


def _is_ours(command) -> bool:
    return isinstance(command, str) and _OURS.search(command.strip()) is not None


def skill_rules(claude_dir: Path) -> list[str]:
    """Each skill's allowed-tools, with ${CLAUDE_SKILL_DIR} as Claude Code expands it (the link
    path). A skill's allowed-tools hold only for the turn that invokes it; kept in settings.json
    they also approve its command in a later turn (after /budget-log has asked what was done)."""
    rules = []
    for name in SKILLS:
        text = (paths.code_root() / "skills" / name / "SKILL.md").read_text(encoding="utf-8")
        allowed = re.search(r"^allowed-tools:(.*)$", text.split("\n---", 1)[0], re.M)
        for rule in re.findall(r"Bash\(.*?\)(?=\s*,\s*Bash\(|\s*$)", allowed.group(1).strip() if allowed else ""):
            rules.append(rule.replace("${CLAUDE_SKILL_DIR}", str(claude_dir / "skills" / name)))
    return rules


def _is_our_rule(rule, claude_dir: Path) -> bool:
    return isinstance(rule, str) and any(f'"{claude_dir / "skills" / name}/' in rule for name in SKILLS)


def change_permissions(settings: dict, claude_dir: Path, install: bool) -> dict:
    """Our rules added to (or removed from) permissions.allow; the user's rules kept as they are."""
    out = copy.deepcopy(settings)
    perms = out.setdefault("permissions", {})
    kept = [r for r in perms.get("allow", []) if not _is_our_rule(r, claude_dir)]
    perms["allow"] = kept + (skill_rules(claude_dir) if install else [])
    if not perms["allow"]:
        del perms["allow"]
    if not perms:
        del out["permissions"]
    return out


def read_settings(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BudgetError(f"{path}: not valid JSON ({exc}); left untouched, fix it and run again") from None
    if not isinstance(data, dict) or not isinstance(data.get("hooks", {}), dict) \
            or not isinstance(data.get("permissions", {}), dict) or not isinstance(data.get("permissions", {}).get("allow", []), list):
        raise BudgetError(f"{path}: expected a JSON object with an object 'hooks' and a list 'permissions.allow'; left untouched")
    return data


def merge_hooks(settings: dict) -> dict:
    """Settings with one handler of ours per event; the user's own hooks kept as they are."""
    out = copy.deepcopy(settings)
    hooks = out.setdefault("hooks", {})
    for event, (arg, matcher, timeout) in HOOKS.items():
        groups = [g for g in hooks.get(event, []) if isinstance(g, dict)]
        others = [g for g in hooks.get(event, []) if not isinstance(g, dict)]
        ours = {"type": "command", "command": paths.cli_command("hook", arg, fast=True), "timeout": timeout}
        placed = False
        for group in groups:
            handlers = group.get("hooks", [])
            for i, h in enumerate(handlers):
                if isinstance(h, dict) and _is_ours(h.get("command")):
                    if not placed:
                        handlers[i], placed = ours, True
                    else:
                        handlers[i] = None
            group["hooks"] = [h for h in handlers if h is not None]
        if not placed:
            groups.append({**({"matcher": matcher} if matcher else {}), "hooks": [ours]})
        hooks[event] = [g for g in groups if g.get("hooks")] + others
    return out


def remove_hooks(settings: dict) -> dict:
    out = copy.deepcopy(settings)
    hooks = out.get("hooks")
    if not isinstance(hooks, dict):
        return out
    for event in list(hooks):
        groups = hooks[event] if isinstance(hooks[event], list) else []
        kept = []
        for group in groups:
            if isinstance(group, dict) and isinstance(group.get("hooks"), list):
                mine = [h for h in group["hooks"] if isinstance(h, dict) and _is_ours(h.get("command"))]
                if mine:
                    group = {**group, "hooks": [h for h in group["hooks"] if h not in mine]}
                    if not group["hooks"]:
                        continue
            kept.append(group)
        if kept:
            hooks[event] = kept
        elif isinstance(hooks[event], list):
            del hooks[event]
    if not hooks:
        del out["hooks"]
    return out


def merge_statusline(settings: dict) -> tuple[dict, dict | None]:
    """(new settings, the user's status line to chain or None)."""
    out = copy.deepcopy(settings)
    current = out.get("statusLine")
    command = current.get("command") if isinstance(current, dict) else None
    previous = current if command and not _is_ours(command) else None
    chain = previous is not None or (_is_ours(command) and "--chain" in command)  # keep chaining what we chained before
    out["statusLine"] = {"type": "command", "padding": 0, "command": paths.cli_command("statusline", *(["--chain"] if chain else []), fast=True)}
    return out, previous


def _ours(link: Path, target: Path) -> bool:
    return link.is_symlink() and Path(os.path.realpath(link)) == target.resolve()


def _old_copy(link: Path, name: str) -> bool:
    """A link of ours from a checkout that moved or went away: `<repo>/skills/<name>`."""
    if not link.is_symlink():
        return False
    target = Path(os.readlink(link))
    return target.name == name and target.parent.name == "skills" and \
        (not target.exists() or (target.parent.parent / "scripts" / "budget.py").is_file())


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
        moved = _old_copy(link, name)
        if (link.exists() or link.is_symlink()) and not moved:
            raise BudgetError(f"{link} exists and is not ai-budget's skill; move it away, then run install again")
        if not dry_run:
            skills_dir.mkdir(parents=True, exist_ok=True)
            if moved:
                link.unlink()
            link.symlink_to(target, target_is_directory=True)
        done.append(f"skill /{name}: linked {link} → {target}" + (f" (was {os.readlink(link) if dry_run else 'an old checkout'})" if moved else ""))
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


def write_settings(path: Path, old: dict, new: dict, dry_run: bool, now) -> list[str]:
    """Show or make the change; a backup of the old file comes first."""
    if new == old:
        return [f"{path}: already up to date"]
    before = json.dumps(old, indent=2).splitlines() if path.exists() else []
    diff = list(difflib.unified_diff(before, json.dumps(new, indent=2).splitlines(), str(path), str(path), lineterm="", n=1))
    if dry_run:
        return [f"{path}: would change"] + diff
    lines = []
    if path.exists():
        backup = path.with_name(f"{path.name}.ai-budget-backup-{now.strftime('%Y%m%d%H%M%S')}")
        shutil.copy2(path, backup)
        lines.append(f"{path}: backed up to {backup.name}")
    write_atomic(path, dump_json(new))
    return lines + [f"{path}: updated"]


def change_settings(claude_dir: Path, args, now, install: bool) -> list[str]:
    path = claude_dir / "settings.json"
    with locked(path):
        old = read_settings(path)
        new, lines, previous = change_permissions(old, claude_dir, install), [], None
        if install:
            lines.append("permissions: the skills' own commands (" + ", ".join(
                r.split("budget.py\" ", 1)[-1].rstrip(")").replace(" *", "") for r in skill_rules(claude_dir)) + ")")
            if args.hooks:
                new = merge_hooks(new)
                lines.append("hooks: " + ", ".join(HOOKS))
            if args.statusline:
                new, previous = merge_statusline(new)
                lines.append("status line: ours" + (f", chained after yours ({previous['command']})" if previous else ""))
        else:
            new = remove_hooks(new)
            if isinstance(new.get("statusLine"), dict) and _is_ours(new["statusLine"].get("command")):
                restored = previous_statusline.load(claude_dir)
                if restored:
                    new["statusLine"] = restored
                    lines.append(f"status line: restored yours ({restored.get('command')})")
                else:
                    del new["statusLine"]
        if previous and not args.dry_run:
            write_atomic(previous_statusline.path(claude_dir), dump_json(previous))
        lines += write_settings(path, old, new, args.dry_run, now)
        if not install and not args.dry_run and new != old:
            previous_statusline.path(claude_dir).unlink(missing_ok=True)
    return lines


MCP_NAME = "ai-budget"


def claude_json(args) -> Path:
    """Where Claude Code keeps user-scope MCP servers: `.claude.json` in the config
    folder when one is named (CLAUDE_CONFIG_DIR or --claude-dir), else in the home folder."""
    if getattr(args, "claude_dir", None) or os.environ.get("CLAUDE_CONFIG_DIR"):
        return _claude_dir(args) / ".claude.json"
    return Path.home() / ".claude.json"


def _is_our_server(entry) -> bool:
    """A server entry that runs some checkout's `budget.py mcp` (a moved repo's is replaced, not doubled)."""
    args = entry.get("args") if isinstance(entry, dict) else None
    return isinstance(args, list) and len(args) >= 2 and args[-1] == "mcp" \
        and str(args[-2]).replace("\\", "/").endswith("/scripts/budget.py")


def change_mcp(args, now, install: bool) -> list[str]:
    path = claude_json(args)
    with locked(path):
        old = read_settings(path)
        if not isinstance(old.get("mcpServers", {}), dict):
            raise BudgetError(f"{path}: expected an object 'mcpServers'; left untouched")
        new = copy.deepcopy(old)
        servers = new.setdefault("mcpServers", {})
        current = servers.get(MCP_NAME)
        if install:
            if current is not None and not _is_our_server(current):
                raise BudgetError(f"{path}: an MCP server named '{MCP_NAME}' exists and is not ai-budget's; "
                                  "remove it (claude mcp remove -s user ai-budget), then run install again")
            servers[MCP_NAME] = {"type": "stdio", "command": "python3",
                                 "args": ["-S", str(paths.code_root() / "scripts" / "budget.py"), "mcp"], "env": {}}
        elif _is_our_server(current):
            del servers[MCP_NAME]
        if not servers:
            del new["mcpServers"]
        return ([f"MCP server: {MCP_NAME} (user scope)"] if install else []) + write_settings(path, old, new, args.dry_run, now)


def _usable(claude_dir: Path) -> Path:
    """Claude Code puts this path into the skills' commands inside double quotes: a quote, `$`,
    a backtick or a newline in it would break them (or never match their rules)."""
    bad = sorted({c for c in str(claude_dir) if c in '"$`\\\n'})
    if bad:
        raise BudgetError(f"{claude_dir}: the skills cannot run from a folder whose path holds {' '.join(map(repr, bad))}; "
                          "use another CLAUDE_CONFIG_DIR")
    return claude_dir


def run(args, now) -> Result:
    claude_dir = _usable(_claude_dir(args))
    lines = install_skills(claude_dir, args.dry_run)
    lines += change_settings(claude_dir, args, now, install=True)
    if args.mcp:
        lines += change_mcp(args, now, install=True)
    prefix = "would do: " if args.dry_run else ""
    return Result(data={"claude_dir": str(claude_dir), "actions": lines, "dry_run": args.dry_run},
                  text="\n".join(prefix + l if not l.startswith(("+", "-", "@", " ")) else l for l in lines))


def run_uninstall(args, now) -> Result:
    claude_dir = _claude_dir(args)
    lines = uninstall_skills(claude_dir, args.dry_run)
    settings = change_settings(claude_dir, args, now, install=False)
    lines += [l for l in settings + change_mcp(args, now, install=False) if not l.endswith("already up to date")]
    lines = lines or ["nothing of ai-budget's is installed"]
    return Result(data={"claude_dir": str(claude_dir), "actions": lines, "dry_run": args.dry_run}, text="\n".join(lines))
