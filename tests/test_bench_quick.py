"""The sync benchmark at tiny sizes, so that it cannot rot between the full runs a person makes.

Nothing about speed is asserted (a benchmark measures, it does not judge): only that every case runs to its end
against the real peers (rclone into SeaweedFS's S3) and that the JSON it prints carries each case's figures and
aims, with the downloaded bytes matching the source."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CASES = ("small_files", "small_files_down", "big_file", "big_file_down", "edits", "propagation", "idle_restart",
         "scale")
PEERS = ("rclone", "weed", "ferryd", "ferry", "ferry-server")


def _missing_peers() -> list[str]:
    return [p for p in PEERS if not (BIN / p).exists() and shutil.which(p) is None]


@pytest.mark.timeout(240)
def test_quick_sync_bench_runs_every_case_and_prints_its_figures(tmp_path: Path) -> None:
    missing = _missing_peers()
    if missing:
        pytest.skip(f"the bench's peers are not installed ({', '.join(missing)}): pip install -e '.[bench]'")
    cmd = [sys.executable, str(ROOT / "bench" / "sync_bench.py"), "--quick", "--small-files", "200", "--big-mib", "8",
           "--edits", "3", "--idle-files", "1000", "--scale-files", "2000", "--idle-window", "1",
           "--only", "small,small_down,big,big_down,edits,propagation,idle,scale"]
    env = {**os.environ, "TMPDIR": str(tmp_path), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=220)
    assert r.returncode == 0, r.stderr[-4000:]
    out = json.loads(r.stdout)
    for case in CASES:
        assert case in out, f"{case} missing from the bench's JSON"
        assert out["seconds_per_case"][case] > 0
    assert out["small_files_down"]["ferry_bytes_match_source"] is True
    assert out["big_file_down"]["ferry_bytes_match_source"] is True
    assert out["small_files_down"]["ferry_speedup_vs_rclone"] > 0
    assert out["big_file_down"]["ferry_vs_loopback"] > 0
    assert out["scale"]["journal_mb"] > 0
    assert out["scale"]["idle_rss_mb"] > 0
    assert set(out["aims"]) >= {"small_files_3x_rclone", "small_files_down_3x_rclone", "big_file_0.6_of_loopback",
                                "big_file_down_0.6_of_loopback", "scale_restart_to_idle_under_10s",
                                "scale_idle_rss_under_200MB", "scale_idle_cpu_about_0"}
    assert all(isinstance(a["met"], bool) for a in out["aims"].values())
    for case in ("small_files", "small_files_down", "big_file", "big_file_down"):  # what ferry's processes spent
        cpu = out[case]["ferry_cpu"]
        assert cpu["daemon_cpu_s"] > 0, cpu
        assert cpu["server_cpu_s"] >= 0, cpu
        spent = cpu["daemon_cpu_s"] + cpu["server_cpu_s"]
        assert cpu["cpu_floor_s"] == pytest.approx(spent / (os.cpu_count() or 1), abs=0.02)
        peer = out[case]["rclone_cpu"]  # and what the peer spent on the same bytes, its store included
        assert peer["rclone_cpu_s"] > 0, peer
        assert peer["seaweedfs_cpu_s"] >= 0, peer
    for aim in (out["aims"][a] for a in ("small_files_3x_rclone", "small_files_down_3x_rclone",
                                         "big_file_0.6_of_loopback", "big_file_down_0.6_of_loopback")):
        # the aim's time beside the soonest ferry's CPU allows
        assert aim["reachable_at_this_cpu"] == (aim["ferry_cpu_floor_s"] <= aim["aim_s"])
    for case in ("big_file", "big_file_down"):  # the aim's speed beside what this disk writes durably
        aim = out["aims"][f"{case}_0.6_of_loopback"]
        assert aim["aim_MBps"] > 0
        assert aim["disk_durable_MBps"] > 0
        assert aim["reachable_on_this_disk"] == (aim["aim_MBps"] <= aim["disk_durable_MBps"])
    assert not list(tmp_path.glob("ferry-sync-bench-*")), "the bench left its temp dir behind"
