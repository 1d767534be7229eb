"""ferry-server benchmark: batch commits, block throughput beside a trivial HTTP sink, long-poll wake-up latency.

`python bench/run.py server` starts a real ferry-server (and a sink) on loopback in a temp dir and prints JSON.
The sink is a bare ASGI app on the same uvicorn stack that reads the body and answers 201: the ceiling an
upload through HTTP on this machine can reach. A stored block must also be written and fsynced, so the upload
figure is also shown against sink + disk (write+fsync of the same bytes in the same directory tree).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import blake3
import requests

MIB = 1024 * 1024
SMALL_FILES = 1000
SMALL_SIZE = 2048
BIG_BLOCK = 4 * MIB
BIG_TOTAL = 128 * MIB
WAKE_ROUNDS = 40

SINK = str(Path(__file__).with_name("sink.py"))  # the loopback HTTP ceiling


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {proc.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def _bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def _session(url: str, user: str, password: str, device: str) -> requests.Session:
    r = requests.post(f"{url}/v1/login", json={"user": user, "password": password, "device_name": device}, timeout=30)
    r.raise_for_status()
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {r.json()['token']}"
    return s


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_batch_commit(url: str, s: requests.Session) -> dict[str, float]:
    blobs = [os.urandom(SMALL_SIZE) for _ in range(SMALL_FILES)]
    hashes = [blake3.blake3(b).hexdigest() for b in blobs]
    body = b"".join(d.encode() + struct.pack(">Q", len(b)) + b for d, b in zip(hashes, blobs, strict=True))
    ops = [{"op": "put", "path": f"small/{i:04d}.txt", "blocks": [d], "size": SMALL_SIZE, "mtime_ns": i,
            "executable": False, "base_rev": None} for i, d in enumerate(hashes)]

    def upload() -> None:
        s.post(f"{url}/v1/blocks/batch", data=body, timeout=120).raise_for_status()

    def commit() -> None:
        r = s.post(f"{url}/v1/commit", json={"ops": ops}, timeout=120)
        r.raise_for_status()
        assert all(x["ok"] for x in r.json()["results"])

    t_missing = _timed(lambda: s.post(f"{url}/v1/blocks/missing", json={"hashes": hashes}, timeout=60))
    t_upload = _timed(upload)
    t_commit = _timed(commit)
    return {"files": SMALL_FILES, "file_bytes": SMALL_SIZE, "missing_call_s": round(t_missing, 4),
            "batch_upload_s": round(t_upload, 4), "commit_s": round(t_commit, 4),
            "commit_files_per_s": round(SMALL_FILES / t_commit, 1),
            "end_to_end_files_per_s": round(SMALL_FILES / (t_missing + t_upload + t_commit), 1)}


def _disk_limit(blocks: list[bytes], where: Path) -> float:
    """Seconds to write and fsync the blocks into `where`: the durability cost every stored block pays."""
    t0 = time.perf_counter()
    for i, b in enumerate(blocks):
        with (where / f"b{i}").open("wb") as f:
            f.write(b)
            f.flush()
            os.fsync(f.fileno())
    elapsed = time.perf_counter() - t0
    for i in range(len(blocks)):
        (where / f"b{i}").unlink()
    return elapsed


def bench_blocks(url: str, s: requests.Session, sink_url: str, scratch: Path) -> dict[str, float]:
    blocks = [os.urandom(BIG_BLOCK) for _ in range(BIG_TOTAL // BIG_BLOCK)]
    hashes = [blake3.blake3(b).hexdigest() for b in blocks]
    sink = requests.Session()

    def up() -> None:
        for d, b in zip(hashes, blocks, strict=True):
            s.put(f"{url}/v1/blocks/{d}", data=b, timeout=120).raise_for_status()

    def down() -> None:
        for d in hashes:
            r = s.get(f"{url}/v1/blocks/{d}", timeout=120)
            r.raise_for_status()
            assert len(r.content) == BIG_BLOCK

    def to_sink() -> None:
        for b in blocks:
            sink.put(f"{sink_url}/sink", data=b, timeout=120).raise_for_status()

    mb = BIG_TOTAL / MIB
    t_sink, t_up, t_down = _timed(to_sink), _timed(up), _timed(down)
    t_disk = _disk_limit(blocks, scratch)
    # Each upload is received, then written+fsynced, one after the other: the serial limit is the sum of both.
    return {"bytes": BIG_TOTAL, "block_size": BIG_BLOCK, "upload_MBps": round(mb / t_up, 1),
            "download_MBps": round(mb / t_down, 1), "sink_upload_MBps": round(mb / t_sink, 1),
            "disk_write_fsync_MBps": round(mb / t_disk, 1),
            "sink_plus_disk_MBps": round(mb / (t_sink + t_disk), 1),
            "upload_vs_sink_plus_disk": round((t_sink + t_disk) / t_up, 2)}


def bench_wake(url: str, poller: requests.Session, writer: requests.Session) -> dict[str, Any]:
    digest = blake3.blake3(b"tick").hexdigest()
    writer.put(f"{url}/v1/blocks/{digest}", data=b"tick", timeout=30).raise_for_status()
    latencies: list[float] = []
    rev: int | None = None
    for _ in range(WAKE_ROUNDS):
        now = poller.get(f"{url}/v1/changes/wait", params={"cursor": 0, "timeout": 0}, timeout=30)
        cursor = int(now.json()["cursor"])
        woke: dict[str, float] = {}
        parked = threading.Event()

        def poll(c: int = cursor, out: dict[str, float] = woke, ready: threading.Event = parked) -> None:
            ready.set()
            poller.get(f"{url}/v1/changes/wait", params={"cursor": c, "timeout": 30}, timeout=60)
            out["at"] = time.perf_counter()

        t = threading.Thread(target=poll)
        t.start()
        parked.wait()
        time.sleep(0.05)  # let the request reach the server and park (a benchmark pause, not a test wait)
        sent = time.perf_counter()
        op = {"op": "put", "path": "tick", "blocks": [digest], "size": 4, "mtime_ns": 0, "executable": False,
              "base_rev": rev}
        res = writer.post(f"{url}/v1/commit", json={"ops": [op]}, timeout=30).json()["results"][0]
        rev = res["entry"]["rev"]
        t.join()
        latencies.append((woke["at"] - sent) * 1000)
    latencies.sort()
    return {"rounds": WAKE_ROUNDS, "p50_ms": round(statistics.median(latencies), 2),
            "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 2),
            "max_ms": round(latencies[-1], 2), "measured": "commit request sent -> long-poll response received"}


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="ferry-server-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        data, port, sink_port = tmp / "data", _free_port(), _free_port()
        subprocess.run([_bin("ferry-server"), "user", "add", "bench", "--password-stdin", "--data", str(data)],
                       input=b"bench-pw", check=True, capture_output=True)
        log = (tmp / "server.log").open("wb")
        procs.append(subprocess.Popen([_bin("ferry-server"), "serve", "--data", str(data), "--port", str(port)],
                                      stdout=log, stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen([sys.executable, SINK, str(sink_port)]))
        url, sink_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sink_port}"
        _wait_http(f"{url}/v1/health", procs[0])
        _wait_http(sink_url, procs[1])
        a = _session(url, "bench", "bench-pw", "device-a")
        b = _session(url, "bench", "bench-pw", "device-b")
        result = {"suite": "server", "cpus": os.cpu_count(),
                  "batch_commit": bench_batch_commit(url, a),
                  "blocks": bench_blocks(url, a, sink_url, tmp),
                  "long_poll_wake": bench_wake(url, b, a)}
        print(json.dumps(result, indent=2))
        return 0
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
