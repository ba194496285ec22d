"""The skills only call commands that exist, with arguments that parse; install
and init behave as documented."""

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO, run, run_json

SKILLS = {name: (REPO / "skills" / name / "SKILL.md").read_text() for name in ("budget-check", "budget-log")}
# Concrete values for the placeholders the skill text asks Claude to fill in.
FILL = {"TYPE:UNITS:DESCRIPTION": "feature:1:dashboard", "TEXT FROM A BACKLOG LINE": "dashboard",
        "--copilot-used N": "--copilot-used 12", "--used N": "--used 12", '"TEXT"': '"a note"'}


def frontmatter(text):
    head = text.split("---")[1]
    return dict(line.split(":", 1) for line in head.strip().splitlines())


def commands(text):
    """`!` injections and every inline-code command that runs budget.py."""
    found = re.findall(r"!`([^`]+)`", text)
    found += [c for c in re.findall(r"(?<!!)`([^`]*scripts/budget\.py[^`]*)`", text)]
    return found


def concrete(cmd, skill_dir):
    for placeholder, value in FILL.items():
        cmd = cmd.replace(placeholder, value)
    return cmd.replace("${CLAUDE_SKILL_DIR}", str(skill_dir)).replace("${CLAUDE_SESSION_ID}", "skill-test-session")


@pytest.mark.parametrize("name", sorted(SKILLS))
def test_skill_frontmatter(name):
    meta = frontmatter(SKILLS[name])
    assert meta["name"].strip() == name and meta["description"].strip()
    assert len(SKILLS[name]) < 2000  # loaded into the user's context: keep it short


@pytest.mark.parametrize("name", sorted(SKILLS))
def test_skill_commands_run(name, env, tmp_path):
    """Every command a skill runs or prescribes works from the link path. Whether Claude Code
    approves them is for the real client to say: tests/e2e/test_workflow_e2e.py."""
    (env.budget / "tasks").mkdir()
    (env.budget / "tasks" / "backlog.md").write_text("## Now\n[M] Progress dashboard (feature x1)\n")
    cmds = commands(SKILLS[name])
    assert cmds
    # Installed the way users get it: through a symlink in the Claude skills folder.
    link = tmp_path / "claude-skills" / name
    link.parent.mkdir()
    link.symlink_to(REPO / "skills" / name)
    for raw in cmds:
        cmd = concrete(raw, link)
        proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=os.environ.copy(), timeout=60)
        assert proc.returncode == 0, (cmd, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_install_is_idempotent_and_careful(env, capsys):
    code, data, _ = run_json(capsys, "install")
    assert code == 0 and (env.claude / "skills" / "budget-check").is_symlink()
    assert "already installed" in run(capsys, "install")[1]
    (env.claude / "skills" / "budget-check").unlink()
    (env.claude / "skills" / "budget-check").mkdir()
    code, out, err = run(capsys, "install")
    assert code == 2 and "is not ai-budget's" in err
    code, out, _ = run(capsys, "uninstall")
    assert "not ours, left alone" in out and (env.claude / "skills" / "budget-check").is_dir()
    assert not (env.claude / "skills" / "budget-log").exists()


def test_install_allows_exactly_the_skills_own_commands(env, capsys):
    settings = env.claude / "settings.json"
    settings.write_text(json.dumps({"permissions": {"allow": ["Bash(git status)"], "deny": ["Read(.env)"]}}))
    assert run(capsys, "install")[0] == 0
    allow = json.loads(settings.read_text())["permissions"]["allow"]
    expected = ["Bash(git status)"]
    for name, text in sorted(SKILLS.items(), reverse=True):  # budget-check first, as installed
        rules = re.findall(r"Bash\(.*?\)(?=, Bash\(|$)", frontmatter(text)["allowed-tools"].strip())
        expected += [r.replace("${CLAUDE_SKILL_DIR}", str(env.claude / "skills" / name)) for r in rules]
    assert sorted(allow) == sorted(expected) and len(allow) == 6
    assert all(r.startswith(f'Bash(python3 "{env.claude}/skills/budget-') for r in allow[1:])
    assert run(capsys, "install")[0] == 0 and json.loads(settings.read_text())["permissions"]["allow"] == allow
    assert run(capsys, "uninstall")[0] == 0
    assert json.loads(settings.read_text()) == {"permissions": {"allow": ["Bash(git status)"], "deny": ["Read(.env)"]}}


def test_init_creates_a_committed_repo(env, capsys, tmp_path):
    target = tmp_path / "data"
    code, data, err = run_json(capsys, "init", str(target))
    assert code == 0 and data["commit"]["committed"] is True
    assert (target / "budget.json").exists() and (target / "tasks" / "backlog.md").exists()
    assert run(capsys, "init", str(target))[0] == 2


def test_fresh_clone_check_runs_without_login(tmp_path):
    """What the README promises: `check` works with no login and no transcripts."""
    env = {**os.environ, "HOME": str(tmp_path), "AI_BUDGET_HOME": str(REPO), "AI_BUDGET_CACHE_DIR": str(tmp_path / "c"),
           "AI_BUDGET_API_BASE": "http://127.0.0.1:9", "CLAUDE_CONFIG_DIR": str(tmp_path / "nothing")}
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "budget.py"), "check", "--no-fetch"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "Backlog" in proc.stdout and "Recommendation" in proc.stdout and "no Claude" in proc.stdout


def test_ci_runs_exactly_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    command = next(l for l in ci.splitlines() if l.startswith("python3 -m venv") and l.endswith("pytest -q tests"))
    assert f"```bash\n{command}\n```" in (REPO / "README.md").read_text()


@pytest.mark.parametrize("char", ['"', "$", "`"])
def test_install_refuses_a_claude_dir_the_skills_cannot_run_from(env, capsys, tmp_path, char):
    target = tmp_path / f"cla{char}ude"
    code, out, err = run(capsys, "install", "--claude-dir", str(target))
    assert code == 2 and "cannot run from a folder" in err and repr(char) in err and not target.exists()


def test_plugin_hooks_mirror_install_hooks_and_the_server_is_inline():
    """The plugin's hooks are the ones `install --hooks` writes, run from ${CLAUDE_PLUGIN_ROOT}; its
    server is declared inline (a repo-root .mcp.json would be a project server for anyone inside the repo)."""
    from ai_budget.commands.install import HOOKS

    plugin = json.loads((REPO / ".claude-plugin" / "plugin.json").read_text())
    hooks = json.loads((REPO / "hooks" / "hooks.json").read_text())["hooks"]
    root = '"${CLAUDE_PLUGIN_ROOT}/scripts/budget.py"'
    assert {event: [(g.get("matcher"), [(h["command"], h["timeout"]) for h in g["hooks"]]) for g in groups]
            for event, groups in hooks.items()} == \
        {event: [(matcher, [(f"python3 -S {root} hook {arg}", timeout)])] for event, (arg, matcher, timeout) in HOOKS.items()}
    assert plugin["name"] == "ai-budget" and plugin["mcpServers"] == {
        "ai-budget": {"command": "python3", "args": ["-S", "${CLAUDE_PLUGIN_ROOT}/scripts/budget.py", "mcp"]}}
    assert not (REPO / ".mcp.json").exists()
    tools_skill = frontmatter((REPO / "skills" / "budget-tools" / "SKILL.md").read_text())
    assert tools_skill["name"].strip() == "budget-tools" and "allowed-tools" not in tools_skill
    market = json.loads((REPO / ".claude-plugin" / "marketplace.json").read_text())
    assert [(p["name"], p["source"]) for p in market["plugins"]] == [("ai-budget", "./")]


def test_install_mcp_registers_exactly_our_server(env, capsys):
    path = env.claude / ".claude.json"  # CLAUDE_CONFIG_DIR is set: Claude Code keeps user servers here
    theirs = {"numStartups": 3, "mcpServers": {"other": {"type": "stdio", "command": "node", "args": ["x.js"]}}}
    path.write_text(json.dumps(theirs))
    assert run(capsys, "install", "--mcp")[0] == 0
    saved = json.loads(path.read_text())
    assert saved["numStartups"] == 3 and saved["mcpServers"]["other"] == theirs["mcpServers"]["other"]
    assert saved["mcpServers"]["ai-budget"] == {"type": "stdio", "command": "python3", "env": {},
                                                "args": ["-S", str(REPO / "scripts" / "budget.py"), "mcp"]}
    backups = sorted(env.claude.glob(".claude.json.ai-budget-backup-*"))
    assert len(backups) == 1 and json.loads(backups[0].read_text()) == theirs
    assert "already up to date" in run(capsys, "install", "--mcp")[1] and json.loads(path.read_text()) == saved
    assert run(capsys, "uninstall")[0] == 0 and json.loads(path.read_text()) == theirs

    path.write_text(json.dumps({"mcpServers": {"ai-budget": {"command": "npx", "args": ["someone-elses"]}}}))
    code, _, err = run(capsys, "install", "--mcp")
    assert code == 2 and "is not ai-budget's" in err
    assert run(capsys, "uninstall")[0] == 0 and "someone-elses" in path.read_text()
