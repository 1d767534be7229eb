"""Which store holds a data directory's blocks: DATA/packs and DATA/blocks together (hybrid, the default), or one.

The hybrid store (hybrid.py) reads both layouts, so it opens any data directory as it is: one written by an older
server with a file per block (DATA/blocks) or with `--blocks packed` (DATA/packs) needs no migration. The single
layouts stay available on request, but each sees only its own half: asking for one over a directory holding the
other (or both) is refused rather than serving 404s for every block the other half holds.
"""

from __future__ import annotations

from pathlib import Path

from ferrysync.server.blocks.base import BlockStore
from ferrysync.server.blocks.s3 import StoreUnavailable

HYBRID, DISK, PACKED = "hybrid", "disk", "packed"
KINDS = (HYBRID, DISK, PACKED)
# What --blocks means when not given, for new and existing data directories alike.
DEFAULT = HYBRID


class LayoutMismatch(StoreUnavailable):
    """The data directory already holds blocks in a layout the requested store cannot read."""


def existing_kind(data_dir: Path) -> str | None:
    packs, files = (data_dir / "packs").is_dir(), (data_dir / "blocks").is_dir()
    if packs and files:
        return HYBRID
    return PACKED if packs else DISK if files else None


def open_local(data_dir: Path, kind: str | None) -> BlockStore:
    """The store `kind` asks for (None: the hybrid store, which reads whatever the directory holds)."""
    found = existing_kind(data_dir)
    wanted = kind or DEFAULT
    if wanted == HYBRID:
        from ferrysync.server.blocks.hybrid import HybridBlockStore

        return HybridBlockStore(data_dir)
    if found is not None and found != wanted:
        raise LayoutMismatch(f"{data_dir} holds this server's blocks in the {found} layout, which --blocks {wanted} "
                             f"cannot read: start it without --blocks (the hybrid store reads every layout)")
    if wanted == PACKED:
        from ferrysync.server.blocks.packed import PackedBlockStore

        return PackedBlockStore(data_dir / "packs")
    from ferrysync.server.blocks.disk import DiskBlockStore

    return DiskBlockStore(data_dir / "blocks")
