"""One daemon per FERRY_HOME: an OS lock on `ferry_paths().lock_file`, held for the daemon's whole life.

The kernel drops the lock when the process dies (even by kill -9), so a crash never leaves a stale lock
behind, unlike a pid file alone. The holder's pid is written inside, for "already running (pid 1234)".
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from types import TracebackType

if sys.platform == "win32":
    import msvcrt
else:
    import fcntl

log = logging.getLogger(__name__)

# Windows locks byte ranges and then refuses reads of them; lock a byte far past the pid so it stays readable.
_WIN_LOCK_OFFSET = 1 << 20


class DaemonAlreadyRunning(RuntimeError):
    """Another live process holds the lock; `pid` is its pid when it could be read."""

    def __init__(self, path: Path, pid: int | None) -> None:
        who = f" (pid {pid})" if pid else ""
        super().__init__(f"a Ferry daemon is already running for this FERRY_HOME{who}; lock: {path}")
        self.path = path
        self.pid = pid


def read_pid(path: Path) -> int | None:
    """The pid recorded in the lock file, or None when absent or unreadable (says nothing about liveness)."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def is_locked(path: Path) -> bool:
    """Whether a live process holds the lock now (probes with a lock that is released at once)."""
    try:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return False
    try:
        _lock(fd)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops our probe lock, if we got it
    return False


class DaemonLock:
    """`with DaemonLock(paths.lock_file): run_daemon()`; raises DaemonAlreadyRunning if another process holds it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> DaemonLock:
        if self._fd is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
        try:
            _lock(fd)
        except OSError:
            os.close(fd)
            raise DaemonAlreadyRunning(self.path, read_pid(self.path)) from None
        self._fd = fd
        # Only the holder rewrites the pid, so a refused second daemon never erases the first one's. The pid is
        # there to be named in messages; the lock is the OS's. So a disk too full to take it (or a file-size limit)
        # leaves the file empty and the daemon starts anyway, to say in its status what the disk refuses.
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
            os.fsync(fd)
        except OSError as exc:
            log.warning("could not write the daemon's pid into %s: %s", self.path, exc)
        return self

    def release(self) -> None:
        """Let go (idempotent). The file stays: removing it would race with a daemon that is starting."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        with contextlib.suppress(OSError):
            _unlock(fd)
        os.close(fd)

    def __enter__(self) -> DaemonLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _lock(fd: int) -> None:
    if sys.platform == "win32":
        os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
