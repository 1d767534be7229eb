"""What a data directory's local block store holds, read the way the server reads it (the hybrid store: packs for
small blocks, a file each for big ones), for tests that look behind the API."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ferrysync.server.blocks.hybrid import HybridBlockStore


def stored(data_dir: Path) -> set[str]:
    """Every block the store under `data_dir` holds (safe beside a running server: the packs' writer lock)."""
    store = HybridBlockStore(data_dir)
    try:
        return set(store.iter())
    finally:
        store.close()


def damage(data_dir: Path, digest: str) -> None:
    """Flip a byte of the stored copy of `digest` behind the server's back (disk rot, a bad restore)."""
    path = data_dir / "blocks" / digest[:2] / digest[2:4] / digest
    at = 0
    if not path.exists():
        with sqlite3.connect(data_dir / "packs" / "index.db") as db:
            pack, offset, length = db.execute("SELECT pack, offset, length FROM blocks WHERE hash = ?",
                                              (digest,)).fetchone()
        path, at = data_dir / "packs" / f"{pack:08d}.pack", offset + length // 2
    with path.open("r+b") as f:
        f.seek(at)
        byte = f.read(1)
        f.seek(at)
        f.write(bytes([byte[0] ^ 1]))
