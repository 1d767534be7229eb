"""Local change detection figures, each beside the limit measured on the same bytes in the same run.

`python bench/run.py scan` prints one JSON document:
- first scan + hash of 10,000 small files, and of one 1 GiB file, beside raw read + BLAKE3 of the same bytes;
- a stat-only rescan of 100,000 unchanged files beside a bare os.scandir + lstat walk of the same tree;
- event-to-journal latency (a file written -> its dirty row committed), quiet period 0;
- RSS and idle CPU of a watcher process (a subprocess running LocalObserver) with 100,000 files watched.
Caches are warm for both sides of each comparison (dropping them would disturb the whole machine).
Set FERRY_BENCH_DIR to choose the scratch directory (default: the system temp dir).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import blake3

from ferrysync.daemon.journal import Journal
from ferrysync.daemon.local.hasher import HashPool
from ferrysync.daemon.local.ignore import MARKER_NAME
from ferrysync.daemon.local.indexer import LocalIndexer
from ferrysync.daemon.local.marker import init_marker
from ferrysync.daemon.local.scanner import scan_folder
from ferrysync.daemon.local.watcher import FolderWatcher

FID = "bench"
SMALL_FILES = 10_000
SMALL_SIZE = 4096
BIG_SIZE = 1 << 30
MANY_FILES = 100_000
_READ = 8 << 20


def _make_files(root: Path, count: int, size: int, per_dir: int = 500) -> int:
    payload = os.urandom(size)
    for i in range(count):
        d = root / f"d{i // per_dir:04}"
        if i % per_dir == 0:
            d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:06}.bin").write_bytes(payload[: size - 8] + i.to_bytes(8, "little"))
    return count * size


def _raw_blake3(root: Path) -> tuple[float, int, int]:
    """Read every file once and BLAKE3 it whole, single thread: the floor any indexer pays."""
    t0 = time.perf_counter()
    n = total = 0
    for dirpath, dirs, files in os.walk(root):
        if dirpath == str(root):
            dirs.remove(MARKER_NAME)  # Ferry's own marker is not user data
        for name in files:
            h = blake3.blake3()
            with open(os.path.join(dirpath, name), "rb", buffering=0) as f:
                while chunk := f.read(_READ):
                    h.update(chunk)
                    total += len(chunk)
            h.digest()
            n += 1
    return time.perf_counter() - t0, n, total


def _index(journal: Journal, root: Path, pool: HashPool) -> float:
    t0 = time.perf_counter()
    scan_folder(journal, FID, root)
    LocalIndexer(journal, FID, root, pool).drain()
    return time.perf_counter() - t0


def _bare_walk(root: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    stack, n = [str(root)], 0
    while stack:
        with os.scandir(stack.pop()) as it:
            for de in it:
                de.stat(follow_symlinks=False)
                n += 1
                if de.is_dir(follow_symlinks=False):
                    stack.append(de.path)
    return time.perf_counter() - t0, n


def _fresh(base: Path, name: str) -> tuple[Path, Journal]:
    root = base / name
    root.mkdir()
    init_marker(root, FID)
    return root, Journal(base / f"{name}.db")


def bench_small(base: Path, pool: HashPool) -> dict[str, Any]:
    root, journal = _fresh(base, "small")
    size = _make_files(root, SMALL_FILES, SMALL_SIZE)
    raw_s, _, _ = _raw_blake3(root)
    ferry_s = _index(journal, root, pool)
    journal.close()
    return {
        "files": SMALL_FILES,
        "file_size": SMALL_SIZE,
        "ferry_files_per_s": round(SMALL_FILES / ferry_s),
        "ferry_MB_per_s": round(size / ferry_s / 1e6, 1),
        "limit_raw_read_blake3_files_per_s": round(SMALL_FILES / raw_s),
        "limit_raw_read_blake3_MB_per_s": round(size / raw_s / 1e6, 1),
    }


def bench_big(base: Path, pool: HashPool) -> dict[str, Any]:
    root, journal = _fresh(base, "big")
    block = os.urandom(_READ)
    with open(root / "one.bin", "wb") as f:
        for _ in range(BIG_SIZE // _READ):
            f.write(block)
    raw_s, _, total = _raw_blake3(root)
    ferry_s = _index(journal, root, pool)
    journal.close()
    return {
        "bytes": total,
        "ferry_MB_per_s": round(total / ferry_s / 1e6),
        "limit_raw_read_blake3_MB_per_s": round(total / raw_s / 1e6),
    }


def bench_many(base: Path, pool: HashPool) -> tuple[dict[str, Any], Path, Path]:
    root, journal = _fresh(base, "many")
    _make_files(root, MANY_FILES, 64)
    first_s = _index(journal, root, pool)
    rescans = []
    for _ in range(3):
        t0 = time.perf_counter()
        queued = scan_folder(journal, FID, root).queued
        rescans.append(time.perf_counter() - t0)
        assert not queued, "an unchanged tree must queue nothing"
    walks = [_bare_walk(root)[0] for _ in range(3)]
    journal.close()
    return (
        {
            "files": MANY_FILES,
            "first_scan_and_index_s": round(first_s, 2),
            "rescan_unchanged_s": round(min(rescans), 3),
            "limit_bare_scandir_lstat_walk_s": round(min(walks), 3),
        },
        root,
        base / "many.db",
    )


def bench_latency(base: Path) -> dict[str, Any]:
    root, journal = _fresh(base, "latency")
    watcher = FolderWatcher(journal, FID, root, quiet_period=0.0)
    watcher.start(initial_scan=False)
    samples = []
    try:
        for i in range(30):
            name = f"probe-{i}.txt"
            t0 = time.perf_counter()
            (root / name).write_text("x")
            while not any(d.path == name for d in journal.ready_dirty(time.time() + 1, 100, FID)):
                time.sleep(0.0005)
            samples.append((time.perf_counter() - t0) * 1000)
    finally:
        watcher.stop()
        journal.close()
    samples.sort()
    return {
        "samples": len(samples),
        "median_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 1),
        "note": "includes the watcher's 20 ms burst-coalescing window",
    }


_WATCHER_PROC = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from ferrysync.daemon.local.hasher import HashPool
    from ferrysync.daemon.journal import Journal
    from ferrysync.daemon.local.watcher import LocalObserver
    obs = LocalObserver(Journal(sys.argv[1]), sys.argv[3], Path(sys.argv[2]), HashPool())
    obs.start()
    while not (obs.watcher.scans and obs.idle()):
        time.sleep(0.1)
    print("ready", flush=True)
    sys.stdin.read()
    obs.stop()
""")


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_watcher_process(root: Path, db: Path, idle_s: float = 10.0) -> dict[str, Any]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _WATCHER_PROC, str(db), str(root), FID], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        t0 = time.perf_counter()
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        start_s = time.perf_counter() - t0
        cpu0 = _proc_cpu_s(proc.pid)
        time.sleep(idle_s)  # a benchmark measures over a fixed window
        cpu = (_proc_cpu_s(proc.pid) - cpu0) / idle_s
        rss = _proc_rss_mb(proc.pid)
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return {
        "files_watched": MANY_FILES,
        "startup_to_idle_s": round(start_s, 2),
        "rss_MB": round(rss, 1),
        "idle_cpu_percent": round(cpu * 100, 2),
        "idle_window_s": idle_s,
    }


def main() -> int:
    base = Path(tempfile.mkdtemp(prefix="ferry-scan-bench-", dir=os.environ.get("FERRY_BENCH_DIR")))
    result: dict[str, Any] = {"cpus": os.cpu_count()}
    try:
        with HashPool() as pool:
            result["hash_pool_workers"] = pool.workers
            result["small_files"] = bench_small(base, pool)
            result["one_big_file"] = bench_big(base, pool)
            (base / "big" / "one.bin").unlink()
            many, root, db = bench_many(base, pool)
            result["rescan"] = many
        result["event_to_journal_latency"] = bench_latency(base)
        result["watcher_process"] = bench_watcher_process(root, db)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
