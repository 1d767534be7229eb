"""DiskBlockStore unit tests: atomic writes, batch writes, and age-guarded deletion for garbage collection."""

from __future__ import annotations

import os
import time
from pathlib import Path

import blake3
import pytest

from ferrysync.server.blocks.base import BlockCorrupt
from ferrysync.server.blocks.disk import DiskBlockStore


def _h(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def test_put_get_iter_delete(tmp_path: Path) -> None:
    store = DiskBlockStore(tmp_path)
    blobs = [os.urandom(100), b"", os.urandom(5000)]
    store.put(_h(blobs[0]), blobs[0])
    store.put_many([(_h(b), b) for b in blobs])
    assert sorted(store.iter()) == sorted({_h(b) for b in blobs})
    assert all(store.get(_h(b)) == b for b in blobs)
    assert list((tmp_path / "tmp").iterdir()) == []
    store.delete(_h(blobs[0]))
    assert not store.has(_h(blobs[0]))
    with pytest.raises(KeyError):
        store.get(_h(blobs[0]))
    with pytest.raises(ValueError, match="not a block hash"):
        store.has("../../etc/passwd")


def test_leftover_temp_files_are_removed_at_start(tmp_path: Path) -> None:
    DiskBlockStore(tmp_path)
    (tmp_path / "tmp" / "abc.part").write_bytes(b"partial")
    DiskBlockStore(tmp_path)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_delete_if_older_spares_blocks_stored_again_since(tmp_path: Path) -> None:
    store = DiskBlockStore(tmp_path)
    data = b"some block"
    digest = _h(data)
    store.put(digest, data)
    past = time.time() - 3600
    os.utime(tmp_path / digest[:2] / digest[2:4] / digest, (past, past))
    cutoff = time.time() - 60
    store.put(digest, data)  # re-storing an existing block refreshes its age
    assert store.delete_if_older(digest, cutoff) is False
    assert store.has(digest)
    os.utime(tmp_path / digest[:2] / digest[2:4] / digest, (past, past))
    assert store.delete_if_older(digest, cutoff) is True
    assert not store.has(digest)
    assert store.delete_if_older(digest, cutoff) is False
    store.put_many([(digest, data), (_h(b"x"), b"x")])  # and re-storing after deletion writes it again
    assert store.get(digest) == data


def test_a_block_whose_bytes_changed_on_disk_is_refused_not_returned(tmp_path: Path) -> None:
    store = DiskBlockStore(tmp_path)
    data = os.urandom(3000)
    store.put(_h(data), data)
    path = tmp_path / _h(data)[:2] / _h(data)[2:4] / _h(data)
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one bit flipped
    with pytest.raises(BlockCorrupt, match=f"stored block {_h(data)} at {path} does not match its hash"):
        store.get(_h(data))
