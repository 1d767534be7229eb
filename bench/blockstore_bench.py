"""Block stores side by side: the disk store (a file per block), the packed store and the hybrid one (the default:
packs for blocks up to 1 MiB, so all of these), on the same 4 KiB blocks.

`python bench/run.py blockstore` prints JSON: for each store, put and get rates of 10,000 blocks of 4 KiB
in-process (put in batches of 1,000, as `POST /v1/blocks/batch` hands them over: one 4 MiB flush each), the
flushes (fsync, fdatasync, syncfs calls the store makes; SQLite's own are in its WAL checkpoints), and the same
blocks through a real ferry-server (10 batch uploads, then one GET per block for 2,000 of them).
FERRY_BENCH_DIR picks the disk.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import blake3
from server_bench import _bin, _free_port, _session, _wait_http

from ferrysync.server.blocks import disk as disk_module
from ferrysync.server.blocks import packed as packed_module
from ferrysync.server.blocks.base import BlockStore
from ferrysync.server.blocks.disk import DiskBlockStore
from ferrysync.server.blocks.hybrid import HybridBlockStore
from ferrysync.server.blocks.packed import PackedBlockStore

BLOCKS = int(os.environ.get("FERRY_BLOCKSTORE_BENCH_BLOCKS", "10000"))
SIZE = 4096
BATCH = 1000
HTTP_GETS = 2000  # one request per block costs ~4 ms here whatever the store: enough to compare


@contextmanager
def _counting_flushes() -> Iterator[dict[str, int]]:
    counts = {"fsync": 0, "fdatasync": 0, "syncfs": 0}
    real: dict[str, Any] = {"fsync": os.fsync, "fdatasync": getattr(os, "fdatasync", os.fsync),
                            "syncfs": disk_module._syncfs}

    def counted(name: str) -> Callable[[int], Any]:
        def call(fd: int) -> Any:
            counts[name] += 1
            return real[name](fd)
        return call

    os.fsync, os.fdatasync = counted("fsync"), counted("fdatasync")
    packed_module._datasync = counted("fdatasync")
    if real["syncfs"] is not None:
        disk_module._syncfs = counted("syncfs")  # type: ignore[assignment]
    try:
        yield counts
    finally:
        os.fsync, os.fdatasync = real["fsync"], real["fdatasync"]
        packed_module._datasync = real["fdatasync"]
        disk_module._syncfs = real["syncfs"]


def _in_process(store: BlockStore, blocks: list[tuple[str, bytes]]) -> dict[str, Any]:
    subprocess.run(["sync"], check=False)
    with _counting_flushes() as flushes:
        t0 = time.perf_counter()
        for i in range(0, len(blocks), BATCH):
            store.put_many(blocks[i:i + BATCH])
        put_s = time.perf_counter() - t0
    order = [d for d, _ in blocks]
    random.Random(1).shuffle(order)
    t0 = time.perf_counter()
    for digest in order:
        store.get(digest)
    get_s = time.perf_counter() - t0
    return {"put_blocks_per_s": round(len(blocks) / put_s), "get_blocks_per_s": round(len(blocks) / get_s),
            "put_MBps": round(len(blocks) * SIZE / put_s / 1e6, 1), "flushes": flushes}


def _over_http(kind: str, blocks: list[tuple[str, bytes]], where: Path) -> dict[str, Any]:
    data, port = where / f"http-{kind}", _free_port()
    subprocess.run([_bin("ferry-server"), "user", "add", "bench", "--password-stdin", "--data", str(data)],
                   input=b"bench-pw", check=True, capture_output=True)
    with (where / f"server-{kind}.log").open("wb") as log:
        proc = subprocess.Popen([_bin("ferry-server"), "serve", "--data", str(data), "--port", str(port),
                                 "--blocks", kind], stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/v1/health", proc)
        s = _session(url, "bench", "bench-pw", "bench")
        bodies = [b"".join(d.encode() + struct.pack(">Q", len(b)) + b for d, b in blocks[i:i + BATCH])
                  for i in range(0, len(blocks), BATCH)]
        subprocess.run(["sync"], check=False)
        t0 = time.perf_counter()
        for body in bodies:
            s.post(f"{url}/v1/blocks/batch", data=body, timeout=300).raise_for_status()
        put_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for digest, _ in blocks[:HTTP_GETS]:
            s.get(f"{url}/v1/blocks/{digest}", timeout=60).raise_for_status()
        get_s = time.perf_counter() - t0
        return {"batch_upload_blocks_per_s": round(len(blocks) / put_s),
                "get_blocks_per_s": round(min(HTTP_GETS, len(blocks)) / get_s)}
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="ferry-blockstore-bench-", dir=os.environ.get("FERRY_BENCH_DIR")))
    try:
        blocks = [(blake3.blake3(b).hexdigest(), b) for b in (os.urandom(SIZE) for _ in range(BLOCKS))]
        result: dict[str, Any] = {"suite": "blockstore", "blocks": BLOCKS, "block_bytes": SIZE, "batch": BATCH,
                                  "cpus": os.cpu_count(), "loadavg_1min_at_start": round(os.getloadavg()[0], 2)}
        stores: dict[str, Callable[[Path], BlockStore]] = {"disk": DiskBlockStore, "packed": PackedBlockStore,
                                                           "hybrid": HybridBlockStore}  # the default
        for kind, make in stores.items():
            print(f"blockstore bench: {kind}", file=sys.stderr)
            result[kind] = {"in_process": _in_process(make(tmp / kind), blocks),
                            "http": _over_http(kind, blocks, tmp)}
        result["packed_vs_disk"] = {
            "put": round(result["packed"]["in_process"]["put_blocks_per_s"]
                         / result["disk"]["in_process"]["put_blocks_per_s"], 2),
            "get": round(result["packed"]["in_process"]["get_blocks_per_s"]
                         / result["disk"]["in_process"]["get_blocks_per_s"], 2),
            "http_batch_upload": round(result["packed"]["http"]["batch_upload_blocks_per_s"]
                                       / result["disk"]["http"]["batch_upload_blocks_per_s"], 2)}
        print(json.dumps(result, indent=2))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
