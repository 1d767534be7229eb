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


def stat(path: StrPath) -> os.stat_result:
    with step("stat", path):
        return os.stat(path)


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


def sync_files(paths: Sequence[StrPath]) -> None:
    """Make the bytes and metadata of many closed files durable at once (all on one file system).

    On Linux that is one syncfs(2) of their file system: one journal commit for the lot, where an fsync each costs a
    commit each (a batch of a thousand small downloads waited on a thousand). Elsewhere, an fsync each. syncfs
    reports a write-back error of the file system since the last call (Linux 5.8+), so a failure is never silent."""
    if not paths:
        return
    with step("fsync", *paths):
        syncfs = getattr(_LIBC, "syncfs", None) if sys.platform == "linux" else None
        if syncfs is not None:
            fd = os.open(paths[0], os.O_RDONLY)
            try:
                if syncfs(fd) == 0:
                    return
                err = ctypes.get_errno()
            finally:
                os.close(fd)
            if err not in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
                raise OSError(err, f"syncfs: {os.strerror(err)}", os.fspath(paths[0]))
        for path in paths:  # no syncfs here (or not for this file system): an fsync each
            with open(path, "r+b") as f:  # Windows syncs only a handle open for writing
                os.fsync(f.fileno())


def fsync_dir(path: StrPath) -> None:
    """Make a rename in `path` durable (POSIX; Windows has no directory handles to sync)."""
    if os.name != "posix":
        return
    with step("fsync", path):
        atomic.fsync_dir(path)


def chmod(path: StrPath, mode: int) -> None:
    with step("chmod", path):
        os.chmod(path, mode)


def utime(path: StrPath, mtime_ns: int) -> None:
    with step("utime", path):
        os.utime(path, ns=(mtime_ns, mtime_ns))


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
