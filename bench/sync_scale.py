"""The sync benchmark's scale case: many tiny files in one sync folder, and what the daemon costs at rest.

A fresh device syncs N files of 32 B (Maestral's users report 2.5 GiB of RSS at 300,000 files). Measured: the
first sync (`ferry folder add` -> the server's feed lists every file, and the daemon says it is idle), then a
restart (ferryd started -> `ferry wait` exits 0), the daemon's resident memory once idle, the CPU it uses while
idle over a window, and the journal's size on disk. Long at full size, so it runs only when asked
(`--only scale`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sync_cases import Sizes, first_sync, restart_until_idle, write_tree
from sync_machine import process_cpu_s
from sync_procs import Device, FerryServer

from ferrysync.daemon.paths import ferry_paths


def _status_kib(pid: int, key: str) -> int:
    """One `kB` field of /proc/PID/status (VmRSS: resident now, VmHWM: the peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/{pid}/status")


def _mb(kib: int) -> float:
    return round(kib * 1024 / 1e6, 1)


def journal_bytes(dev: Device) -> int:
    """The journal on disk: the database file with its write-ahead log and shared-memory index."""
    db = ferry_paths(dev.env).journal_file
    return sum(p.stat().st_size for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists())


def scale(dev: Device, server: FerryServer, sizes: Sizes, idle_window_s: float) -> dict[str, Any]:
    n = sizes.scale_files
    folder = dev.base / "scale-ferry"
    t0 = time.perf_counter()
    write_tree(folder, n, 32, seed=4)
    written_s = time.perf_counter() - t0
    server_s, first_s = first_sync(dev, server, folder, "scale", n)
    after_first = {"rss_mb": _mb(_status_kib(dev.pid, "VmRSS")), "peak_rss_mb": _mb(_status_kib(dev.pid, "VmHWM"))}
    answer_s, idle_s = restart_until_idle(dev)
    pid = dev.pid
    cpu_until_idle = process_cpu_s(pid)
    cpu0, w0 = process_cpu_s(pid), time.monotonic()
    time.sleep(idle_window_s)  # a benchmark window: the CPU an idle daemon takes over this long
    idle_cpu = (process_cpu_s(pid) - cpu0) / (time.monotonic() - w0)
    rss = _status_kib(pid, "VmRSS")
    return {
        "files": n,
        "file_bytes": 32,
        "write_files_s": round(written_s, 1),
        "first_sync_to_server_s": round(server_s, 1),
        "first_sync_s": round(first_s, 1),
        "first_sync_files_per_s": round(n / first_s, 1),
        "after_first_sync": after_first,
        "restart_to_answering_s": round(answer_s, 2),
        "restart_to_idle_s": round(idle_s, 2),
        "daemon_cpu_s_until_idle": round(cpu_until_idle, 2),
        "idle_rss_mb": _mb(rss),
        "peak_rss_mb_since_restart": _mb(_status_kib(pid, "VmHWM")),
        "idle_window_s": idle_window_s,
        "idle_cpu_s_per_s": round(idle_cpu, 4),
        "journal_mb": round(journal_bytes(dev) / 1e6, 1),
        "journal_bytes_per_file": round(journal_bytes(dev) / n),
        "measured": "first sync: `ferry folder add` -> the server's feed lists every file / `ferry wait` exits 0; "
        "restart: ferryd started -> `ferry wait` exits 0; then RSS (VmRSS) and CPU over the idle window",
    }
