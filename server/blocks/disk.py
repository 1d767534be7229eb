"""Blocks as files under a directory, fanned out by hash prefix: ROOT/ab/cd/<hash>.

Writes go to ROOT/tmp, are fsynced, then renamed into place (and the directory fsynced), so a killed server never
serves a partial block; leftovers in tmp/ from a crash are removed at start. Many small blocks at once (a batch
upload) are written first and made durable with one syncfs(2) before and after the renames where Linux offers it:
one flush instead of two fsyncs per block (about 6x faster for 2 KiB blocks here).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from ferrysync.server.blocks.base import fsync_dir, verified
from ferrysync.server.hashing import is_block_hash


class DiskBlockStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._root = os.fspath(root)
        # Orders "refresh an existing block" (put) against "delete an old unreferenced block" (garbage collection).
        self._age_lock = threading.Lock()
        self.tmp = root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._clean_tmp()

    def _clean_tmp(self) -> None:
        for leftover in self.tmp.iterdir():
            with contextlib.suppress(OSError):
                leftover.unlink()

    def _path(self, digest: str) -> Path:
        return Path(self._name(digest))

    def _name(self, digest: str) -> str:
        """Where the block lives (ROOT/ab/cd/<hash>), as a string: what `refresh_many` hands the OS directly."""
        if not is_block_hash(digest):
            raise ValueError(f"not a block hash: {digest!r}")
        return f"{self._root}{os.sep}{digest[:2]}{os.sep}{digest[2:4]}{os.sep}{digest}"

    def has(self, digest: str) -> bool:
        return self._path(digest).is_file()

    def put(self, digest: str, data: bytes) -> None:
        if not self.refresh(digest):
            self._write(digest, data)

    def _write(self, digest: str, data: bytes) -> None:
        """One block made durable on its own: its file, then its folder, fsynced (after a refresh found it absent)."""
        final = self._path(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp, prefix=digest[:16], suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp_name, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
        fsync_dir(final.parent)

    def put_many(self, items: list[tuple[str, bytes]]) -> None:
        unique = dict(items)
        todo = [(d, unique[d]) for d in self.refresh_many(list(unique))]
        if len(todo) < 2 or _syncfs is None:
            for digest, data in todo:
                self._write(digest, data)  # (refreshed above: not asked twice)
            return
        staged: list[tuple[str, Path]] = []
        try:
            for digest, data in todo:
                fd, tmp_name = tempfile.mkstemp(dir=self.tmp, prefix=digest[:16], suffix=".part")
                staged.append((tmp_name, self._path(digest)))
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
            self._sync()  # contents durable before any name points at them
            for tmp_name, final in staged:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp_name, final)
            self._sync()  # the renames durable before the caller records the blocks as stored
        except BaseException:
            for tmp_name, _final in staged:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_name)
            raise

    def _sync(self) -> None:
        assert _syncfs is not None
        fd = os.open(self.root, os.O_RDONLY)
        try:
            if _syncfs(fd) != 0:
                raise OSError(ctypes.get_errno(), "syncfs failed")
        finally:
            os.close(fd)

    def get(self, digest: str) -> bytes:
        path = self._path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise KeyError(digest) from None
        return verified(digest, data, str(path))

    def refresh(self, digest: str) -> bool:
        """If the block is stored, mark it as just stored (garbage collection spares it) and return True."""
        return not self.refresh_many([digest])

    def refresh_many(self, digests: list[str]) -> list[str]:
        """Mark the blocks already stored here as just stored (collection spares them); return the others.

        What a batch of new small blocks asks of this half in the hybrid store: each is almost never here, so
        the cost is one failed `utime` a block. Under one hold of the lock and through a plain string, that is
        ~2-3 µs a block instead of the ~7 µs it took asked one at a time (Path joins and a lock each), which had
        been 5 % of the server's CPU samples while 10,000 small files went up."""
        names = [(digest, self._name(digest)) for digest in digests]  # every hash checked before any is touched
        missing: list[str] = []
        with self._age_lock:
            for digest, name in names:
                try:
                    os.utime(name)
                except FileNotFoundError:
                    missing.append(digest)
        return missing

    def delete_if_older(self, digest: str, cutoff_s: float) -> bool:
        path = self._path(digest)
        with self._age_lock:
            try:
                if path.stat().st_mtime >= cutoff_s:
                    return False
                path.unlink()
            except FileNotFoundError:
                return False
            return True

    def delete(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(digest).unlink()

    def compact(self) -> int:
        return 0  # deleting a block already gave its space back

    def iter(self) -> Iterator[str]:
        for first in sorted(self.root.iterdir()):
            if first.name == "tmp" or not first.is_dir():
                continue
            for second in sorted(first.iterdir()):
                for block in sorted(second.iterdir()):
                    if is_block_hash(block.name):
                        yield block.name


def _load_syncfs() -> Callable[[int], int] | None:
    """libc's syncfs(2) (Linux): flush one filesystem only, unlike sync(2)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_syncfs = _load_syncfs()
