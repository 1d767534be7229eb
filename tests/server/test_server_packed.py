"""The packed block store beyond the conformance suite: repacking under readers, an index rebuilt from the packs,
and choosing it on the server's command line."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from blockstore_child import block
from srvapi import Api, Server, batch_body, ferry_server

from ferrysync.server.blocks.packed import PackedBlockStore
from ferrysync.server.hashing import block_hash


def _packs(root: Path) -> set[str]:
    return {p.name for p in root.glob("*.pack")}


def test_repacking_drops_dead_blocks_while_readers_keep_reading(tmp_path: Path) -> None:
    store = PackedBlockStore(tmp_path, pack_bytes=64 * 1024)
    blocks = [block(7, i) for i in range(200)]
    for i in range(0, len(blocks), 10):
        store.put_many(blocks[i:i + 10])
    live, dead = blocks[::4], [b for i, b in enumerate(blocks) if i % 4]
    for digest, _data in dead:
        store.delete(digest)
    before = _packs(tmp_path)
    size_before = sum((tmp_path / p).stat().st_size for p in before)
    errors: list[BaseException] = []
    reads = [0]
    compacting = threading.Event()
    compacting.set()

    def read() -> None:
        try:
            while compacting.is_set():
                for digest, data in live:
                    assert store.get(digest) == data
                    reads[0] += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for r in readers:
        r.start()
    try:
        freed = store.compact()
    finally:
        compacting.clear()
        for r in readers:
            r.join()
    assert errors == []
    assert reads[0] > 0
    assert freed > 0
    assert before - _packs(tmp_path), "no pack was dropped"
    assert sum(p.stat().st_size for p in tmp_path.glob("*.pack")) < size_before / 2
    reopened = PackedBlockStore(tmp_path)
    assert sorted(reopened.iter()) == sorted(d for d, _ in live)
    assert all(reopened.get(d) == data for d, data in live)


def test_the_index_is_rebuilt_from_the_packs_alone(tmp_path: Path) -> None:
    """A backup of the pack files without index.db (or a lost index) still serves every block."""
    store = PackedBlockStore(tmp_path, pack_bytes=32 * 1024)
    blocks = [block(8, i) for i in range(40)]
    store.put_many(blocks)
    store.put_many([block(8, 99)])
    store.close()
    for name in ("index.db", "index.db-wal", "index.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    rebuilt = PackedBlockStore(tmp_path)
    assert sorted(rebuilt.iter()) == sorted(d for d, _ in [*blocks, block(8, 99)])
    assert all(rebuilt.get(d) == data for d, data in blocks)


def test_a_server_started_with_blocks_packed_keeps_its_blocks_in_packs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = Server(data, extra_args=["--blocks", "packed"])
    server.start()
    try:
        server.add_user("alice", "alice-pw")
        alice = Api(server.url, server.login("alice", "alice-pw"), "alice")
        blobs = [os.urandom(4096) for _ in range(50)]
        r = alice.post("/v1/blocks/batch", data=batch_body(blobs))
        assert r.status_code == 200, r.text
        server.stop()
        server.extra_args = []  # restarted without --blocks: the hybrid store reads the packs as they are
        server.start()
        alice = Api(server.url, server.login("alice", "alice-pw"), "alice")
        assert all(alice.get(f"/v1/blocks/{block_hash(b)}").content == b for b in blobs)
    finally:
        server.stop()
    assert _packs(data / "packs")
    refused = ferry_server("gc", "--data", str(data), "--blocks", "disk")  # a file-per-block store cannot read packs
    assert refused.returncode == 1
    assert "which --blocks disk cannot read: start it without --blocks" in refused.stderr
