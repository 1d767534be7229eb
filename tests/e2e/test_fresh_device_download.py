"""Downloads to a fresh device: many small files in batches, a big file in parallel pieces, a kill mid-batch.

The server is filled through its API (as another device would have), so each test times only the download.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import requests
from devices import Device, tree
from util import wait_until

from ferrysync.daemon.local.chunker import chunk_bytes
from ferrysync.daemon.remote import RemoteClient
from ferrysync.daemon.remote.types import MkdirOp, PutOp

MTIME = 1_700_000_000_000_000_000


def _seed(server: object, files: dict[str, bytes]) -> None:
    """Put `files` (path under /Shared -> content) on the server as a device of alice's would."""
    c = RemoteClient(server.url)  # type: ignore[attr-defined]
    c.login("alice", "alice-pw", "seeder")
    ops: list[MkdirOp | PutOp] = [MkdirOp("Shared")]
    pending: list[tuple[str, bytes]] = []
    for d in sorted({str(Path(p).parent) for p in files} - {"."}):
        ops.append(MkdirOp(f"Shared/{d}"))
    for path, data in files.items():
        chunks = chunk_bytes(data)
        for ch in chunks:
            pending.append((ch.hash, data[ch.offset:ch.offset + ch.length]))
            if sum(len(b) for _, b in pending) > 8 * 1024 * 1024:
                c.put_blocks_batch(pending)
                pending = []
        ops.append(PutOp(f"Shared/{path}", tuple(ch.hash for ch in chunks), len(data), MTIME, False, None))
    if pending:
        c.put_blocks_batch(pending)
    assert all(r.ok for r in c.commit(ops))
    c.close()


def _requests(server: object, method: str, route: str) -> int:
    """How many requests the server answered on `route` (its /metrics counters)."""
    text = requests.get(f"{server.url}/metrics", timeout=10).text  # type: ignore[attr-defined]
    pattern = rf'ferry_http_requests_total{{method="{method}",route="{re.escape(route)}",status="200"}} (\d+)'
    return sum(int(n) for n in re.findall(pattern, text))


def _arrived(folder: Path, files: dict[str, bytes]) -> bool:
    got = tree(folder)
    return all(got.get(p) == data for p, data in files.items())


def _half_written(folder: Path, files: dict[str, bytes]) -> list[str]:
    """Files a user can see that are not exactly the server's content (temp files included)."""
    return [p for p, data in tree(folder).items() if data is not None and files.get(p) != data]


def test_two_thousand_small_files_arrive_in_a_few_requests(make_device: Callable[..., Device],
                                                           server: object) -> None:
    files = {f"d{i % 7}/note-{i:04d}.txt": os.urandom(64 + i % 3000) for i in range(2000)}
    _seed(server, files)
    fresh = make_device("fresh")
    wait_until(lambda: _arrived(fresh.folder, files), timeout=180, what="2,000 files on the fresh device")
    assert not _half_written(fresh.folder, files)
    # Batched: a few dozen requests for the blocks, not one per file.
    assert _requests(server, "GET", "/v1/blocks/{digest}") < 20
    assert 0 < _requests(server, "POST", "/v1/blocks/fetch") <= 40
    fresh.wait_synced(timeout=60)  # and the journal agrees: nothing left to do, nothing uploaded back
    assert fresh.status()["pending_up"]["count"] == 0


def test_a_big_file_arrives_in_parallel_pieces(make_device: Callable[..., Device], server: object) -> None:
    data = os.urandom(20 * 1024 * 1024)
    blocks = len(chunk_bytes(data))
    assert blocks > 4
    _seed(server, {"big.bin": data, "small.txt": b"beside it"})
    fresh = make_device("fresh")
    wait_until(lambda: _arrived(fresh.folder, {"big.bin": data}), timeout=120, what="the big file")
    # Each block of the big file once, none twice, and one for the small file (alone, it needs no batch).
    assert _requests(server, "GET", "/v1/blocks/{digest}") == blocks + 1


def test_a_daemon_killed_mid_batch_converges_after_restart(make_device: Callable[..., Device],
                                                           server: object) -> None:
    files = {f"k/file-{i:04d}.bin": os.urandom(4096) for i in range(2000)}
    _seed(server, files)
    fresh = make_device("fresh", start=False)
    fresh.start()
    fresh.ferry("settings", "set", "download_limit_kbps", "800")  # ~8 MB in ~10 s: time to kill it mid-way
    fresh.add_folder()

    def some_but_not_all() -> bool:
        n = sum(1 for p, c in tree(fresh.folder).items() if c is not None)
        return 100 < n < len(files)

    wait_until(some_but_not_all, timeout=60, what="part of the files to land")
    fresh.kill()
    assert not _half_written(fresh.folder, files)  # every visible file is complete, no temp file shows
    fresh.start()
    fresh.ferry("settings", "set", "download_limit_kbps", "0")
    wait_until(lambda: _arrived(fresh.folder, files), timeout=120, what="the rest after the restart")
    fresh.wait_synced(timeout=60)
    assert not _half_written(fresh.folder, files)
    assert not [p for p in tree(fresh.folder) if "conflicted copy" in p]
