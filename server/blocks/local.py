"""Which store holds a data directory's blocks: DATA/blocks (a file per block) or DATA/packs (pack files).

A data directory keeps the store it was created with: blocks already stored in one layout are invisible to the
other, so asking for the other one is refused rather than serving 404s for every existing file.
"""

from __future__ import annotations

from pathlib import Path

from ferrysync.server.blocks.base import BlockStore
from ferrysync.server.blocks.s3 import StoreUnavailable

DISK, PACKED = "disk", "packed"
KINDS = (DISK, PACKED)
# What a data directory holding no blocks yet gets.
DEFAULT_FOR_NEW = DISK


class LayoutMismatch(StoreUnavailable):
    """The data directory already holds blocks in the other layout."""


def existing_kind(data_dir: Path) -> str | None:
    if (data_dir / "packs").is_dir():
        return PACKED
    if (data_dir / "blocks").is_dir():
        return DISK
    return None


def open_local(data_dir: Path, kind: str | None) -> BlockStore:
    """The store `kind` asks for (None: the one the directory has, or the default for a new one)."""
    found = existing_kind(data_dir)
    wanted = kind or found or DEFAULT_FOR_NEW
    if found is not None and found != wanted:
        other = data_dir / ("packs" if found == PACKED else "blocks")
        raise LayoutMismatch(f"{other} holds this server's blocks in the {found} layout: start it with --blocks "
                             f"{found} (or without --blocks)")
    if wanted == PACKED:
        from ferrysync.server.blocks.packed import PackedBlockStore

        return PackedBlockStore(data_dir / "packs")
    from ferrysync.server.blocks.disk import DiskBlockStore

    return DiskBlockStore(data_dir / "blocks")
