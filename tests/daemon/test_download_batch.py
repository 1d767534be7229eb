"""Small files in batches: how they are grouped, and a download that lands from blocks fetched ahead."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_download import MemoryBlocks, data_of, downloader, temps

from ferrysync.daemon.engine.download_batch import BATCH_BLOCKS, BATCH_BYTES, RAMP, SMALL_FILE, batches, is_small
from ferrysync.daemon.model import Kind, RemoteEntry
from ferrysync.daemon.planner import Download
from ferrysync.daemon.remote.limits import MAX_FETCH_BYTES, MAX_HASHES_PER_FETCH


@pytest.fixture
def mem() -> MemoryBlocks:
    return MemoryBlocks()


def _dl(i: int, size: int, blocks: int = 1) -> Download:
    hashes = tuple(f"{i:032x}{j:032x}" for j in range(blocks))
    return Download(f"f{i}", RemoteEntry(f"f{i}", Kind.FILE, f"id{i}", 1, size=size, mtime_ns=0,
                                         executable=False, content_hash=None, blocks=hashes), None)


def test_batches_stay_within_the_servers_fetch_limits() -> None:
    assert BATCH_BYTES <= MAX_FETCH_BYTES
    assert BATCH_BLOCKS <= MAX_HASHES_PER_FETCH
    assert SMALL_FILE <= BATCH_BYTES  # a small file always fits a batch on its own


def test_batches_are_bounded_by_bytes_and_blocks_keep_order_and_never_split_a_file() -> None:
    files = [_dl(i, 4096) for i in range(3000)] + [_dl(3000 + i, SMALL_FILE, blocks=3) for i in range(9)]
    groups = batches(files)
    assert [d for g in groups for d in g] == files
    for g in groups:
        assert sum(d.remote.size for d in g) <= BATCH_BYTES
        assert sum(len(d.remote.blocks) for d in g) <= BATCH_BLOCKS
    # 4 KiB files: the block count binds first; the first batches ramp up, so the first files land sooner
    assert [len(g) for g in groups[:RAMP + 2]] == [BATCH_BLOCKS >> k for k in range(RAMP, 0, -1)] + [BATCH_BLOCKS] * 2
    assert batches([]) == []


def test_a_file_bigger_than_a_first_batch_is_a_batch_of_its_own() -> None:
    big = _dl(1, SMALL_FILE, blocks=BATCH_BLOCKS)
    files = [_dl(0, 4096), big, _dl(2, 4096)]
    assert batches(files) == [[files[0]], [big], [files[2]]]


def test_what_counts_as_small() -> None:
    assert is_small(_dl(0, 0, blocks=0).remote)
    assert is_small(_dl(1, SMALL_FILE).remote)
    assert not is_small(_dl(2, SMALL_FILE + 1).remote)


def test_a_download_lands_from_blocks_fetched_ahead_without_asking_the_server(mem: MemoryBlocks,
                                                                             tmp_path: Path) -> None:
    data = data_of(300_000, 7)
    entry = mem.add(data)
    ahead = {h: mem.blocks[h] for h in entry.blocks}
    res = downloader(mem).download(entry, tmp_path / "f.bin", still_matches=lambda: True, blocks=ahead,
                                   sync_dir=False)
    assert (tmp_path / "f.bin").read_bytes() == data
    assert mem.fetched == []
    assert sum(res.block_lengths) == len(data)
    assert temps(tmp_path) == []


def test_a_block_missing_from_what_was_fetched_ahead_is_fetched_alone(mem: MemoryBlocks, tmp_path: Path) -> None:
    data = data_of(3 * 1024 * 1024, 8)
    entry = mem.add(data)
    assert len(entry.blocks) > 1
    ahead = {h: mem.blocks[h] for h in entry.blocks[1:]}
    downloader(mem).download(entry, tmp_path / "f.bin", still_matches=lambda: True, blocks=ahead)
    assert (tmp_path / "f.bin").read_bytes() == data
    assert mem.fetched == [entry.blocks[0]]
