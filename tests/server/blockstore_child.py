"""A real process writing to a block store for the conformance suite, until it is killed or kills itself.

    python blockstore_child.py SPEC_JSON batches SEED BATCH   # put_many batches forever, printing each acknowledged
    python blockstore_child.py SPEC_JSON tear SEED            # one put whose write lands half-way, then SIGKILL

SPEC_JSON names the store (kind disk|packed|hybrid|s3 and where); `open_store` is also what the suite reopens it with.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
from pathlib import Path
from typing import Any

from ferrysync.server.blocks.base import BlockStore
from ferrysync.server.hashing import block_hash

TORN_SIZE = 1024 * 1024


def open_store(spec: dict[str, Any]) -> BlockStore:
    if spec["kind"] == "disk":
        from ferrysync.server.blocks.disk import DiskBlockStore

        return DiskBlockStore(Path(spec["root"]))
    if spec["kind"] == "hybrid":
        from ferrysync.server.blocks.hybrid import HybridBlockStore

        return HybridBlockStore(Path(spec["root"]), small_max=int(spec["small_max"]),
                                pack_bytes=int(spec["pack_bytes"]))
    if spec["kind"] == "packed":
        from ferrysync.server.blocks.packed import PackedBlockStore

        return PackedBlockStore(Path(spec["root"]), pack_bytes=int(spec.get("pack_bytes", 1 << 20)))
    from ferrysync.server.blocks.s3 import S3BlockStore, S3Location

    return S3BlockStore(S3Location.parse(spec["url"]), endpoint_url=spec["endpoint"])


def block(seed: int, i: int, size: int = 4096) -> tuple[str, bytes]:
    data = random.Random(f"{seed}-{i}").randbytes(size)
    return block_hash(data), data


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class _TornFile:
    """What os.fdopen gives the disk store here: the first write lands half its bytes, then the process dies."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __enter__(self) -> _TornFile:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)

    def write(self, data: bytes) -> int:
        os.write(self.fd, data[:len(data) // 2])
        _die()
        return 0

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        return self.fd


def _tear_writes() -> None:
    """Every file write the stores make (buffered through fdopen, or os.pwrite) lands half, then SIGKILL."""
    real_pwrite = os.pwrite

    def torn_pwrite(fd: int, data: Any, offset: int) -> int:
        real_pwrite(fd, bytes(data)[:len(data) // 2], offset)
        _die()
        return 0

    os.pwrite = torn_pwrite
    os.fdopen = lambda fd, *a, **k: _TornFile(fd)  # type: ignore[assignment]


def main(argv: list[str]) -> int:
    spec, mode, seed = json.loads(argv[0]), argv[1], int(argv[2])
    store = open_store(spec)
    if mode == "tear":
        digest, data = block(seed, 0, TORN_SIZE)
        _tear_writes()
        store.put(digest, data)
        return 3  # the write was not torn: the suite fails on this exit status
    size = int(argv[3])
    i = 0
    while True:
        store.put_many([block(seed, j) for j in range(i, i + size)])
        i += size
        print(f"acked {i}", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
