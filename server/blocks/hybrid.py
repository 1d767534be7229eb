"""The default local store: small blocks in pack files (DATA/packs), big ones as a file each (DATA/blocks).

Why split by size: a small block costs a file store its create, rename and share of two filesystem flushes, which
dominate at 4 KiB (packs put 6-18x faster, bench/README.md `blockstore`); a big block's bytes dominate instead, a
file per block is then as fast or faster: with the 8 PUTs a client keeps in flight, files are flushed side by side
(ext4 groups their journal commits: 1.25 MiB blocks, 8 threads, 514-798 MB/s here) while appends to the one pack
take turns holding its lock through their flush (307-417 MB/s; one at a time the pack wins, 161-350 against
91-134 MB/s). And a deleted big file gives its space back at once, where a pack must be rewritten around it.
`SMALL_MAX` is the client's batch cut-off (blocks up to 1 MiB travel in `POST /v1/blocks/batch`): every batched
block lands in packs with one flush per batch, every PUT of a big file's chunk in a file of its own.

No migration: both halves are the stores they always were (disk.py, packed.py), so a data directory written by
`--blocks disk` (DATA/blocks only) or `--blocks packed` (DATA/packs only) opens as it is. A block is looked for in
the packs first (one index look-up), then as a file; a put of a block already stored in either half refreshes it
there (so garbage collection spares it) instead of writing it twice. Durability and crash recovery are each half's
own: a batch is acknowledged once its pack is flushed and indexed (packed.py), a big block once its file and
directory are fsynced (disk.py).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from pathlib import Path

from ferrysync.server.blocks.disk import DiskBlockStore
from ferrysync.server.blocks.packed import PACK_BYTES, PackedBlockStore

SMALL_MAX = 1024 * 1024  # blocks up to this many bytes go to packs, bigger ones to files


class HybridBlockStore:
    def __init__(self, data_dir: Path, small_max: int = SMALL_MAX, pack_bytes: int = PACK_BYTES) -> None:
        self.small_max = small_max
        self.packs = PackedBlockStore(data_dir / "packs", pack_bytes=pack_bytes)
        self.files = DiskBlockStore(data_dir / "blocks")

    def has(self, digest: str) -> bool:
        return self.packs.has(digest) or self.files.has(digest)

    def put(self, digest: str, data: bytes) -> None:
        self.put_many([(digest, data)])

    def put_many(self, items: list[tuple[str, bytes]]) -> None:
        todo = dict(items)
        small = [d for d, data in todo.items() if len(data) <= self.small_max]
        big = [d for d, data in todo.items() if len(data) > self.small_max]
        # A block stored by the other half (an older layout, or a cut-off since changed) is refreshed where it is.
        self.packs.put_many([(d, todo[d]) for d in self.files.refresh_many(small)])
        self.files.put_many([(d, todo[d]) for d in self.packs.refresh_many(big)])

    def get(self, digest: str) -> bytes:
        try:
            return self.packs.get(digest)
        except KeyError:
            return self.files.get(digest)

    def delete(self, digest: str) -> None:
        self.packs.delete(digest)
        self.files.delete(digest)

    def delete_if_older(self, digest: str, cutoff_s: float) -> bool:
        """Each half's test is atomic against its own refresh, and a put refreshes only the half holding the block."""
        in_packs = self.packs.delete_if_older(digest, cutoff_s)
        in_files = self.files.delete_if_older(digest, cutoff_s)
        return in_packs or in_files

    def iter(self) -> Iterator[str]:
        last = ""
        for digest in heapq.merge(self.packs.iter(), self.files.iter()):  # both yield in hash order
            if digest != last:
                yield digest
                last = digest

    def compact(self) -> int:
        return self.packs.compact()

    def close(self) -> None:
        self.packs.close()
