"""The disk seam's safe renames, and what they buy: a save landing in the instant of a download's swap is kept,
and a file hashed within its mtime's clock tick is read again (a same-size save in that tick is not missed)."""

from __future__ import annotations

import ctypes
import errno
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from ferrysync.daemon.journal import Journal
from ferrysync.daemon.local import fsio
from ferrysync.daemon.local.chunker import chunk_bytes, content_hash_of
from ferrysync.daemon.local.hasher import HashPool
from ferrysync.daemon.local.indexer import LocalIndexer
from ferrysync.daemon.local.marker import init_marker
from ferrysync.daemon.local.scanner import scan_folder
from ferrysync.daemon.model import Kind, RemoteEntry
from ferrysync.daemon.remote import RemoteClient
from ferrysync.daemon.transfer import Downloader


@pytest.fixture
def hook() -> Iterator[list[Any]]:
    """Install a disk hook for one test; the list holds callbacks run at every step."""
    actions: list[Any] = []

    def run_all(op: str, stage: str, paths: tuple[str, ...]) -> None:
        for a in list(actions):
            a(op, stage, paths)

    previous = fsio.set_hook(run_all)
    yield actions
    fsio.set_hook(previous)


def test_exchange_swaps_two_names_atomically(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"A")
    (tmp_path / "b").write_bytes(b"B")
    if not fsio.exchange(tmp_path / "a", tmp_path / "b"):
        pytest.skip("this file system has no atomic exchange")
    assert (tmp_path / "a").read_bytes() == b"B"
    assert (tmp_path / "b").read_bytes() == b"A"


def test_rename_noreplace_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(b"engine")
    (tmp_path / "dst").write_bytes(b"user")
    with pytest.raises(FileExistsError):
        fsio.rename_noreplace(tmp_path / "src", tmp_path / "dst")
    assert (tmp_path / "dst").read_bytes() == b"user"
    assert (tmp_path / "src").exists()
    fsio.rename_noreplace(tmp_path / "src", tmp_path / "free")
    assert (tmp_path / "free").read_bytes() == b"engine"


class Blocks:
    def __init__(self, data: bytes) -> None:
        chunks = chunk_bytes(data)
        self.blocks = {c.hash: data[c.offset:c.offset + c.length] for c in chunks}
        hashes = tuple(c.hash for c in chunks)
        self.entry = RemoteEntry("f.txt", Kind.FILE, "fid", 3, size=len(data), mtime_ns=1_600_000_000 * 10**9,
                                 content_hash=content_hash_of(hashes), blocks=hashes)

    def get_block(self, h: str, *, throttle: Any = None) -> bytes:
        return self.blocks[h]


def test_a_save_in_the_instant_before_the_swap_is_kept_not_overwritten(tmp_path: Path, hook: list[Any]) -> None:
    """The check-then-replace of before lost this save: the check passed, the user saved, the rename replaced."""
    target = tmp_path / "f.txt"
    target.write_bytes(b"old version")
    expected = os.stat(target)
    source = Blocks(b"the server's version")

    def user_saves_just_before_the_swap(op: str, stage: str, paths: tuple[str, ...]) -> None:
        if op == "exchange" and stage == "before":
            with open(target, "wb") as f:
                f.write(b"the user's save, a moment too late for the check")

    hook.append(user_saves_just_before_the_swap)
    result = Downloader(cast(RemoteClient, source), parallel=1).download(
        source.entry, target, still_matches=lambda: True, target_is_new=False,
        displaced_matches=lambda p: os.stat(p).st_mtime_ns == expected.st_mtime_ns
        and os.stat(p).st_size == expected.st_size)
    if result.displaced is None:
        pytest.skip("no atomic exchange on this file system")
    assert target.read_bytes() == b"the server's version"
    assert result.displaced.read_bytes() == b"the user's save, a moment too late for the check"


def test_a_new_file_never_replaces_one_the_user_created_meanwhile(tmp_path: Path, hook: list[Any]) -> None:
    target = tmp_path / "f.txt"
    source = Blocks(b"the server's version")

    def user_creates_it(op: str, stage: str, paths: tuple[str, ...]) -> None:
        if op == "rename" and stage == "before" and not target.exists():
            target.write_bytes(b"the user's new file")

    hook.append(user_creates_it)
    from ferrysync.daemon.transfer import TargetChanged
    with pytest.raises(TargetChanged):
        Downloader(cast(RemoteClient, source), parallel=1).download(
            source.entry, target, still_matches=lambda: True, target_is_new=True)
    assert target.read_bytes() == b"the user's new file"


def test_a_file_hashed_in_its_mtime_tick_is_read_again(tmp_path: Path) -> None:
    """Two same-size saves inside one tick of the file system's clock leave the same stat: the second would
    look synced forever if the first digest were trusted. It is not: the file is read again at its next look."""
    root = tmp_path / "root"
    init_marker(root, "f1", create_root=True)
    journal = Journal(tmp_path / "j.db")
    now = [time.time()]
    with HashPool(1) as pool:
        ix = LocalIndexer(journal, "f1", root, pool, quiet_period=0.0, clock=lambda: now[0])
        f = root / "notes.txt"
        f.write_bytes(b"first save")
        st = os.stat(f)
        now[0] = st.st_mtime_ns / 1e9  # hashed in the very tick of its mtime
        scan_folder(journal, "f1", root, now=0.0)
        ix.drain()
        first = journal.get_local("f1", "notes.txt")
        assert first is not None
        with open(f, "r+b") as fh:  # same size, and the same mtime (as a coarse clock would stamp it)
            fh.write(b"other save")
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
        now[0] += 1.0  # the tick is long over by the next look
        ix.drain()
        second = journal.get_local("f1", "notes.txt")
        assert second is not None
        assert second.content_hash != first.content_hash
    journal.close()


class _Libc:
    """A stand-in for libc's syncfs (unit test only): counts calls, fails as told."""

    def __init__(self, errno_: int = 0) -> None:
        self.calls = 0
        self.errno = errno_

    def syncfs(self, fd: int) -> int:
        self.calls += 1
        if self.errno:
            ctypes.set_errno(self.errno)
            return -1
        return 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="syncfs is Linux's")
@pytest.mark.parametrize(("failure", "flushes", "fsyncs", "raises"), [
    (0, 1, 0, False),  # one flush of the file system for the whole batch
    (errno.EINVAL, 1, 3, False),  # a file system without syncfs: an fsync each instead
    (errno.EIO, 1, 0, True),  # a write-back error: the batch fails, never silently
])
def test_a_batch_of_files_is_made_durable_with_one_flush(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         failure: int, flushes: int, fsyncs: int,
                                                         raises: bool) -> None:
    files = [tmp_path / f"t{i}" for i in range(3)]
    for f in files:
        f.write_bytes(b"x")
    libc = _Libc(failure)
    monkeypatch.setattr(fsio, "_LIBC", libc)
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)
    monkeypatch.setattr(os, "fsync", counting_fsync)
    if raises:
        with pytest.raises(OSError, match="syncfs"):
            fsio.sync_files(files)
    else:
        fsio.sync_files(files)
    assert (libc.calls, len(synced)) == (flushes, fsyncs)
