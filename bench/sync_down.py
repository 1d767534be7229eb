"""The sync benchmark's download cases: what another device already uploaded, onto a fresh device's disk.

A fresh device (its own FERRY_HOME, daemon already running and logged in) adds an empty folder bound to the
server folder; "done" is judged on its disk alone: every file present under its final name with its size (the
daemon writes a temp file and renames it into place, so a final name means a whole file). The bytes are
compared with the source afterwards, outside the timed part. Beside it, rclone copies the same bytes back out
of SeaweedFS's S3 into a local dir, and for the big file one streamed HTTP GET from the bare sink is the limit.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import time
from pathlib import Path
from typing import Any

from sync_cases import FILES_PER_DIR, Sizes, _ratio, ferry_cpu, settle
from sync_peer import Rclone
from sync_procs import Device, FerryServer, Sink, wait_until


def _files_on_disk(folder: Path, n: int, size: int) -> Any:
    """A poll: True once `n` files of `size` bytes are in `folder`'s subfolders; dirs found full are not listed
    again, so the bench's own polling stays cheap beside the daemon it measures."""
    full: set[str] = set()
    counts: dict[str, int] = {}

    def check() -> bool:
        try:
            subdirs = [e for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")]
        except FileNotFoundError:
            return False
        for d in subdirs:
            if d.name in full:
                continue
            with os.scandir(d.path) as it:
                counts[d.name] = sum(1 for e in it if e.name.endswith(".bin") and e.stat().st_size == size)
            if counts[d.name] >= FILES_PER_DIR:
                full.add(d.name)
        return sum(counts.values()) >= n

    return check


def _create_floor_s(src: Path, dest: Path) -> float:
    """What this disk's metadata path alone costs for the same files: every file of `src` written to `dest` on one
    thread (created, written, closed; no fsync, no rename, no verification), its bytes read beforehand. Not a
    limit Ferry could reach — it must also fetch, verify, flush, name and record — but the floor beneath it."""
    files = [(Path(d).relative_to(src), name, (Path(d) / name).read_bytes())
             for d, _, names in os.walk(src) for name in names]
    t0 = time.perf_counter()
    made: set[Path] = set()
    for rel, name, data in files:
        folder = dest / rel
        if folder not in made:
            folder.mkdir(parents=True, exist_ok=True)
            made.add(folder)
        fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    seconds = time.perf_counter() - t0
    shutil.rmtree(dest)
    return seconds


def _durable_write_s(src: Path, dest: Path) -> float:
    """The same bytes written to one new file and fsynced: what landing them durably costs this disk."""
    t0 = time.perf_counter()
    with src.open("rb") as f, dest.open("wb") as out:
        shutil.copyfileobj(f, out, 8 * 1024 * 1024)
        out.flush()
        os.fsync(out.fileno())
    seconds = time.perf_counter() - t0
    dest.unlink()
    return seconds


def _same_tree(a: Path, b: Path) -> bool:
    """Every file of `a` is in `b` with the same bytes (the daemon's `.ferry` dir is not compared)."""
    for dirpath, _, files in os.walk(a):
        rel = Path(dirpath).relative_to(a)
        match, _, _ = filecmp.cmpfiles(dirpath, b / rel, files, shallow=False)
        if len(match) != len(files):
            return False
    return True


def small_files_down(base: Path, dev: Device, server: FerryServer, rclone: Rclone, sizes: Sizes,
                     remote: str) -> dict[str, Any]:
    """The small files another device uploaded, down to a fresh device vs `rclone copy` out of S3."""
    n = sizes.small_files
    src = base / "small-src"
    folder = dev.base / "small-down-ferry"
    folder.mkdir()
    settle()
    cpu = ferry_cpu(dev, server)  # the timed window starts
    dev.ferry("folder", "add", str(folder), "--remote", f"/{remote}")
    wait_until(_files_on_disk(folder, n, sizes.small_size), 1800, f"{n} files on {dev.name}'s disk", 0.05)
    ferry_s, ferry_cpu_s = cpu.stop()
    dev.wait(600)
    same = _same_tree(src, folder)
    settle()
    peer = rclone.copy_down(remote, base / "small-rclone-down")
    if peer.files != n:
        raise RuntimeError(f"rclone copied {peer.files} files down, not {n}")
    settle()
    floor_s = _create_floor_s(src, base / "small-create-floor")
    return {
        "files": n,
        "file_bytes": sizes.small_size,
        "ferry_s": round(ferry_s, 2),
        "ferry_files_per_s": round(n / ferry_s, 1),
        "rclone_s": round(peer.seconds, 2),
        "rclone_files_per_s": round(n / peer.seconds, 1),
        "ferry_speedup_vs_rclone": _ratio(peer.seconds, ferry_s),
        "ferry_bytes_match_source": same,
        "disk_create_floor_s": round(floor_s, 2),
        "disk_create_floor_files_per_s": round(n / floor_s, 1),
        "ferry_vs_create_floor": _ratio(floor_s, ferry_s),
        "ferry_cpu": ferry_cpu_s,
        "rclone_cpu": peer.cpu,
        "ferry_measured": "`ferry folder add` of an empty folder on a fresh device -> every file on its disk",
        "rclone_measured": "`rclone copy` of the same files out of SeaweedFS S3 into a local dir",
        "floor_measured": "the same files created, written and closed by one thread (no network, no flush): "
        "the disk's own cost of making them",
    }


def big_file_down(base: Path, dev: Device, server: FerryServer, rclone: Rclone, sink: Sink, sizes: Sizes,
                  remote: str) -> dict[str, Any]:
    """The big file down to a fresh device, beside one streamed GET of its bytes and `rclone copy` out of S3."""
    size = sizes.big_bytes
    src = base / "big-src" / "big.bin"
    folder = dev.base / "big-down-ferry"
    folder.mkdir()
    target = folder / "big.bin"
    mb = size / 1e6
    settle()
    sink_s = sink.get_file(src)
    settle()

    def arrived() -> bool:
        try:
            return target.stat().st_size == size
        except FileNotFoundError:
            return False

    cpu = ferry_cpu(dev, server)  # the timed window starts
    dev.ferry("folder", "add", str(folder), "--remote", f"/{remote}")
    wait_until(arrived, 1800, f"{target} on {dev.name}'s disk", 0.02)
    ferry_s, ferry_cpu_s = cpu.stop()
    dev.wait(600)
    same = filecmp.cmp(src, target, shallow=False)
    settle()
    peer = rclone.copy_down(remote, base / "big-rclone-down")
    settle()
    durable_s = _durable_write_s(src, base / "big-durable-floor.bin")
    return {
        "bytes": size,
        "ferry_s": round(ferry_s, 2),
        "ferry_MBps": round(mb / ferry_s, 1),
        "rclone_s": round(peer.seconds, 2),
        "rclone_MBps": round(mb / peer.seconds, 1),
        "loopback_http_get_MBps": round(mb / sink_s, 1),
        "ferry_vs_loopback": _ratio(sink_s, ferry_s),
        "ferry_vs_rclone": _ratio(peer.seconds, ferry_s),
        "ferry_bytes_match_source": same,
        "disk_durable_write_MBps": round(mb / durable_s, 1),
        "ferry_vs_durable_write": _ratio(durable_s, ferry_s),
        "ferry_cpu": ferry_cpu_s,
        "rclone_cpu": peer.cpu,
        "durable_write_measured": "the same bytes written to a new file and fsynced, by one thread: what landing "
        "them durably costs this disk, beneath any download",
        "ferry_measured": "`ferry folder add` of an empty folder on a fresh device -> the whole file on its disk "
        "under its name (downloaded, verified, renamed into place)",
        "loopback_measured": "one streamed HTTP GET of the same bytes from a bare uvicorn sink on 127.0.0.1",
    }
