"""A big file's first upload alone: a fresh device's `ferry folder add` of a folder holding one file, timed until
the server's change feed shows its commit (scanning, cutting, hashing and sending included).

    python bench/upload_bench.py [MIB]               # one file of MIB MiB (default 1,024) -> MBps
    python bench/upload_bench.py [MIB] --split-cpus  # the server on one CPU, the daemon on the other
    FERRY_UP_PROFILE=out python bench/upload_bench.py   # py-spy (raw) of the server and the daemon: out.srv, out.dev

`--split-cpus` is the nearest this one machine comes to the usual set-up, the cloud on another machine: the daemon
reading and hashing the file no longer takes CPU from the server storing it (`taskset`, Linux). Prints one JSON
line: the seconds, MB/s, each process's user and system CPU seconds, and the load average before and after. Not in
`run.py` (the `sync` suite has the comparison with rclone and the loopback limit).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from download_bench import _cpu_s
from sync_procs import Device, FerryServer, Procs

CHUNK = 8 * 1024 * 1024


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    split = "--split-cpus" in sys.argv[1:]
    mib = int(args[0]) if args else 1024
    base = Path(tempfile.mkdtemp(prefix="ferry-up-bench-"))
    procs = Procs()
    spies: list[subprocess.Popen[bytes]] = []
    try:
        srv = FerryServer(procs, base / "srv").start()
        dev = Device(procs, "fresh", base)
        dev.login(srv)
        dev.start()
        dev.folder.mkdir()
        with (dev.folder / "big.bin").open("wb") as f:
            for _ in range(mib * 1024 * 1024 // CHUNK):
                f.write(os.urandom(CHUNK))
        os.sync()  # the timed step pays for no write made while preparing
        assert srv.proc is not None
        if split:
            for cpu, pid in (("1", srv.proc.pid), ("0", dev.pid)):  # every thread, present and future
                subprocess.run(["taskset", "-a", "-p", "-c", cpu, str(pid)], check=True, capture_output=True)
        if os.environ.get("FERRY_UP_PROFILE"):
            for name, pid in (("srv", srv.proc.pid), ("dev", dev.pid)):
                spies.append(subprocess.Popen(
                    [str(Path(sys.executable).parent / "py-spy"), "record", "--format", "raw", "--threads",
                     "--nonblocking", "-r", "100", "-o", f"{os.environ['FERRY_UP_PROFILE']}.{name}", "--pid",
                     str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            time.sleep(1)
        cursor = srv.cursor()
        load_before = os.getloadavg()
        srv_before, dev_before = _cpu_s(srv.proc.pid), _cpu_s(dev.pid)
        t0 = time.perf_counter()
        dev.ferry("folder", "add", str(dev.folder), "--remote", "/bench")
        srv.wait_committed(cursor, "bench/big.bin", mib * 1024 * 1024, 3600)
        seconds = time.perf_counter() - t0
        srv_after, dev_after = _cpu_s(srv.proc.pid), _cpu_s(dev.pid)
        for spy in spies:
            spy.send_signal(2)
            spy.wait(60)
        print(json.dumps({
            "case": "big_up", "split_cpus": split, "MiB": mib, "seconds": round(seconds, 2),
            "MBps": round(mib * 1.048576 / seconds, 1),
            "server_cpu_s": [round(a - b, 2) for a, b in zip(srv_after, srv_before, strict=True)],
            "daemon_cpu_s": [round(a - b, 2) for a, b in zip(dev_after, dev_before, strict=True)],
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "cpus": os.cpu_count()}))
        return 0
    finally:
        procs.stop_all()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
