"""Atomic, locked writes: nothing is ever half-written, no concurrent update is lost."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path

from .errors import BudgetError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; writes stay atomic
    fcntl = None


def _lock_file(path: Path) -> Path:
    """Locks live in the cache folder, never beside the user's files, named by the
    resolved target so a symlink and its target share one lock."""
    from . import paths

    try:
        target = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop (RuntimeError before 3.13): the read after names it
        target = path.absolute()
    name = hashlib.sha256(str(target).encode("utf-8", "surrogateescape")).hexdigest()[:32] + ".lock"
    for folder in (paths.cache_dir() / "locks", Path(tempfile.gettempdir()) / f"ai-budget-locks-{getattr(os, 'getuid', lambda: 'user')()}"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return folder / name
        except OSError:  # an unwritable cache: a per-user folder in the temp dir
            continue
    raise BudgetError(f"{path}: no writable folder for its lock ({paths.cache_dir() / 'locks'})")


@contextlib.contextmanager
def locked(path: Path):
    """Hold an exclusive lock on `path` for a read-modify-write cycle."""
    with open(_lock_file(path), "a+b") as handle:
        if fcntl:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _remove_orphans(folder: Path, name: str) -> None:
    """Temp files of `name` whose writer died (kill -9) before its rename.
    The writer's pid is in the name; a live writer's file is never touched."""
    if not fcntl:  # Windows: os.kill(pid, 0) would signal the process
        return
    prefix = f".{name}."
    for entry in os.scandir(folder):
        pid = entry.name[len(prefix):].split(".", 1)[0]
        if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp") and pid.isdigit()):
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
        except OSError:  # alive, another user's
            pass


def write_atomic(path: Path, data: str | bytes, mode: int | None = None) -> None:
    """Write to a temp file beside the target, fsync it, then rename over it.
    A symlink (dotfiles) is written through: its target is replaced, the link stays."""
    path = path.resolve() if path.is_symlink() else path
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with contextlib.suppress(OSError):
        _remove_orphans(path.parent, path.name)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(raw)
            out.flush()
            os.fsync(out.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        elif path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def dump_json(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def read_text(path: Path, label: str | None = None, encoding: str = "utf-8", errors: str = "strict") -> str:
    """A user file's text. A FIFO, device or folder in its place is refused unopened for
    reading (a FIFO's read blocks for ever: a hung hook or status line), and an unreadable
    or non-UTF-8 file is one BudgetError. FileNotFoundError passes: callers know what absent means."""
    name = label or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:  # a symlink loop, no permission
        raise BudgetError(f"{name}: cannot be read ({exc.strerror or type(exc).__name__}); left untouched") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BudgetError(f"{name}: not a regular file; left untouched")
    with open(fd, encoding=encoding, errors=errors) as handle:
        try:
            return handle.read()
        except UnicodeDecodeError:
            raise BudgetError(f"{name}: not UTF-8 text; left untouched") from None
        except OSError as exc:
            raise BudgetError(f"{name}: cannot be read ({exc.strerror or type(exc).__name__}); left untouched") from None


def read_json_file(path: Path, label: str | None = None):
    """Load JSON or raise BudgetError naming the file and position. Never rewrites."""
    name = label or str(path)
    text = read_text(path, name)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BudgetError(
            f"{name}: invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg}); left untouched"
        ) from None
