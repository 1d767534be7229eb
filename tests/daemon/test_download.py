"""Downloads: verified temp file, replaced only if the target is unchanged, disk-full safe, resumable, and
reusing blocks already on this disk. Unit tests use an in-memory block source; one test runs a real server."""

from __future__ import annotations

import errno
import os
import random
import stat
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest
from remote_support import fresh_user_client

from ferrysync.daemon.local.chunker import chunk_bytes, content_hash_of
from ferrysync.daemon.model import Kind, RemoteEntry
from ferrysync.daemon.remote import RemoteClient, ServerUnavailable
from ferrysync.daemon.transfer import (
    CorruptDownload,
    DiskFull,
    Downloader,
    ResumeState,
    TargetChanged,
    TokenBucket,
    TransferCancelled,
    Uploader,
)
from ferrysync.daemon.transfer.download import TMP_PREFIX

MTIME = 1_650_000_000_987_654_321


class MemoryBlocks:
    """Stands in for RemoteClient.get_block in unit tests; counts what was fetched and can fail on demand."""

    def __init__(self) -> None:
        self.blocks: dict[str, bytes] = {}
        self.fetched: list[str] = []
        self.fail_after: int | None = None
        self.lock = threading.Lock()

    def add(self, data: bytes, path: str = "f.bin", executable: bool = False) -> RemoteEntry:
        chunks = chunk_bytes(data)
        for c in chunks:
            self.blocks[c.hash] = data[c.offset:c.offset + c.length]
        hashes = tuple(c.hash for c in chunks)
        return RemoteEntry(path, Kind.FILE, "fid", 7, size=len(data), mtime_ns=MTIME, executable=executable,
                           content_hash=content_hash_of(hashes), blocks=hashes)

    def get_block(self, h: str, *, throttle: Any = None) -> bytes:
        with self.lock:
            if self.fail_after is not None and len(self.fetched) >= self.fail_after:
                raise ServerUnavailable("connection dropped", code="unreachable")
            self.fetched.append(h)
        return self.blocks[h]


def data_of(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def temps(folder: Path) -> list[Path]:
    return list(folder.glob(f"{TMP_PREFIX}*"))


@pytest.fixture
def mem() -> MemoryBlocks:
    return MemoryBlocks()


def downloader(mem: MemoryBlocks, **kw: Any) -> Downloader:
    return Downloader(cast(RemoteClient, mem), **kw)


def test_new_file_is_written_whole_with_metadata(mem: MemoryBlocks, tmp_path: Path) -> None:
    data = data_of(6 * 1024 * 1024, 1)
    entry = mem.add(data, executable=True)
    res = downloader(mem).download(entry, tmp_path / "f.bin", still_matches=lambda: True)
    target = tmp_path / "f.bin"
    assert target.read_bytes() == data
    st = target.stat()
    assert st.st_mtime_ns == MTIME
    assert st.st_mode & stat.S_IXUSR
    assert res.bytes_fetched == len(data)
    assert res.bytes_reused == 0
    assert temps(tmp_path) == []


def test_replacing_keeps_the_targets_permissions_and_clears_exec(mem: MemoryBlocks, tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    target.chmod(0o740)
    downloader(mem).download(mem.add(b"new content"), target, still_matches=lambda: True)
    assert target.read_bytes() == b"new content"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_blocks_already_on_disk_are_copied_not_fetched(mem: MemoryBlocks, tmp_path: Path) -> None:
    data = data_of(5 * 1024 * 1024, 2)
    local = tmp_path / "copy-elsewhere.bin"
    local.write_bytes(data)
    index = {c.hash: (str(local), c.offset, c.length) for c in chunk_bytes(data)}
    entry = mem.add(data)
    res = downloader(mem).download(entry, tmp_path / "f.bin", still_matches=lambda: True,
                                   find_local_block=index.get)
    assert (tmp_path / "f.bin").read_bytes() == data
    assert mem.fetched == []
    assert res.bytes_reused == len(data)


def test_a_stale_local_block_falls_back_to_the_network(mem: MemoryBlocks, tmp_path: Path) -> None:
    data = data_of(3 * 1024 * 1024, 3)
    local = tmp_path / "changed-since-indexed.bin"
    local.write_bytes(data_of(3 * 1024 * 1024, 4))  # the index is stale: other bytes there now
    index = {c.hash: (str(local), c.offset, c.length) for c in chunk_bytes(data)}
    index[next(iter(index))] = (str(tmp_path / "deleted.bin"), 0, 10)
    entry = mem.add(data)
    downloader(mem).download(entry, tmp_path / "f.bin", still_matches=lambda: True, find_local_block=index.get)
    assert (tmp_path / "f.bin").read_bytes() == data
    assert sorted(mem.fetched) == sorted(entry.blocks)


def test_repeated_blocks_are_fetched_once(mem: MemoryBlocks, tmp_path: Path) -> None:
    data = bytes(12 * 1024 * 1024)  # zeros: the same max-size chunk over and over
    entry = mem.add(data)
    assert len(set(entry.blocks)) < len(entry.blocks)
    downloader(mem).download(entry, tmp_path / "zeros", still_matches=lambda: True)
    assert (tmp_path / "zeros").read_bytes() == data
    assert len(mem.fetched) == len(set(entry.blocks))


def test_target_changed_meanwhile_is_not_replaced(mem: MemoryBlocks, tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"the user's unsynced edit")
    with pytest.raises(TargetChanged):
        downloader(mem).download(mem.add(b"remote version"), target, still_matches=lambda: False)
    assert target.read_bytes() == b"the user's unsynced edit"
    assert temps(tmp_path) == []


def test_disk_full_removes_the_temp_and_keeps_the_target(mem: MemoryBlocks, tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"previous content")
    writes = 0

    def write(f: BinaryIO, data: bytes) -> object:
        nonlocal writes
        writes += 1
        if writes == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return f.write(data)

    entry = mem.add(data_of(4 * 1024 * 1024, 5))
    with pytest.raises(DiskFull, match="not enough disk space"):
        downloader(mem, write=write).download(entry, target, still_matches=lambda: True)
    assert target.read_bytes() == b"previous content"
    assert temps(tmp_path) == []


def test_cancelled_download_resumes_from_its_verified_prefix(mem: MemoryBlocks, tmp_path: Path) -> None:
    data = data_of(10 * 1024 * 1024, 6)
    entry = mem.add(data)
    assert len(entry.blocks) >= 5
    states: list[ResumeState] = []
    cancel = threading.Event()

    def on_state(s: ResumeState) -> None:
        states.append(s)
        if len(s.block_lengths) == 3:
            cancel.set()

    tmp_dir = tmp_path / ".ferry" / "tmp"
    with pytest.raises(TransferCancelled):
        downloader(mem, parallel=1).download(entry, tmp_path / "f.bin", still_matches=lambda: True,
                                             on_state=on_state, cancel=cancel, tmp_dir=tmp_dir)
    assert not (tmp_path / "f.bin").exists()
    state = ResumeState.from_json(states[-1].to_json())  # as the journal would store it
    assert Path(state.temp_path).exists()
    assert len(state.block_lengths) == 3
    mem.fetched.clear()
    res = downloader(mem).download(entry, tmp_path / "f.bin", still_matches=lambda: True, resume=state,
                                   tmp_dir=tmp_dir)
    assert (tmp_path / "f.bin").read_bytes() == data
    assert sorted(mem.fetched) == sorted(entry.blocks[3:])
    assert res.bytes_fetched == len(data) - sum(state.block_lengths)
    assert temps(tmp_dir) == []


def test_network_failure_keeps_progress_and_a_damaged_prefix_is_refetched(
        mem: MemoryBlocks, tmp_path: Path) -> None:
    data = data_of(10 * 1024 * 1024, 7)
    entry = mem.add(data)
    states: list[ResumeState] = []
    mem.fail_after = 4
    with pytest.raises(ServerUnavailable):
        downloader(mem, parallel=1).download(entry, tmp_path / "f.bin", still_matches=lambda: True,
                                             on_state=states.append)
    state = states[-1]
    assert len(state.block_lengths) >= 2
    with open(state.temp_path, "r+b") as f:  # a crash tore the second block
        f.seek(state.block_lengths[0] + 10)
        f.write(b"garbage")
    mem.fail_after = None
    mem.fetched.clear()
    downloader(mem).download(entry, tmp_path / "f.bin", still_matches=lambda: True, resume=state)
    assert (tmp_path / "f.bin").read_bytes() == data
    assert entry.blocks[0] not in mem.fetched
    assert entry.blocks[1] in mem.fetched
    assert temps(tmp_path) == []


def test_resume_state_of_other_content_starts_over(mem: MemoryBlocks, tmp_path: Path) -> None:
    old = tmp_path / f"{TMP_PREFIX}old"
    old.write_bytes(b"partial download of a previous version")
    entry = mem.add(b"current version")
    stale = ResumeState(str(old), "0" * 64, (10,))
    downloader(mem).download(entry, tmp_path / "f.bin", still_matches=lambda: True, resume=stale)
    assert (tmp_path / "f.bin").read_bytes() == b"current version"
    assert not old.exists()


def test_inconsistent_entries_are_refused(mem: MemoryBlocks, tmp_path: Path) -> None:
    entry = mem.add(b"some bytes")
    bad_hash = RemoteEntry(entry.path, Kind.FILE, "fid", 1, size=entry.size, content_hash="1" * 64,
                           blocks=entry.blocks)
    with pytest.raises(CorruptDownload):
        downloader(mem).download(bad_hash, tmp_path / "a", still_matches=lambda: True)
    bad_size = RemoteEntry(entry.path, Kind.FILE, "fid", 1, size=99, content_hash=entry.content_hash,
                           blocks=entry.blocks)
    with pytest.raises(CorruptDownload):
        downloader(mem).download(bad_size, tmp_path / "b", still_matches=lambda: True)
    with pytest.raises(ValueError, match="only files"):
        downloader(mem).download(RemoteEntry("d", Kind.DIR, "x", 1), tmp_path / "d", still_matches=lambda: True)
    assert not (tmp_path / "a").exists()
    assert not (tmp_path / "b").exists()
    assert temps(tmp_path) == []


def test_round_trip_through_a_real_server(module_server: Any, tmp_path: Path) -> None:
    src, dst = tmp_path / "a", tmp_path / "b"
    src.mkdir()
    dst.mkdir()
    data = data_of(7 * 1024 * 1024 + 123, 8)
    (src / "movie.bin").write_bytes(data)
    os.utime(src / "movie.bin", ns=(MTIME, MTIME))
    with fresh_user_client(module_server, "desk") as desk:
        [res] = desk.commit([Uploader(desk).upload_file(src / "movie.bin", "movie.bin", base_rev=None)])
        assert res.ok
        assert res.entry is not None
        entry = next(e.entry for e in desk.changes(0).entries if e.path == "movie.bin")
        got: list[int] = []
        start = time.monotonic()
        out = Downloader(desk, throttle=TokenBucket(16 * 1024 * 1024)).download(
            entry, dst / "movie.bin", still_matches=lambda: True, progress=got.append)
        assert time.monotonic() - start >= 0.3  # 7 MiB at 16 MiB/s: the limit applies to downloads too
    assert (dst / "movie.bin").read_bytes() == data
    assert (dst / "movie.bin").stat().st_mtime_ns == MTIME
    assert sum(got) == len(data) == out.bytes_fetched
