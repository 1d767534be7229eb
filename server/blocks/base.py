"""The BlockStore protocol: content-addressed bytes, shared by all users (access is decided in the metadata)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from ferrysync.server.hashing import block_hash


class BlockCorrupt(Exception):
    """A stored block's bytes no longer hash to its name (disk rot, a bad copy, someone editing the store)."""

    def __init__(self, digest: str, where: str) -> None:
        super().__init__(f"stored block {digest} at {where} does not match its hash")
        self.digest = digest
        self.where = where


def verified(digest: str, data: bytes, where: str) -> bytes:
    """`data` if it is the block `digest`; every store's `get` ends here, so wrong bytes are never served."""
    if block_hash(data) != digest:
        raise BlockCorrupt(digest, where)
    return data


class BlockStore(Protocol):
    """Callers verify the hash before `put`; `put` must be atomic (a crash never leaves a partial block)."""

    def has(self, digest: str) -> bool: ...

    def put(self, digest: str, data: bytes) -> None: ...

    def put_many(self, items: list[tuple[str, bytes]]) -> None:
        """Store many blocks; may amortise durability work (one flush for the lot) across them."""
        ...

    def get(self, digest: str) -> bytes:
        """Raise KeyError if absent, BlockCorrupt if the stored bytes do not hash to `digest`."""
        ...

    def delete(self, digest: str) -> None: ...

    def delete_if_older(self, digest: str, cutoff_s: float) -> bool:
        """Delete the block unless it was stored or re-stored (put of an existing block) after `cutoff_s`.

        Must be atomic with respect to `put` refreshing an existing block, so garbage collection cannot remove a
        block that an upload has just been told is stored.
        """
        ...

    def iter(self) -> Iterator[str]: ...

    def compact(self) -> int:
        """Give back the space of deleted blocks where deleting did not (repacking); returns the bytes freed."""
        ...


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in `path` durable (POSIX; elsewhere the rename itself is what there is)."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
