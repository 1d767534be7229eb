"""Sync benchmark: ferry daemons end to end, each figure beside rclone or the loopback limit, with its aim.

`python bench/run.py sync` (full sizes) or `python bench/sync_bench.py --quick`; sizes can also be set by
environment (FERRY_SYNC_BENCH_QUICK=1, FERRY_SYNC_BENCH_SMALL_FILES, _BIG_MIB, _EDITS, _IDLE_FILES, _SCALE_FILES) since
run.py passes no arguments. Everything runs on 127.0.0.1 in one temp dir that is removed at the end, with a
real ferry-server, real `ferryd` daemons and rclone into SeaweedFS's S3 gateway (rclone's strongest loopback
target here). Aims are printed beside the figures, never asserted: a benchmark measures, it does not judge.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import sync_cases as cases
import sync_down
import sync_scale
from sync_machine import CpuMeter, Profiler
from sync_peer import Rclone, Seaweed
from sync_procs import Device, FerryServer, Procs, Sink, bin_path

QUICK = cases.Sizes(small_files=1000, big_bytes=128 * cases.MIB, edits=20, idle_files=10_000, scale_files=20_000)
CASES = ("small", "small_down", "big", "big_down", "edits", "propagation", "idle", "scale")
DEFAULT_CASES = tuple(c for c in CASES if c != "scale")  # scale is long: only when asked (`--only scale`)
ENV = "FERRY_SYNC_BENCH_"


def parse_args(argv: list[str]) -> argparse.Namespace:
    env = os.environ
    p = argparse.ArgumentParser(prog="sync_bench", description="Ferry daemons end to end, beside rclone.")
    p.add_argument(
        "--quick",
        action="store_true",
        default=env.get(ENV + "QUICK", "") not in ("", "0"),
        help="small sizes: 1,000 files, 128 MiB, 20 edits, 10,000 idle files, 20,000 scale files",
    )
    p.add_argument("--small-files", type=int, default=_env_int("SMALL_FILES"))
    p.add_argument("--big-mib", type=int, default=_env_int("BIG_MIB"))
    p.add_argument("--edits", type=int, default=_env_int("EDITS"))
    p.add_argument("--idle-files", type=int, default=_env_int("IDLE_FILES"))
    p.add_argument("--scale-files", type=int, default=_env_int("SCALE_FILES"), help="files of the scale case")
    p.add_argument(
        "--idle-window",
        type=float,
        default=30.0,
        metavar="S",
        help="how long the scale case watches the idle daemon's CPU (default 30 s)",
    )
    p.add_argument(
        "--only",
        default=env.get(ENV + "ONLY", ",".join(DEFAULT_CASES)),
        help=f"comma-separated cases to run (of {','.join(CASES)}; default all but scale); "
        "small_down needs small, big_down and edits need big (each runs it first)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs, data) for a post-mortem")
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample the daemons and the server with py-spy during each case (collapsed stacks in DIR)",
    )
    p.add_argument(
        "--quiet-period",
        type=float,
        metavar="S",
        help="set every device's quiet_period_s (a diagnostic: the default is the daemon's own)",
    )
    args = p.parse_args(argv)
    unknown = set(args.only.split(",")) - set(CASES)
    if unknown:
        p.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    return args


def _env_int(name: str) -> int | None:
    raw = os.environ.get(ENV + name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{ENV}{name} must be a whole number, not {raw!r}") from None


def sizes_of(args: argparse.Namespace) -> cases.Sizes:
    s = QUICK if args.quick else cases.Sizes()
    if args.small_files is not None:
        s = replace(s, small_files=args.small_files)
    if args.big_mib is not None:
        s = replace(s, big_bytes=args.big_mib * cases.MIB)
    if args.edits is not None:
        s = replace(s, edits=args.edits)
    if args.idle_files is not None:
        s = replace(s, idle_files=args.idle_files)
    if args.scale_files is not None:
        s = replace(s, scale_files=args.scale_files)
    if min(s.small_files, s.big_bytes, s.edits, s.idle_files, s.scale_files) < 1:
        raise SystemExit("every size must be at least 1")
    return s


def _cpu_reach(case: dict[str, Any], aim_s: float) -> dict[str, Any]:
    """An aim's time beside the soonest ferry's CPU allowed. The CPU its processes spent in the case, spread over
    every core with no wait at all, is the soonest this code could have ended on this machine: when that is later
    than the aim's time, only spending less CPU, not overlapping better, can meet the aim here."""
    floor, aim = case["ferry_cpu"]["cpu_floor_s"], round(aim_s, 2)
    return {"aim_s": aim, "ferry_cpu_floor_s": floor, "reachable_at_this_cpu": floor <= aim}


def aims(r: dict[str, Any]) -> dict[str, Any]:
    """Each aim beside the figure it reads (None where that case did not run)."""
    out: dict[str, Any] = {}
    for case in ("small_files", "small_files_down"):
        if case in r:
            c = r[case]
            x = c["ferry_speedup_vs_rclone"]
            out[f"{case}_3x_rclone"] = {"aim": ">= 3.0", "got": x, "met": x is not None and x >= 3.0,
                                        **_cpu_reach(c, c["rclone_s"] / 3.0)}
    for case, disk in (("big_file", "disk_fsynced_blocks_MBps"), ("big_file_down", "disk_durable_write_MBps")):
        if case in r:
            c = r[case]
            x = c["ferry_vs_loopback"]
            # Every byte must be on the disk durably before it is acknowledged (server) or named (device): when
            # 0.6 of the loopback limit is faster than this disk writes durably, no store here can meet the aim.
            need = round(0.6 * c["loopback_http_put_MBps" if case == "big_file" else "loopback_http_get_MBps"], 1)
            out[f"{case}_0.6_of_loopback"] = {"aim": ">= 0.6", "got": x, "met": x is not None and x >= 0.6,
                                              "aim_MBps": need, "disk_durable_MBps": c[disk],
                                              "reachable_on_this_disk": need <= c[disk],
                                              **_cpu_reach(c, c["bytes"] / 1e6 / need)}
    if "edits" in r:
        for k in ("one_byte_edit", "one_byte_insert"):
            x = r["edits"][k]["ferry_chunks_sent"]
            out[f"{k}_at_most_2_chunks"] = {"aim": "<= 2", "got": x, "met": x <= 2}
    if "propagation" in r:
        x = r["propagation"]["p50_ms"]
        out["propagation_p50_under_0.5s"] = {"aim": "< 500 ms", "got": x, "met": x < 500}
        x = r["propagation"]["p99_ms"]
        out["propagation_p99_under_1.5s"] = {"aim": "< 1500 ms", "got": x, "met": x < 1500}
    if "scale" in r:
        sc = r["scale"]
        x = sc["restart_to_idle_s"]
        out["scale_restart_to_idle_under_10s"] = {"aim": "< 10 s", "got": x, "met": x < 10}
        x = sc["idle_rss_mb"]
        out["scale_idle_rss_under_200MB"] = {"aim": "< 200 MB", "got": x, "met": x < 200}
        x = sc["idle_cpu_s_per_s"]
        out["scale_idle_cpu_about_0"] = {"aim": "< 0.01 CPU-s/s", "got": x, "met": x < 0.01}
    return out


def run(tmp: Path, sizes: cases.Sizes, args: argparse.Namespace, procs: Procs) -> dict[str, Any]:
    only = set(args.only.split(","))
    server = FerryServer(procs, tmp / "server-data").start()
    seaweed = Seaweed(procs, tmp).start()
    rclone = Rclone(tmp / "rclone.log", seaweed.endpoint, server_pid=seaweed.pid)
    running: list[Device] = []

    def device(name: str) -> Device:
        d = Device(procs, name, tmp / "devices").login(server)
        if profiler is not None:
            d.on_spawn = partial(_attach_restarted, profiler, running)
        if args.quiet_period is not None:
            d.set_setting("quiet_period_s", args.quiet_period)
        d.start()
        running.append(d)
        return d

    profiler = Profiler(args.profile) if args.profile is not None else None
    a = device("a")
    result: dict[str, Any] = {}
    timings: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], dict[str, Any]]) -> None:
        if profiler is not None:
            assert server.proc is not None
            profiler.start(name, {"server": server.proc.pid, **{d.name: d.pid for d in running if d.proc}})
        t0 = time.perf_counter()
        meter = CpuMeter()
        try:
            result[name] = fn()
        finally:
            if profiler is not None:
                profiler.stop()
        result[name]["machine"] = meter.read()
        timings[name] = round(time.perf_counter() - t0, 1)
        print(f"sync bench: {name} done in {timings[name]} s", file=sys.stderr, flush=True)

    if "small" in only or "small_down" in only:
        timed("small_files", lambda: cases.small_files(tmp, a, server, rclone, sizes))
    if "small_down" in only:
        d = device("d")
        timed("small_files_down", lambda: sync_down.small_files_down(tmp, d, server, rclone, sizes, "small"))
        _retire(d, running)
    if "big" in only or "big_down" in only or "edits" in only:
        sink = Sink(procs, tmp / "sink.log").start()
        timed("big_file", lambda: cases.big_file(tmp, a, server, rclone, sink, sizes))
    if "big_down" in only:  # before edits change the file
        e = device("e")
        timed("big_file_down", lambda: sync_down.big_file_down(tmp, e, server, rclone, sink, sizes, "big"))
        _retire(e, running)
    if "edits" in only:
        timed("edits", lambda: cases.edits(tmp, a, server, rclone, sizes))
    if "propagation" in only:
        b = device("b")
        timed("propagation", lambda: cases.propagation(a, b, server, sizes, "prop"))
    if "idle" in only:
        c = device("c")
        timed("idle_restart", lambda: cases.idle_restart(tmp, c, server, sizes))
        _retire(c, running)
    if "scale" in only:
        s = device("s")
        timed("scale", lambda: sync_scale.scale(s, server, sizes, args.idle_window))
    result["seconds_per_case"] = timings
    return result


def _retire(dev: Device, running: list[Device]) -> None:
    """A device whose case is over stops, so its daemon does not share the CPUs with the next cases."""
    dev.stop()
    running.remove(dev)


def _attach_restarted(profiler: Profiler, running: list[Device], dev: Device) -> None:
    """A daemon restarted within a case is a new process: sample it too (first starts join later)."""
    if dev in running:
        profiler.attach(dev.name, dev.pid)


def _stop_on_signals() -> None:
    """SIGTERM, and SIGINT even when a non-interactive shell started the bench in the background (which leaves
    it ignored), end the run through its `finally`: every process it started is stopped."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def main(argv: list[str] | None = None) -> int:
    args = parse_args([] if argv is None else argv)
    _stop_on_signals()
    sizes = sizes_of(args)
    tmp = Path(tempfile.mkdtemp(prefix="ferry-sync-bench-"))
    procs = Procs()
    t0 = time.perf_counter()
    load = os.getloadavg()[0]
    try:
        figures = run(tmp, sizes, args, procs)
        out = {
            "suite": "sync",
            "quick": args.quick,
            "cpus": os.cpu_count(),
            "loadavg_1min_at_start": round(load, 2),
            "sizes": asdict(sizes),
            "quiet_period_s": args.quiet_period if args.quiet_period is not None else "daemon default",
            "peer": "rclone " + rclone_version() + " copy --transfers=32 into SeaweedFS S3 (weed server -s3) "
            "on 127.0.0.1: the stronger of rclone's loopback targets (webdav: ~31 files/s)",
            **figures,
            "aims": aims(figures),
            "total_s": round(time.perf_counter() - t0, 1),
        }
        print(json.dumps(out, indent=2))
        return 0
    finally:
        procs.stop_all()
        if args.keep:
            print(f"sync bench: kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def rclone_version() -> str:
    first = subprocess.run([bin_path("rclone"), "version"], capture_output=True, text=True).stdout.split(
        "\n"
    )[0]
    return first.removeprefix("rclone ").strip()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
