"""The sync benchmark's measurements: ferry and its reference on the same data, as plain figures.

Ferry is always measured as a user meets it: real `ferryd` daemons driven by the `ferry` CLI against a real
ferry-server; "done" is judged by the server's change feed (the commit is visible to other devices) or by the
bytes on the other device's disk, never by the daemon's own word alone.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync_machine import FerryCpu, process_cpu_s
from sync_peer import Rclone
from sync_procs import Device, FerryServer, Sink, bin_path, wait_until

MIB = 1024 * 1024
FILES_PER_DIR = 1000


@dataclass(frozen=True)
class Sizes:
    small_files: int = 10_000
    small_size: int = 4096
    big_bytes: int = 1024 * MIB
    edits: int = 100
    idle_files: int = 100_000
    scale_files: int = 300_000


def write_tree(root: Path, count: int, size: int, seed: int) -> None:
    """`count` files of `size` distinct random bytes, FILES_PER_DIR to a folder (as a real tree is spread)."""
    rng = random.Random(seed)
    for i in range(count):
        d = root / f"d{i // FILES_PER_DIR:03d}"
        if i % FILES_PER_DIR == 0:
            d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:06d}.bin").write_bytes(rng.randbytes(size))


def write_big(path: Path, size: int) -> None:
    with path.open("wb") as f:
        left = size
        while left:
            n = min(left, 16 * MIB)
            f.write(os.urandom(n))
            left -= n


def settle() -> None:
    """Flush the page cache's dirty data before a timed step, so no step pays for the preparation's writes
    (ferry-server fsyncs what it stores; syncfs(2) and fsync would otherwise flush the bench's files too)."""
    os.sync()


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


def ferry_cpu(dev: Device, server: FerryServer) -> FerryCpu:
    """The CPU meter of a transfer case's timed window: the daemon that moves the files and the server."""
    assert server.proc is not None
    return FerryCpu({"daemon": dev.pid, "server": server.proc.pid})


def _account_files(server: FerryServer) -> int:
    return int(server.account()["files"])


def small_files(base: Path, dev: Device, server: FerryServer, rclone: Rclone, sizes: Sizes) -> dict[str, Any]:
    """First upload of many small files: `ferry folder add` on a full folder vs `rclone copy` of it."""
    n = sizes.small_files
    src = base / "small-src"
    write_tree(src, n, sizes.small_size, seed=1)
    shutil.copytree(src, dev.base / "small-ferry")
    settle()
    cursor = server.cursor()
    cpu = ferry_cpu(dev, server)  # the timed window starts
    dev.ferry("folder", "add", str(dev.base / "small-ferry"), "--remote", "/small")
    server.wait_live(cursor, lambda e: str(e["path"]).startswith("small/"), n, 1800)
    ferry_s, ferry_cpu_s = cpu.stop()
    dev.wait(600)
    settle()
    peer = rclone.copy(src, "small")
    if peer.files != n:
        raise RuntimeError(f"rclone copied {peer.files} files, not {n}")
    return {
        "files": n,
        "file_bytes": sizes.small_size,
        "ferry_s": round(ferry_s, 2),
        "ferry_files_per_s": round(n / ferry_s, 1),
        "rclone_s": round(peer.seconds, 2),
        "rclone_files_per_s": round(n / peer.seconds, 1),
        "ferry_speedup_vs_rclone": _ratio(peer.seconds, ferry_s),
        "ferry_cpu": ferry_cpu_s,
        "rclone_cpu": peer.cpu,
        "ferry_measured": "`ferry folder add` of the full folder -> the server's change feed has every file",
    }


def _rclone_to_disk(rclone: Rclone, src: Path, dest: Path) -> float:
    r = rclone.copy(src, str(dest), local_dest=True)
    return r.seconds


def durable_write_s(src: Path, dest: Path, block: int = 1280 * 1024) -> float:
    """`src` rewritten as one file per ~chunk-sized block, each fsynced: a durable block store's floor."""
    dest.mkdir()
    t0 = time.perf_counter()
    with src.open("rb") as f:
        i = 0
        while data := f.read(block):
            fd = os.open(dest / f"b{i:06d}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            i += 1
    seconds = time.perf_counter() - t0
    shutil.rmtree(dest)
    return seconds


def big_file(
    base: Path, dev: Device, server: FerryServer, rclone: Rclone, sink: Sink, sizes: Sizes
) -> dict[str, Any]:
    """One big file: ferry and rclone beside two loopback references (an HTTP sink and a local-disk copy)."""
    size = sizes.big_bytes
    src = base / "big-src"
    src.mkdir()
    write_big(src / "big.bin", size)
    folder = dev.base / "big-ferry"
    folder.mkdir()
    shutil.copyfile(src / "big.bin", folder / "big.bin")
    mb = size / 1e6
    settle()
    sink_s = sink.put_file(src / "big.bin")
    sink_blocks_s = sink.put_blocks(src / "big.bin")
    disk_s = _rclone_to_disk(rclone, src, base / "big-disk")
    shutil.rmtree(base / "big-disk")
    settle()
    fsync_s = durable_write_s(src / "big.bin", base / "big-fsync")
    settle()
    cursor = server.cursor()
    cpu = ferry_cpu(dev, server)  # the timed window starts
    dev.ferry("folder", "add", str(folder), "--remote", "/big")
    server.wait_committed(cursor, "big/big.bin", size, 1800)
    ferry_s, ferry_cpu_s = cpu.stop()
    dev.wait(600)
    settle()
    peer = rclone.copy(src, "big")
    return {
        "bytes": size,
        "ferry_s": round(ferry_s, 2),
        "ferry_MBps": round(mb / ferry_s, 1),
        "rclone_s": round(peer.seconds, 2),
        "rclone_MBps": round(mb / peer.seconds, 1),
        "loopback_http_put_MBps": round(mb / sink_s, 1),
        "loopback_http_1.25MiB_puts_x4_MBps": round(mb / sink_blocks_s, 1),
        "rclone_to_local_disk_MBps": round(mb / disk_s, 1),
        "disk_fsynced_blocks_MBps": round(mb / fsync_s, 1),
        "ferry_vs_loopback": _ratio(sink_s, ferry_s),
        "ferry_vs_rclone": _ratio(peer.seconds, ferry_s),
        "ferry_vs_disk_fsynced": _ratio(fsync_s, ferry_s),
        "ferry_cpu": ferry_cpu_s,
        "rclone_cpu": peer.cpu,
        "ferry_measured": "`ferry folder add` -> the commit appears in the server's change feed (includes "
        "scan, chunking and hashing)",
        "loopback_measured": "one streamed HTTP PUT of the file to a bare uvicorn sink on 127.0.0.1",
        "disk_measured": "the file rewritten as 1.25 MiB files, each fsynced (a durable block store's floor)",
    }


def _edit_in_place(path: Path, offset: int) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        old = f.read(1)
        f.seek(offset)
        f.write(bytes([old[0] ^ 0xFF]))


def _insert_byte(path: Path, offset: int, staging: Path) -> None:
    """What an editor does: write the new content beside, then rename it over the file."""
    tmp = staging / (path.name + ".new")
    with path.open("rb") as src, tmp.open("wb") as dst:
        left = offset
        while left:
            chunk = src.read(min(left, 16 * MIB))
            dst.write(chunk)
            left -= len(chunk)
        dst.write(b"\x42")
        shutil.copyfileobj(src, dst, 16 * MIB)
    os.replace(tmp, path)


def _ferry_change(
    dev: Device, server: FerryServer, path: Path, size_after: int, change: Any
) -> dict[str, Any]:
    settle()
    acct, blocks, cursor = server.account(), server.block_count(), server.cursor()
    t0 = time.perf_counter()
    change()
    server.wait_committed(cursor, "big/big.bin", size_after, 600)
    seconds = time.perf_counter() - t0
    dev.wait(600)
    sent = int(server.account()["blocks_bytes"]) - int(acct["blocks_bytes"])
    return {
        "ferry_bytes_sent": sent,
        "ferry_chunks_sent": server.block_count() - blocks,
        "ferry_s": round(seconds, 2),
    }


def edits(base: Path, dev: Device, server: FerryServer, rclone: Rclone, sizes: Sizes) -> dict[str, Any]:
    """Bytes sent for a 1-byte in-place edit, then a 1-byte insertion, in the middle of the big file."""
    ferry_file, peer_file = dev.base / "big-ferry" / "big.bin", base / "big-src" / "big.bin"
    mid = sizes.big_bytes // 2
    out: dict[str, Any] = {}
    ferry = _ferry_change(dev, server, ferry_file, sizes.big_bytes, lambda: _edit_in_place(ferry_file, mid))
    _edit_in_place(peer_file, mid)
    settle()
    peer = rclone.copy(peer_file.parent, "big")
    out["one_byte_edit"] = {**ferry, "rclone_bytes_sent": peer.bytes, "rclone_s": round(peer.seconds, 2)}
    ferry = _ferry_change(
        dev, server, ferry_file, sizes.big_bytes + 1, lambda: _insert_byte(ferry_file, mid, base)
    )
    _insert_byte(peer_file, mid, base)
    settle()
    peer = rclone.copy(peer_file.parent, "big")
    out["one_byte_insert"] = {**ferry, "rclone_bytes_sent": peer.bytes, "rclone_s": round(peer.seconds, 2)}
    out["ferry_measured"] = (
        "growth of the server's blocks_bytes (GET /v1/account) and of the block files in "
        "its store; rclone's from its final JSON stats"
    )
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def propagation(a: Device, b: Device, server: FerryServer, sizes: Sizes, remote: str) -> dict[str, Any]:
    """Write on A, poll B's copy every 2 ms until it holds the new bytes; the feed splits the time."""
    name = "note.txt"
    fa, fb = a.base / f"prop-a-{remote}" / name, b.base / f"prop-b-{remote}" / name
    fa.parent.mkdir()
    fb.parent.mkdir()
    fa.write_bytes(b"start")
    a.ferry("folder", "add", str(fa.parent), "--remote", f"/{remote}")
    b.ferry("folder", "add", str(fb.parent), "--remote", f"/{remote}")
    wait_until(lambda: fb.exists() and fb.read_bytes() == b"start", 120, "the first note on B")
    a.wait(120)
    b.wait(120)
    total: list[float] = []
    up: list[float] = []
    rng = random.Random(7)
    for i in range(sizes.edits):
        content = f"edit {i}\n".encode() + rng.randbytes(4096 + i)
        cursor = server.cursor()
        seen: dict[str, float] = {}

        def watch(c: int = cursor, n: int = len(content), out: dict[str, float] = seen) -> None:
            server.wait_committed(c, f"{remote}/{name}", n, 120)
            out["at"] = time.perf_counter()

        t = threading.Thread(target=watch, daemon=True)
        t.start()
        time.sleep(0.01)  # a benchmark pause: let the feed watcher's long-poll reach the server
        t0 = time.perf_counter()
        fa.write_bytes(content)
        deadline = t0 + 120
        while True:
            try:
                if fb.read_bytes() == content:
                    break
            except FileNotFoundError:
                pass
            if time.perf_counter() > deadline:
                raise TimeoutError(f"edit {i} did not reach B within 120 s")
            time.sleep(0.002)
        done = time.perf_counter()
        t.join(120)
        total.append((done - t0) * 1000)
        if "at" in seen:
            up.append((seen["at"] - t0) * 1000)
    a.wait(120)
    b.wait(120)
    extra = sorted(p.name for p in fb.parent.iterdir() if p.name not in (name, ".ferry"))
    down = [t - u for t, u in zip(total, up, strict=False)] if len(up) == len(total) else []
    return {
        "edits": sizes.edits,
        "p50_ms": round(statistics.median(total), 1),
        "p99_ms": round(_pct(total, 0.99), 1),
        "min_ms": round(min(total), 1),
        "max_ms": round(max(total), 1),
        "a_write_to_server_commit_p50_ms": round(statistics.median(up), 1) if up else None,
        "server_commit_to_b_disk_p50_ms": round(statistics.median(down), 1) if down else None,
        "unexpected_files_on_b": extra[:5],
        "measured": "write on A (4 KiB file rewritten) -> B's file holds the new bytes (polled every 2 ms); "
        "split by the moment the server's change feed shows A's commit",
    }


def restart_until_idle(dev: Device) -> tuple[float, float]:
    """Stop the daemon and start it again: (seconds until it answers, seconds until `ferry wait` exits 0)."""
    dev.stop()
    settle()
    t0 = time.perf_counter()
    answer_s = dev.start()
    while True:
        r = subprocess.run(
            [bin_path("ferry"), "wait", "--timeout", "1200"],
            env=dev.env,
            capture_output=True,
            text=True,
            timeout=1300,
        )
        if r.returncode == 0:
            break
        if r.returncode != 3:  # 3: the daemon is not answering yet
            raise RuntimeError(f"ferry wait exited {r.returncode}: {r.stderr}")
        time.sleep(0.02)
    return answer_s, time.perf_counter() - t0


def first_sync(dev: Device, server: FerryServer, folder: Path, remote: str, n: int) -> tuple[float, float]:
    """`ferry folder add` of a full folder: (seconds until the server's feed lists all `n` files, seconds until
    the daemon also says it is idle)."""
    settle()
    cursor = server.cursor()
    t0 = time.perf_counter()
    dev.ferry("folder", "add", str(folder), "--remote", f"/{remote}")
    server.wait_live(cursor, lambda e: str(e["path"]).startswith(f"{remote}/"), n, 3000)
    server_s = time.perf_counter() - t0
    dev.wait(1200)
    return server_s, time.perf_counter() - t0


def idle_restart(base: Path, dev: Device, server: FerryServer, sizes: Sizes) -> dict[str, Any]:
    """Restart a daemon over many unchanged, synced files: how long until `ferry wait` says all is synced."""
    n = sizes.idle_files
    folder = dev.base / "idle-ferry"
    write_tree(folder, n, 32, seed=3)
    before = _account_files(server)
    _, initial_s = first_sync(dev, server, folder, "idle", n)
    answer_s, idle_s = restart_until_idle(dev)
    cpu = process_cpu_s(dev.pid)
    acct_after = _account_files(server)
    return {
        "files": n,
        "initial_sync_s": round(initial_s, 1),
        "initial_files_per_s": round(n / initial_s, 1),
        "restart_to_answering_s": round(answer_s, 2),
        "restart_to_idle_s": round(idle_s, 2),
        "daemon_cpu_s_until_idle": round(cpu, 2),
        "server_files_unchanged": acct_after == before + n,
        "measured": "ferryd started -> `ferry wait` exits 0 (synced and caught up with the server)",
    }
