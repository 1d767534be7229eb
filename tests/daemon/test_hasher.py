"""The hash pool: every file read once, the same digests as chunker.hash_file, changed files flagged."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrysync.daemon.local import hasher
from ferrysync.daemon.local.chunker import MIN_SIZE, FileChangedWhileReading, hash_file
from ferrysync.daemon.local.hasher import HashPool, default_workers, hash_small


@settings(max_examples=25, deadline=None)
@given(size=st.sampled_from([0, 1, 4096, MIN_SIZE - 1, MIN_SIZE]) | st.integers(0, MIN_SIZE))
def test_small_file_fast_path_equals_hash_file(tmp_path_factory: pytest.TempPathFactory, size: int) -> None:
    p = tmp_path_factory.mktemp("h") / "f"
    p.write_bytes(os.urandom(size))
    assert hash_small(p) == hash_file(p)


def test_pool_hashes_small_and_large_files(tmp_path: Path) -> None:
    files = {tmp_path / f"f{i}": os.urandom(i * 1000) for i in range(20)}
    files[tmp_path / "big"] = os.urandom(3 * MIN_SIZE + 17)
    for p, data in files.items():
        p.write_bytes(data)
    with HashPool(workers=3) as pool:
        results = {r.path: r for r in pool.hash_many(files)}
    assert results.keys() == files.keys()
    for p, r in results.items():
        assert r.digest == hash_file(p)
        assert not r.changed
        assert r.error is None
    assert default_workers() >= 2


def test_small_files_are_hashed_on_the_callers_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A small file's hash is a few GIL-holding microseconds between system calls: the pool's threads only hand
    the GIL back and forth, so a file the scan saw small is hashed where hash_many is called; a big one in the
    pool. The size only picks the thread: a file that grew since is still hashed whole, and one gone is reported."""
    small = [tmp_path / f"s{i}" for i in range(5)]
    for p in small:
        p.write_bytes(os.urandom(4096))
    big, grew, gone = tmp_path / "big", tmp_path / "grew", tmp_path / "gone"
    big.write_bytes(os.urandom(3 * MIN_SIZE))
    grew.write_bytes(os.urandom(2 * MIN_SIZE))
    seen_size = {**{p: 4096 for p in small}, big: 3 * MIN_SIZE, grew: 10, gone: 10}
    threads: dict[Path, str] = {}
    real = hasher.digest_file

    def recording(path: Path, sink_for: Any = hasher._no_sink) -> Any:
        threads[path] = threading.current_thread().name
        return real(path, sink_for)

    monkeypatch.setattr(hasher, "digest_file", recording)
    with HashPool(workers=2) as pool:
        results = {r.path: r for r in pool.hash_many(seen_size, size_of=seen_size.__getitem__)}
    here = threading.current_thread().name
    assert {threads[p] for p in [*small, grew, gone]} == {here}
    assert threads[big].startswith("ferry-hash")
    for p in [*small, big, grew]:
        assert results[p].digest == hash_file(p)
    assert isinstance(results[gone].error, FileNotFoundError)


def test_changed_and_vanished_files_are_reported_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def changing(path: Path) -> object:
        raise FileChangedWhileReading(str(path))

    (tmp_path / "busy").write_text("x")
    with HashPool() as pool:
        gone = pool.submit(tmp_path / "gone").result()
        monkeypatch.setattr(hasher, "_read_small", changing)
        busy = pool.submit(tmp_path / "busy").result()
    assert busy.changed
    assert busy.digest is None
    assert isinstance(gone.error, FileNotFoundError)
    assert not gone.changed
