"""The engine's disk seam: every disk operation the sync engine makes on a user's folder goes through here.

Why a seam: the race-and-crash simulation (`tests/sim/`) must be able to act *between* any two of the engine's
disk steps — a user saving a file after the engine's stat and before its rename, or the daemon being killed
right after a rename and before the journal records it. A process-wide hook, called before and after each step,
lets it do that against the real engine code. In production no hook is set and each call is the plain `os` one.

It also holds the two primitives that make "never overwrite what the engine has not seen" hold at the moment of
the write itself, not only at the moment of the check before it: an atomic exchange of two names and a rename
that refuses to replace. Where the OS offers them (Linux `renameat2`, macOS `renamex_np`) they are used; where it
does not, a portable fallback keeps the old bytes under another name instead of destroying them.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any, BinaryIO, cast

from ferrysync.daemon import atomic

StrPath = str | os.PathLike[str]
Hook = Callable[[str, str, tuple[str, ...]], None]  # (operation, "before" | "after", paths)

_hook: Hook | None = None


def set_hook(hook: Hook | None) -> Hook | None:
    """Install the hook (tests only); returns the previous one."""
    global _hook
    previous, _hook = _hook, hook
    return previous


def probe(op: str, stage: str, *paths: StrPath) -> None:
    """A named point between two steps, where a hook may act (a user edit) or raise (a crash)."""
    hook = _hook
    if hook is not None:
        hook(op, stage, tuple(os.fspath(p) for p in paths))


@contextlib.contextmanager
def step(op: str, *paths: StrPath) -> Iterator[None]:
    probe(op, "before", *paths)
    yield
    probe(op, "after", *paths)


# -- plain operations ------------------------------------------------------------------------------------------


def lstat(path: StrPath) -> os.stat_result:
    with step("stat", path):
        return os.lstat(path)


def stat(path: StrPath | Unnamed) -> os.stat_result:
    with step("stat", path):
        return os.stat(_handle(path))


def fstat(fd: int, path: StrPath) -> os.stat_result:
    with step("fstat", path):
        return os.fstat(fd)


def scandir(path: StrPath) -> os._ScandirIterator[str]:
    with step("scandir", path):
        return os.scandir(os.fspath(path))


def open_file(path: StrPath, mode: str = "rb", buffering: int = -1) -> BinaryIO:
    """A file opened in a binary mode ("rb", "r+b"); the caller closes it."""
    if "b" not in mode:
        raise ValueError(f"binary modes only, not {mode!r}")
    with step("open", path):
        return cast(BinaryIO, open(path, mode, buffering=buffering))


def create_exclusive(path: StrPath, mode: int = 0o666) -> BinaryIO:
    """A new file opened for read and write; fails if the name exists."""
    with step("open", path):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, mode)
        return cast(BinaryIO, os.fdopen(fd, "r+b"))


def read(f: IO[bytes], size: int, path: StrPath) -> bytes:
    with step("read", path):
        return f.read(size)


def pread(f: IO[bytes], size: int, offset: int, path: StrPath) -> bytes:
    with step("read", path):
        return os.pread(f.fileno(), size, offset)


def fsync(f: IO[bytes], path: StrPath) -> None:
    with step("fsync", path):
        f.flush()
        os.fsync(f.fileno())


def sync_files(paths: Sequence[StrPath | Unnamed]) -> None:
    """Make the bytes and metadata of many files durable at once (all on one file system): closed files by name,
    unnamed ones through their open descriptor.

    On Linux that is one syncfs(2) of their file system: one journal commit for the lot, where an fsync each costs a
    commit each (a batch of a thousand small downloads waited on a thousand). Elsewhere, an fsync each. syncfs
    reports a write-back error of the file system since the last call (Linux 5.8+), so a failure is never silent."""
    if not paths:
        return
    with step("fsync", *paths):
        syncfs = getattr(_LIBC, "syncfs", None) if sys.platform == "linux" else None
        if syncfs is not None:
            first = paths[0]
            fd = first.fd if isinstance(first, Unnamed) else os.open(first, os.O_RDONLY)
            try:
                if syncfs(fd) == 0:
                    return
                err = ctypes.get_errno()
            finally:
                if not isinstance(first, Unnamed):
                    os.close(fd)
            if err not in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
                raise OSError(err, f"syncfs: {os.strerror(err)}", os.fspath(first))
        for path in paths:  # no syncfs here (or not for this file system): an fsync each
            if isinstance(path, Unnamed):
                os.fsync(path.fd)
                continue
            with open(path, "r+b") as f:  # Windows syncs only a handle open for writing
                os.fsync(f.fileno())


def fsync_dir(path: StrPath) -> None:
    """Make a rename in `path` durable (POSIX; Windows has no directory handles to sync)."""
    if os.name != "posix":
        return
    with step("fsync", path):
        atomic.fsync_dir(path)


def chmod(path: StrPath | Unnamed, mode: int) -> None:
    with step("chmod", path):
        os.chmod(_handle(path), mode)


def utime(path: StrPath | Unnamed, mtime_ns: int) -> None:
    with step("utime", path):
        os.utime(_handle(path), ns=(mtime_ns, mtime_ns))


def mkdir(path: StrPath, *, parents: bool = False, exist_ok: bool = False) -> None:
    with step("mkdir", path):
        if parents:
            os.makedirs(path, exist_ok=exist_ok)
        else:
            try:
                os.mkdir(path)
            except FileExistsError:
                if not (exist_ok and os.path.isdir(path)):
                    raise


def rmdir(path: StrPath) -> None:
    with step("rmdir", path):
        os.rmdir(path)


def unlink(path: StrPath, *, missing_ok: bool = False) -> None:
    with step("unlink", path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            if not missing_ok:
                raise


def replace(src: StrPath, dst: StrPath) -> None:
    with step("rename", src, dst):
        os.replace(src, dst)


# -- files that take their name only when whole ------------------------------------------------------------------


class Unnamed:
    """A file being written that has no name yet (Linux `O_TMPFILE`): `link_unnamed` gives it its final name in one
    step, and if the process dies first it vanishes with it — no temp file to find and remove at the next start.

    Why it exists: a batch of small downloads written as named temps and renamed into place costs six file events
    a file (create, modify, attrib, close, and a move's two halves that the watcher must pair up) and two names
    created under the temp folder's lock; unnamed, it is one name created where the file belongs, and the
    watcher's own work for the daemon's writes drops with it (bench/README.md, `download`).
    `label` names it in the seam's hooks and in messages; nothing is ever at that path."""

    __slots__ = ("fd", "label")

    def __init__(self, fd: int, label: str) -> None:
        self.fd = fd
        self.label = label

    def __fspath__(self) -> str:
        return self.label

    def close(self) -> None:
        """Let go of it (its bytes vanish unless it was linked); idempotent."""
        global _unnamed_open
        if self.fd < 0:
            return
        fd, self.fd = self.fd, -1
        with _unnamed_lock:
            _unnamed_open -= 1
        os.close(fd)


_unnamed_lock = threading.Lock()
_unnamed_open = 0
# Linux only, and only where a descriptor can be named again through /proc (see link_unnamed); cleared for good
# when a file system refuses either step, so each refusal costs one failed try, not one a file.
_unnamed_ok = [sys.platform == "linux" and hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd")]
_UNNAMED_REFUSED = (errno.EOPNOTSUPP, errno.ENOTSUP, errno.EISDIR, errno.EINVAL, errno.EXDEV, errno.EPERM,
                    errno.ENOSYS)


_budget: list[int] = []  # computed at the first unnamed file, after `raise_open_file_limit`


def _unnamed_budget() -> int:
    """How many unnamed files may be open at once: half of what the descriptor limit leaves beyond a reserve for
    everything else (journal, sockets, watches), at most 2,048. Past it, callers write named temps instead."""
    if not _budget:
        import resource  # POSIX only; only reached on Linux

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        _budget.append(2048 if soft == resource.RLIM_INFINITY else max(0, min(2048, (soft - 512) // 2)))
    return _budget[0]


def raise_open_file_limit(want: int = 4096) -> int:
    """Raise this process's soft limit on open files towards `want` (never above the hard limit, never down), as
    Go's runtime does for every program: desktop sessions often start at 1,024, and a batch of small downloads
    keeps one descriptor a file open until its files are named. Returns the limit now in force (0 where unknown)."""
    if os.name != "posix":
        return 0
    import resource  # POSIX only

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # not allowed here: the unnamed-file budget follows what is in force
    return int(soft)


def create_unnamed(folder: StrPath) -> Unnamed | None:
    """A new unnamed file in `folder`'s file system, open for read and write; None where there is none to be had
    (not Linux, a file system without `O_TMPFILE`, or too many open already): the caller writes a named temp."""
    global _unnamed_open
    if not _unnamed_ok[0]:
        return None
    with _unnamed_lock:
        if _unnamed_open >= _unnamed_budget():
            return None
        _unnamed_open += 1
    try:
        probe("open", "before", folder)
        fd = os.open(folder, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o666)
    except BaseException as exc:
        with _unnamed_lock:
            _unnamed_open -= 1
        if isinstance(exc, OSError) and exc.errno in _UNNAMED_REFUSED:
            _unnamed_ok[0] = False
            return None
        raise
    file = Unnamed(fd, os.path.join(os.fspath(folder), f"(unnamed {fd})"))
    try:
        probe("open", "after", file)
    except BaseException:  # a crash here (the simulation's) takes the file with it, as the process would
        file.close()
        raise
    return file


def link_unnamed(file: Unnamed, target: StrPath) -> None:
    """Give `file` the name `target`, or raise FileExistsError if the name is taken: like `rename_noreplace`, the
    check and the naming are one step. The file stays open (the caller closes it)."""
    with step("link", file, target):
        try:  # linkat(AT_SYMLINK_FOLLOW) of /proc/self/fd/N: open(2)'s own recipe; an absolute source ignores the fd
            os.link(f"/proc/self/fd/{file.fd}", target, src_dir_fd=file.fd, follow_symlinks=True)
        except OSError as exc:
            if exc.errno in _UNNAMED_REFUSED:
                _unnamed_ok[0] = False  # this one fails (and is retried as a named temp); no other tries
            raise


def _handle(path: StrPath | Unnamed) -> StrPath | int:
    return path.fd if isinstance(path, Unnamed) else path


# -- renames that never destroy a name's bytes ----------------------------------------------------------------

_RENAME_NOREPLACE = 1  # linux/fs.h
_RENAME_EXCHANGE = 2
_MAC_RENAME_SWAP = 0x2  # sys/stdio.h
_MAC_RENAME_EXCL = 0x4
_AT_FDCWD = -100


def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None


_LIBC = _libc() if sys.platform in ("linux", "darwin") else None
_native = {"exchange": True, "noreplace": True}  # cleared when the file system refuses the flag (EINVAL)


def _call(flags: int, src: StrPath, dst: StrPath) -> bool:
    """One native rename with flags; False when the OS or file system does not offer it."""
    if _LIBC is None:
        return False
    a, b = os.fsencode(src), os.fsencode(dst)
    if sys.platform == "linux":
        fn = getattr(_LIBC, "renameat2", None)
        if fn is None:
            return False
        rc = fn(_AT_FDCWD, a, _AT_FDCWD, b, ctypes.c_uint(flags))
    else:
        fn = getattr(_LIBC, "renamex_np", None)
        if fn is None:
            return False
        mac = {_RENAME_EXCHANGE: _MAC_RENAME_SWAP, _RENAME_NOREPLACE: _MAC_RENAME_EXCL}[flags]
        rc = fn(a, b, ctypes.c_uint(mac))
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), os.fspath(src), None, os.fspath(dst))


def rename_noreplace(src: StrPath, dst: StrPath) -> None:
    """Rename `src` to `dst`, or raise FileExistsError if `dst` exists — decided atomically where the OS can.

    The fallback (no native flag) checks first and then renames: a name taken in between is the one window left,
    and only on systems without the primitive."""
    with step("rename", src, dst):
        if _native["noreplace"]:
            if _call(_RENAME_NOREPLACE, src, dst):
                return
            _native["noreplace"] = False
        if os.path.lexists(dst) and not _same_file(src, dst):
            raise FileExistsError(errno.EEXIST, "name taken", os.fspath(dst))
        os.rename(src, dst)


def exchange(a: StrPath, b: StrPath) -> bool:
    """Swap two existing names atomically; False where the OS or file system cannot (the caller falls back)."""
    with step("exchange", a, b):
        if not _native["exchange"]:
            return False
        if _call(_RENAME_EXCHANGE, a, b):
            return True
        _native["exchange"] = False
        return False


def _same_file(a: StrPath, b: StrPath) -> bool:
    """A case-only rename on a case-insensitive disk names the same file twice: that is no clash."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
