"""Run the real Claude Code against the scripted fake Anthropic API, offline.

Each run forks a child that enters a private network namespace (so nothing can
leave the machine), brings its loopback up, starts `fake_anthropic.FakeAnthropic`
there and runs `claude -p` as a throw-away user: temp HOME and CLAUDE_CONFIG_DIR,
a fake subscription login, and a copy of this repo as the user's budget repo
(installed with `budget install --hooks --statusline`, as the README says).
The child sends back what the fake server saw (the ground truth) and every
command's result; the test then inspects files and runs our CLI."""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import pickle
import shutil
import socket
import struct
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
VERSION = "2.1.328"
# A fake login, assembled so no committed file holds the real-token pattern.
TOKEN = "-".join(["sk", "ant", "oat01", "E2E_FAKE_TOKEN_never_real_000000000000"])
CLAUDE_PREFIXES = [REPO / ".e2e" / "node_modules" / ".bin" / "claude", Path("/work/cc/node_modules/.bin/claude")]
TRIMMED_ENV = ("ANTHROPIC_", "CLAUDE", "AI_BUDGET_", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy",
               "ALL_PROXY", "NO_PROXY", "no_proxy", "XDG_", "NO_COLOR", "TZ")


def claude_binary() -> Path | None:
    explicit = os.environ.get("AI_BUDGET_E2E_CLAUDE")
    for candidate in ([Path(explicit)] if explicit else []) + CLAUDE_PREFIXES:
        if candidate.exists():
            return candidate
    found = shutil.which("claude")
    return Path(found) if found else None


def _version(binary: Path) -> str:
    try:
        return subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000


def _enter_private_network() -> None:
    """unshare(2) a network namespace (with a user namespace when not root) and bring lo up."""
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNET if uid == 0 else CLONE_NEWNET | CLONE_NEWUSER
    if libc.unshare(flags) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) refused")
    if uid != 0:
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        ifr = fcntl.ioctl(sock, 0x8913, struct.pack("16sh", b"lo", 0))  # SIOCGIFFLAGS
        flags = struct.unpack("16sh", ifr[:18])[1] | 0x1  # IFF_UP
        fcntl.ioctl(sock, 0x8914, struct.pack("16sh", b"lo", flags))  # SIOCSIFFLAGS
    finally:
        sock.close()


def in_private_network(fn, timeout: float = 300):
    """fn() in a forked child inside a private network namespace; its return value (picklable)
    or its exception's text, re-raised here."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read_fd)
        try:
            _enter_private_network()
            payload = ("ok", fn())
        except BaseException:  # noqa: BLE001 - reported to the parent
            payload = ("error", traceback.format_exc())
        with os.fdopen(write_fd, "wb") as out:
            pickle.dump(payload, out)
        os._exit(0)
    os.close(write_fd)
    deadline = time.monotonic() + timeout
    chunks = []
    with os.fdopen(read_fd, "rb") as inp:
        os.set_blocking(inp.fileno(), False)
        while True:
            try:
                chunk = inp.read()
            except BlockingIOError:
                chunk = None
            if chunk:
                chunks.append(chunk)
            elif chunk == b"":
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                raise TimeoutError(f"the private-network run did not finish in {timeout:.0f} s")
            time.sleep(0.05)
    os.waitpid(pid, 0)
    status, value = pickle.loads(b"".join(chunks))
    if status == "error":
        raise RuntimeError("in the private network namespace:\n" + value)
    return value


def _namespace_available() -> str | None:
    """None when a private network namespace can be made here, else why not."""
    try:
        return in_private_network(lambda: None, timeout=30)
    except (OSError, RuntimeError, TimeoutError) as exc:
        return str(exc).strip().splitlines()[-1]


def requirements() -> Path:
    """The Claude Code binary, or skip the test with the reason."""
    binary = claude_binary()
    if binary is None:
        pytest.skip(f"Claude Code {VERSION} not found (.ci/run installs it into .e2e/ with npm; "
                    "or set AI_BUDGET_E2E_CLAUDE)")
    version = _version(binary)
    if not version.startswith(VERSION):
        pytest.skip(f"Claude Code {VERSION} needed, found {version or 'nothing runnable'} at {binary}")
    why = _namespace_available()
    if why:
        pytest.skip(f"no private network namespace for the offline run: {why}")
    return binary


class User:
    """A throw-away Claude Code user with ai-budget installed from a copy of this repo."""

    def __init__(self, root: Path, binary: Path):
        self.root, self.binary = root, binary
        self.home = root / "home"
        self.config = self.home / ".claude"
        self.budget = self.home / ".ai-budget"
        self.project = root / "project"
        for d in (self.config, self.project):
            d.mkdir(parents=True)
        shutil.copytree(REPO, self.budget, ignore=shutil.ignore_patterns(
            ".git", ".venv", ".e2e", "__pycache__", ".pytest_cache", "bench"))
        subprocess.run(["git", "init", "-q"], cwd=self.budget, check=True)
        subprocess.run(["git", "add", "-A"], cwd=self.budget, check=True)
        subprocess.run(["git", "-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid", "commit", "-qm", "clone"],
                       cwd=self.budget, check=True)
        (self.config / ".credentials.json").write_text(json.dumps({"claudeAiOauth": {
            "accessToken": TOKEN, "refreshToken": "-".join(["sk", "ant", "ort01", "E2E_FAKE_REFRESH"]),
            "expiresAt": int(time.time() * 1000) + 6 * 3600_000, "scopes": ["user:inference", "user:profile"],
            "subscriptionType": "max", "rateLimitTier": "default_claude_max_5x"}}))
        (self.config / ".claude.json").write_text(json.dumps({
            "hasCompletedOnboarding": True, "lastOnboardingVersion": VERSION, "bypassPermissionsModeAccepted": True,
            "projects": {str(self.project): {"hasTrustDialogAccepted": True, "hasCompletedProjectOnboarding": True}}}))

    def env(self, url: str | None = None) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(TRIMMED_ENV)}
        env.update(HOME=str(self.home), CLAUDE_CONFIG_DIR=str(self.config), DISABLE_AUTOUPDATER="1",
                   CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1", DISABLE_TELEMETRY="1", DISABLE_ERROR_REPORTING="1",
                   GIT_AUTHOR_NAME="e2e", GIT_AUTHOR_EMAIL="e2e@example.invalid",
                   GIT_COMMITTER_NAME="e2e", GIT_COMMITTER_EMAIL="e2e@example.invalid")
        if url:
            # Claude Code's model calls and ai-budget's usage call both go to the fake.
            env.update(ANTHROPIC_BASE_URL=url, AI_BUDGET_API_BASE=url)
        return env

    def budget_cli(self, *args: str, url: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(self.budget / "scripts" / "budget.py"), *args], cwd=self.project,
                              env=self.env(url), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def claude(self, prompt: str, url: str, *extra: str, timeout: float = 180) -> dict:
        """One `claude -p` run in the default permission mode; its JSON result plus stderr."""
        proc = subprocess.run([str(self.binary), "-p", prompt, "--output-format", "json", "--debug", *extra],
                              cwd=self.project, env=self.env(url), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        try:
            result = json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            result = {"unparsed_stdout": proc.stdout[-4000:]}
        result["_returncode"], result["_stderr"] = proc.returncode, proc.stderr[-4000:]
        return result

    def debug_log(self, session_id: str) -> str:
        path = self.config / "debug" / f"{session_id}.txt"
        return path.read_text(errors="replace") if path.exists() else ""

    def transcripts(self) -> list[Path]:
        return sorted((self.config / "projects").rglob("*.jsonl"))


def serve_and_run(script, scenarios=None, rate_limits=None, usage_payload=None):
    """In a private network: start the fake, call script(fake), return (its result, ground truth)."""
    sys.path.insert(0, str(HERE))
    from fake_anthropic import FakeAnthropic

    def child():
        fake = FakeAnthropic(scenarios=scenarios, rate_limits=rate_limits, usage_payload=usage_payload)
        try:
            out = script(fake)
        finally:
            fake.close()
        truth = {"responses": fake.responses, "requests": [{k: r[k] for k in ("path", "headers", "body", "method")}
                                                           for r in fake.requests]}
        return out, truth

    return in_private_network(child)
