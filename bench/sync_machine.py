"""What the sync benchmark measures of the machine itself: py-spy profiles of ferry's processes during a case,
and the CPU *other* processes took meanwhile (on a shared machine, what makes a figure noisy)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from sync_procs import bin_path


class Profiler:
    """py-spy sampling the daemons and the server during a case: collapsed stacks (`--format raw`)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        self._spies: list[subprocess.Popen[bytes]] = []
        self.case = "setup"

    def start(self, case: str, targets: dict[str, int]) -> None:
        self.case = case
        for who, pid in targets.items():
            self.attach(who, pid)
        time.sleep(0.5)  # py-spy attaches asynchronously; a benchmark pause so the case start is sampled

    def attach(self, who: str, pid: int) -> None:
        """Sample one more process until `stop` (e.g. a daemon restarted within the case)."""
        cmd = [
            bin_path("py-spy"),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            "100",
            "--nonblocking",
            "--threads",
            "--output",
            str(self.out / f"{self.case}.{who}-{pid}.txt"),
        ]
        self._spies.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def stop(self) -> None:
        for spy in self._spies:
            spy.send_signal(signal.SIGINT)
        for spy in self._spies:
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()
        self._spies.clear()


def _jiffies(stat_line: str) -> int:
    """utime + stime + cutime + cstime of one /proc/PID/stat line (the fields after the command name)."""
    f = stat_line.rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])


def _own_jiffies() -> int:
    """CPU used by this process and every descendant, live or already reaped (reaped ones sit in cutime)."""
    me = os.getpid()
    parent: dict[int, int] = {}
    used: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            line = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        pid = int(entry.name)
        parent[pid] = int(line.rsplit(")", 1)[1].split()[1])
        used[pid] = _jiffies(line)
    total = used.get(me, 0)
    for pid in used:
        p = parent.get(pid, 0)
        while p > 1 and p != me:
            p = parent.get(p, 0)
        if p == me and pid != me:
            total += used[pid]
    return total


def _machine_jiffies() -> int:
    """Busy CPU time of the whole machine (every field of /proc/stat's `cpu` line but idle and iowait)."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(f) - f[3] - f[4]


class CpuMeter:
    """How busy the machine was with *other* work during a case: a shared machine makes figures noisy."""

    def __init__(self) -> None:
        self._start = (_machine_jiffies(), _own_jiffies(), time.monotonic())

    def read(self) -> dict[str, float]:
        machine, own, t0 = self._start
        tick = os.sysconf("SC_CLK_TCK")
        wall = time.monotonic() - t0
        other = max(0, (_machine_jiffies() - machine) - (_own_jiffies() - own)) / tick
        return {
            "bench_cpu_s": round((_own_jiffies() - own) / tick, 1),
            "other_processes_cpu_s": round(other, 1),
            "other_load_cpus": round(other / wall, 2) if wall > 0 else 0.0,
        }


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds one live process has used so far, all its threads together."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


class FerryCpu:
    """The CPU ferry's own processes used in a case's timed window.

    Why: on this 2-core machine the daemon and the server share the cores, so a case whose processes together
    need C CPU-seconds cannot end before C / cores, however well its stages overlap (`cpu_floor_s`). Beside the
    wall clock this says whether a figure is bound by work (`cores_busy` near the core count) or by waiting
    (the stages handing work to each other, the disk's flushes)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._start = {who: process_cpu_s(pid) for who, pid in pids.items()}
        self._t0 = time.perf_counter()  # the case's timed window: its wall clock and its CPU start together

    def stop(self) -> tuple[float, dict[str, float]]:
        """The window's seconds since construction, and the figures for it."""
        seconds = time.perf_counter() - self._t0
        used = {who: process_cpu_s(pid) - self._start[who] for who, pid in self._pids.items()}
        total = sum(used.values())
        return seconds, {
            **{f"{who}_cpu_s": round(s, 2) for who, s in used.items()},
            "cores_busy": cores_busy(total, seconds),
            "cpu_floor_s": round(total / (os.cpu_count() or 1), 2),
        }


def cores_busy(cpu_s: float, seconds: float) -> float:
    """How many cores `cpu_s` CPU-seconds kept busy on average over `seconds` of wall clock."""
    return round(cpu_s / seconds, 2) if seconds > 0 else 0.0
