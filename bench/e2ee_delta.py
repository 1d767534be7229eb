"""Delta sync through encryption: what a 1-byte insert, a copy and a rename of a 50 MiB file cost the server,
in an encrypted folder beside the same edits in a plain one (issue 17).

In-process: a real `ferry-server` on 127.0.0.1, the daemon's real Uploader and RemoteClient; the encrypted folder's
client is daemon/remote/encrypted.py, exactly what ferryd uses. Figures are what the server stored: blocks and
bytes (from the client's counted puts, and GET /v1/account's blocks_bytes). Prints one JSON document.

    python bench/e2ee_delta.py            # 50 MiB
    FERRY_E2EE_BENCH_MIB=200 python bench/e2ee_delta.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferrysync.daemon.crypto import FolderKeys
from ferrysync.daemon.local.chunker import hash_file
from ferrysync.daemon.remote import MoveOp, RemoteClient
from ferrysync.daemon.remote.blockmap import BlockMap
from ferrysync.daemon.remote.client import Throttle
from ferrysync.daemon.remote.encrypted import EncryptedClient
from ferrysync.daemon.transfer import Uploader


class CountingClient(RemoteClient):
    """The real HTTP client, counting the blocks and bytes it stores on the server."""

    blocks = 0
    nbytes = 0

    def put_block(self, hash_: str, data: bytes, *, throttle: Throttle | None = None) -> int:
        self.blocks += 1
        self.nbytes += len(data)
        return super().put_block(hash_, data, throttle=throttle)

    def put_blocks_batch(self, blocks: Sequence[tuple[str, bytes]], *,
                         throttle: Throttle | None = None) -> list[str]:
        self.blocks += len(blocks)
        self.nbytes += sum(len(d) for _, d in blocks)
        return super().put_blocks_batch(blocks, throttle=throttle)


@dataclass
class Step:
    blocks: int
    bytes: int
    account_bytes: int
    seconds: float


def _step(inner: CountingClient, fn: Any) -> Step:
    b0, n0, a0, t0 = inner.blocks, inner.nbytes, inner.account().blocks_bytes, time.perf_counter()
    fn()
    return Step(inner.blocks - b0, inner.nbytes - n0, inner.account().blocks_bytes - a0,
                round(time.perf_counter() - t0, 3))


def measure(url: str, token: str, work: Path, *, encrypted: bool, mib: int = 50, seed: int = 17) -> dict[str, Any]:
    """Upload a `mib` MiB file, insert one byte in its middle, upload it as a copy, rename it: each step's cost."""
    inner = CountingClient(url, token)
    prefix = "Enc" if encrypted else "Plain"
    client: RemoteClient = inner
    if encrypted:
        keys = FolderKeys.from_master(os.urandom(16), os.urandom(32))
        client = EncryptedClient(inner, keys, prefix, BlockMap(":memory:"))
    uploader = Uploader(client)
    data = bytearray(__import__("random").Random(seed).randbytes(mib * 1024 * 1024))
    path = work / f"big-{prefix}.bin"
    path.write_bytes(data)
    rev: dict[str, int] = {}

    def put(remote: str) -> None:
        op = uploader.upload_file(path, f"{prefix}/{remote}", base_rev=rev.get(remote), digest=hash_file(path))
        (result,) = client.commit([op])
        if not result.ok or result.entry is None:
            raise RuntimeError(f"commit refused: {result}")
        rev[remote] = result.entry.entry.rev

    def move() -> None:
        (result,) = client.commit([MoveOp(f"{prefix}/big.bin", f"{prefix}/renamed.bin", rev["big.bin"])])
        if not result.ok:
            raise RuntimeError(f"move refused: {result}")

    out: dict[str, Any] = {"first_upload": _step(inner, lambda: put("big.bin")).__dict__}
    data[len(data) // 2:len(data) // 2] = b"!"
    path.write_bytes(data)
    out["insert_1_byte"] = _step(inner, lambda: put("big.bin")).__dict__
    out["copy_same_content"] = _step(inner, lambda: put("copy.bin")).__dict__
    out["rename"] = _step(inner, move).__dict__
    out["chunks_in_file"] = len(hash_file(path).chunks)
    inner.close()
    return out


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from util import ServerFactory  # the tests' real-server helper (free port, health wait, stop)

    mib = int(os.environ.get("FERRY_E2EE_BENCH_MIB", "50"))
    with tempfile.TemporaryDirectory(prefix="ferry-e2ee-bench-") as tmp:
        class _Tmp:
            def mktemp(self, name: str) -> Path:
                p = Path(tempfile.mkdtemp(prefix=name, dir=tmp))
                return p

        factory = ServerFactory(_Tmp())  # type: ignore[arg-type]
        try:
            server = factory.make()
            server.add_user("bench", "bench-pw")
            token = server.login("bench", "bench-pw", "bench")
            work = Path(tmp)
            report = {"file_mib": mib,
                      "plain": measure(server.url, token, work, encrypted=False, mib=mib),
                      "encrypted": measure(server.url, token, work, encrypted=True, mib=mib)}
        finally:
            for s in factory.started:
                s.stop()
    enc = report["encrypted"]
    report["aims"] = {
        "insert_grows_by_at_most_2_chunks": {"aim": "<= 2 chunk blocks + 1 file record",
                                             "got": enc["insert_1_byte"]["blocks"],
                                             "met": enc["insert_1_byte"]["blocks"] <= 3},
        "rename_grows_by_0": {"aim": 0, "got": enc["rename"]["blocks"], "met": enc["rename"]["blocks"] == 0},
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
