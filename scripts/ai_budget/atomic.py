"""Atomic, locked writes: nothing is ever half-written, no concurrent update is lost.

Paths may be str or Path; only os is used (no pathlib, tempfile, hashlib or
contextlib at import: the status line and the hooks write through here)."""

from __future__ import annotations

import json
import os
import stat

from .errors import BudgetError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; writes stay atomic
    fcntl = None


def sha256_hex(data: bytes) -> str:
    try:
        from _sha256 import sha256  # the built-in one: hashlib loads OpenSSL (3 ms)
    except ImportError:
        from hashlib import sha256
    return sha256(data).hexdigest()


def _lock_file(path) -> str:
    """Locks live in the cache folder, never beside the user's files, named by the
    resolved target so a symlink and its target share one lock."""
    from . import paths

    name = sha256_hex(os.path.realpath(path).encode("utf-8", "surrogateescape"))[:32] + ".lock"
    cache_locks = os.path.join(paths.cache_dir_str(), "locks")
    for folder in (cache_locks, None):
        if folder is None:  # an unwritable cache: a per-user folder in the temp dir
            import tempfile

            folder = os.path.join(tempfile.gettempdir(), f"ai-budget-locks-{getattr(os, 'getuid', lambda: 'user')()}")
        try:
            os.makedirs(folder, exist_ok=True)
            return os.path.join(folder, name)
        except OSError:
            continue
    raise BudgetError(f"{path}: no writable folder for its lock ({cache_locks})")


class locked:  # noqa: N801 - used as a function: `with locked(path):`
    """Hold an exclusive lock on `path` for a read-modify-write cycle. wait: True (as long
    as it takes), or at most that many seconds (0: not at all), then BlockingIOError."""

    POLL_S = 0.01

    def __init__(self, path, wait: bool | float = True):
        self.path, self.wait = path, wait

    def __enter__(self):
        self.handle = open(_lock_file(self.path), "a+b")
        try:
            if fcntl and self.wait is True:
                fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX)
            elif fcntl:
                self._within(float(self.wait))
        except BaseException:
            self.handle.close()
            raise
        return None

    def _within(self, seconds: float) -> None:
        import time

        deadline = time.monotonic() + seconds
        while True:
            try:
                fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(self.POLL_S)

    def __exit__(self, *exc) -> bool:
        try:
            if fcntl:
                fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
        finally:
            self.handle.close()
        return False


def _remove_orphans(folder: str, name: str) -> None:
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
            try:
                os.unlink(entry.path)
            except OSError:
                pass
        except OSError:  # alive, another user's
            pass


def _create_temp(folder: str, name: str) -> tuple[int, str]:
    """A new file `.{name}.{pid}.{random}.tmp` in `folder` (tempfile.mkstemp's guarantees:
    created exclusively, mode 0600), without loading tempfile."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(folder, f".{name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {folder}")


def write_atomic(path, data: str | bytes, mode: int | None = None, durable: bool = True) -> None:
    """Write to a temp file beside the target, fsync it, then rename over it.
    A symlink (dotfiles) is written through: its target is replaced, the link stays.
    durable=False (a cache that a crash may lose, never half-written): no fsyncs."""
    path = os.fspath(path)
    path = os.path.realpath(path) if os.path.islink(path) else path
    folder, name = os.path.split(path)
    folder = folder or "."
    os.makedirs(folder, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        _remove_orphans(folder, name)
    except OSError:
        pass
    fd, tmp = _create_temp(folder, name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(raw)
            out.flush()
            if durable:
                os.fsync(out.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        elif os.path.exists(path):
            os.chmod(tmp, os.stat(path).st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if not durable:
        return
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def dump_json(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def read_text(path, label: str | None = None, encoding: str = "utf-8", errors: str = "strict") -> str:
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


def read_json_file(path, label: str | None = None):
    """Load JSON or raise BudgetError naming the file and position. Never rewrites."""
    name = label or str(path)
    text = read_text(path, name)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BudgetError(
            f"{name}: invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg}); left untouched"
        ) from None
