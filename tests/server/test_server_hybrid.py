"""The default local block store (server/blocks/hybrid.py): small blocks in packs, big ones as files, and every data
directory an older server wrote (a file per block, or packs) read as it is, with no migration step."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from blockstore_child import block
from srvapi import Api, Server, batch_body, h

from ferrysync.server.blocks.disk import DiskBlockStore
from ferrysync.server.blocks.hybrid import HybridBlockStore
from ferrysync.server.blocks.packed import PackedBlockStore


def _files(root: Path) -> set[str]:
    return {p.name for p in root.rglob("*") if p.is_file() and p.parent.name != "tmp"}


def test_small_blocks_go_to_packs_and_big_ones_to_files(tmp_path: Path) -> None:
    store = HybridBlockStore(tmp_path, small_max=64 * 1024)
    small, big = block(1, 0, 64 * 1024), block(1, 1, 64 * 1024 + 1)
    store.put_many([small, big])
    assert _files(tmp_path / "blocks") == {big[0]}
    assert store.packs.has(small[0])
    assert not store.packs.has(big[0])
    assert store.get(small[0]) == small[1]
    assert store.get(big[0]) == big[1]


def test_data_dirs_of_either_older_layout_are_read_as_they_are(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    old_file, old_packed = block(2, 0), block(2, 1, 2 * 1024 * 1024)
    an_hour_ago = time.time() - 3600  # both written long ago, so a refresh shows however coarse the clock
    DiskBlockStore(tmp_path / "blocks").put(*old_file)  # small, yet a file: the old default layout
    for f in (tmp_path / "blocks").rglob("*"):
        if f.is_file():
            os.utime(f, (an_hour_ago, an_hour_ago))
    packed = PackedBlockStore(tmp_path / "packs")
    with monkeypatch.context() as m:
        m.setattr(time, "time", lambda: an_hour_ago)
        packed.put(*old_packed)  # big, yet in a pack: --blocks packed
    packed.close()
    store = HybridBlockStore(tmp_path)
    assert sorted(store.iter()) == sorted([old_file[0], old_packed[0]])
    assert store.get(old_file[0]) == old_file[1]
    assert store.get(old_packed[0]) == old_packed[1]
    cutoff = time.time() - 60
    # Stored again (an upload told it is stored): refreshed where it lies, not copied into the other half.
    store.put_many([old_file, old_packed])
    assert not store.packs.has(old_file[0])
    assert _files(tmp_path / "blocks") == {old_file[0]}
    assert not store.delete_if_older(old_file[0], cutoff)
    assert not store.delete_if_older(old_packed[0], cutoff)
    assert store.delete_if_older(old_file[0], time.time() + 1)
    assert store.delete_if_older(old_packed[0], time.time() + 1)
    assert list(store.iter()) == []


def test_a_server_keeps_batched_blocks_in_packs_and_a_big_put_in_a_file(tmp_path: Path) -> None:
    server = Server(tmp_path / "data").start()
    try:
        server.add_user("alice", "alice-pw")
        alice = Api(server.url, server.login("alice", "alice-pw"), "alice")
        small = [os.urandom(4096) for _ in range(20)]
        assert alice.post("/v1/blocks/batch", data=batch_body(small)).status_code == 200
        big = os.urandom(3 * 1024 * 1024)
        alice.upload(big)
        assert _files(tmp_path / "data" / "blocks") == {h(big)}
        server.stop()
        server.start()
        alice = Api(server.url, server.login("alice", "alice-pw"), "alice")
        assert all(alice.get(f"/v1/blocks/{h(b)}").content == b for b in [*small, big])
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["disk", "packed"])
def test_refresh_many_refreshes_what_its_half_holds_and_names_the_rest(tmp_path: Path, kind: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """What the hybrid store asks each half before it stores a batch in the other: the blocks the half holds are
    refreshed where they lie (collection spares them), the others come back, in the order asked, to be stored."""
    held, absent = block(3, 0), [block(3, i)[0] for i in (1, 2)]
    an_hour_ago = time.time() - 3600
    store: DiskBlockStore | PackedBlockStore
    if kind == "disk":
        store = DiskBlockStore(tmp_path / "blocks")
        store.put(*held)
        for f in (tmp_path / "blocks").rglob(held[0]):
            os.utime(f, (an_hour_ago, an_hour_ago))
    else:
        store = PackedBlockStore(tmp_path / "packs")
        with monkeypatch.context() as m:
            m.setattr(time, "time", lambda: an_hour_ago)
            store.put(*held)
    cutoff = time.time() - 60  # the held block is older than this until it is refreshed
    assert store.refresh_many([absent[1], held[0], absent[0]]) == [absent[1], absent[0]]
    assert not store.delete_if_older(held[0], cutoff)  # refreshed: spared
    assert store.delete_if_older(held[0], time.time() + 1)
    with pytest.raises(ValueError, match="not a block hash"):
        store.refresh_many(["../../etc/passwd"])
