"""The download direction alone: a server filled through its API, then a fresh device's `ferry folder add` timed
until every byte is on its disk.

    python bench/download_bench.py small [N]      # N files of 4 KiB (default 10,000) -> files/s
    python bench/download_bench.py big [MIB]      # one file of MIB MiB (default 1,024), cut as the daemon cuts -> MB/s
    FERRY_DL_PROFILE=out.txt python bench/download_bench.py small   # py-spy (raw format) on the daemon meanwhile
    FERRY_DL_PROFILE_GIL=1 ...                     # ... sampling only the thread holding the GIL (Python's CPU)
    FERRY_DL_KEEP=1 ...                            # keep the temp dir (server and daemon logs)

Runs back to back: removing a run's temp dir slows the next run down. On this machine (ext4 mounted without a
journal) making a file took ~10x longer for a while after tens of thousands were removed (perf put 30 % of the
daemon's CPU in the kernel's `recently_deleted` inode scan). For a comparison, keep the dirs (FERRY_DL_KEEP=1) and
remove them afterwards.

The upload side is not timed (the blocks and commits go straight through the API), so the figure is the
daemon's download path and the server's read path only. Prints one JSON line, with the CPU the daemon and the
server used meanwhile, and the load average before and after: on a shared machine a figure is only as steady as
that load. `python bench/run.py sync` has the full comparison against rclone.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from sync_procs import Device, FerryServer, Procs, wait_until

from ferrysync.daemon.local.chunker import block_hash, chunk_bytes
from ferrysync.daemon.remote import RemoteClient
from ferrysync.daemon.remote.types import CommitOp, MkdirOp, PutOp

MTIME = 1_700_000_000_000_000_000
BATCH_BYTES = 8 * 1024 * 1024


def _seed(c: RemoteClient, files: dict[str, bytes]) -> None:
    ops: list[CommitOp] = [MkdirOp("bench")]
    pending: list[tuple[str, bytes]] = []
    size = 0
    for name, data in files.items():
        chunks = chunk_bytes(data) if len(data) > 64 * 1024 else None
        hashes = tuple(ch.hash for ch in chunks) if chunks else (block_hash(data),)
        pieces = [data[ch.offset:ch.offset + ch.length] for ch in chunks] if chunks else [data]
        for h, piece in zip(hashes, pieces, strict=True):
            pending.append((h, piece))
            size += len(piece)
            if size >= BATCH_BYTES:
                c.put_blocks_batch(pending)
                pending, size = [], 0
        ops.append(PutOp(f"bench/{name}", hashes, len(data), MTIME, False, None))
    if pending:
        c.put_blocks_batch(pending)
    c.commit(ops)


def _on_disk(folder: Path) -> tuple[int, int]:
    count = total = 0
    for d, dirs, files in os.walk(folder):
        dirs[:] = [x for x in dirs if x != ".ferry"]
        for f in files:
            count += 1
            total += os.stat(os.path.join(d, f)).st_size
    return count, total


def _arrived(folder: Path, n: int, want: int) -> bool:
    """A poll that stays cheap beside the daemon it measures: names are counted (no stat) until all `n` are
    there, and only then is every size added up (a temp is renamed to its final name only when whole)."""
    count = 0
    for _, dirs, files in os.walk(folder):
        dirs[:] = [x for x in dirs if x != ".ferry"]
        count += len(files)
    return count >= n and _on_disk(folder) == (n, want)


def _cpu_s(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds the process has used so far (Linux /proc; zeros elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def main() -> int:
    mode = sys.argv[1] if len(sys.argv) > 1 else "small"
    if mode not in ("small", "big"):
        print(__doc__, file=sys.stderr)
        return 2
    base = Path(tempfile.mkdtemp(prefix="ferry-dl-bench-"))
    procs = Procs()
    try:
        srv = FerryServer(procs, base / "srv").start()
        c = RemoteClient(srv.url)
        c.login(srv.user, srv.password, "seeder")
        if mode == "small":
            n = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
            _seed(c, {f"file{i:05d}.bin": os.urandom(4096) for i in range(n)})
        else:
            n = 1
            _seed(c, {"big.bin": os.urandom((int(sys.argv[2]) if len(sys.argv) > 2 else 1024) * 1024 * 1024)})
        want = sum(e.entry.size for p in c.iter_changes(0) for e in p.entries if e.entry.kind.value == "file")
        dev = Device(procs, "fresh", base)
        dev.login(srv)
        dev.start()
        dev.folder.mkdir()
        spy = None
        if os.environ.get("FERRY_DL_PROFILE"):
            spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--format", "raw",
                                    "--threads", "--nonblocking", "-r", "50", "-o", os.environ["FERRY_DL_PROFILE"],
                                    *(["--gil"] if os.environ.get("FERRY_DL_PROFILE_GIL") else []),
                                    *(["--idle"] if os.environ.get("FERRY_DL_PROFILE_IDLE") else []),
                                    "--pid", str(dev.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        # What seeding wrote is flushed now, not by the daemon's first syncfs inside the timed part (sync_bench.py's
        # settle() does the same).
        os.sync()
        load_before = os.getloadavg()
        cpu_before = _cpu_s(dev.pid)
        assert srv.proc is not None
        srv_before = _cpu_s(srv.proc.pid)
        t0 = time.perf_counter()
        dev.ferry("folder", "add", str(dev.folder), "--remote", "/bench")
        wait_until(lambda: _arrived(dev.folder, n, want), 3600, "every byte on the fresh device", 0.05)
        seconds = time.perf_counter() - t0
        cpu_after = _cpu_s(dev.pid)
        srv_after = _cpu_s(srv.proc.pid)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        print(json.dumps({"case": mode, "files": n, "bytes": want, "seconds": round(seconds, 2),
                          "files_per_s": round(n / seconds, 1), "MBps": round(want / seconds / 1e6, 1),
                          "daemon_user_cpu_s": round(cpu_after[0] - cpu_before[0], 2),
                          "daemon_system_cpu_s": round(cpu_after[1] - cpu_before[1], 2),
                          "server_cpu_s": round(sum(srv_after) - sum(srv_before), 2),
                          "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
                          "cpus": os.cpu_count()}))
        c.close()
    finally:
        procs.stop_all()
        if not os.environ.get("FERRY_DL_KEEP"):
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
