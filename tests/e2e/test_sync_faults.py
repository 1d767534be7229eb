"""Faults: killed daemons mid-transfer, a restarted or unreachable server, a full disk. Nothing may be lost."""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from devices import Device, converge, same_trees, tree
from util import wait_until

MiB = 1024 * 1024


def write_random(path: Path, size: int) -> str:
    """A file of random bytes (incompressible), returning its SHA-256."""
    h = hashlib.sha256()
    with path.open("wb") as f:
        for _ in range(size // MiB):
            data = os.urandom(MiB)
            f.write(data)
            h.update(data)
    return h.hexdigest()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def partial_files(*devices: Device) -> list[str]:
    """Temp files or half-written targets a user would see in the folder (Ferry's own dir excluded)."""
    return [p for d in devices for p in tree(d.folder) if ".ferry-tmp" in p]


def server_blocks_bytes(server: object) -> int:
    token = server.login("alice", "alice-pw", "probe")  # type: ignore[attr-defined]
    r = requests.get(f"{server.url}/v1/account", headers={"Authorization": f"Bearer {token}"},  # type: ignore[attr-defined]
                     timeout=10)
    r.raise_for_status()
    return int(r.json()["blocks_bytes"])


def transferring(d: Device, direction: str) -> bool:
    return any(t["direction"] == direction and t["bytes_done"] > 0 for t in d.status()["transfers"])


def test_kill_during_upload_then_resume(make_device: Callable[..., Device], server: object) -> None:
    a = make_device("laptop")
    b = make_device("desktop")
    a.ferry("settings", "set", "upload_limit_kbps", "20000")  # ~20 MB/s: time to kill it mid-way
    digest = write_random(a.folder / "video.bin", 160 * MiB)
    wait_until(lambda: transferring(a, "up"), timeout=60, what="the upload to start")
    a.kill()
    a.start()
    a.ferry("settings", "set", "upload_limit_kbps", "0")
    wait_until(lambda: (b.folder / "video.bin").exists() and sha(b.folder / "video.bin") == digest,
               timeout=120, what="the file on the other device")
    converge(a, b)
    assert not partial_files(a, b)
    assert not [p for p in tree(a.folder) if "conflicted copy" in p]
    # resumed, not re-sent twice: the server holds about one copy of the bytes
    assert server_blocks_bytes(server) < 170 * MiB


def test_kill_during_download_then_resume(make_device: Callable[..., Device]) -> None:
    a = make_device("laptop")
    b = make_device("desktop")
    b.ferry("settings", "set", "download_limit_kbps", "20000")
    digest = write_random(a.folder / "archive.bin", 160 * MiB)
    wait_until(lambda: transferring(b, "down"), timeout=90, what="the download to start")
    b.kill()
    assert not (b.folder / "archive.bin").exists() or sha(b.folder / "archive.bin") == digest
    b.start()
    b.ferry("settings", "set", "download_limit_kbps", "0")
    wait_until(lambda: (b.folder / "archive.bin").exists(), timeout=120, what="the download to finish")
    assert sha(b.folder / "archive.bin") == digest
    converge(a, b)
    assert not partial_files(a, b)
    assert not [p for p in tree(b.folder) if "conflicted copy" in p]


def test_big_file_edit_sends_about_one_chunk_and_rename_sends_none(
        make_device: Callable[..., Device], server: object) -> None:
    a = make_device("laptop")
    b = make_device("desktop")
    write_random(a.folder / "disk.img", 200 * MiB)
    converge(a, b, timeout=120)
    before = server_blocks_bytes(server)
    # On a slow link (2 MB/s: the whole file would take 100 s), the edit arrives in seconds, because the
    # downloading side reuses the chunks its own copy already has.
    b.ferry("settings", "set", "download_limit_kbps", "2000")
    with (a.folder / "disk.img").open("r+b") as f:
        f.seek(100 * MiB)
        f.write(b"\x00" if f.read(1) != b"\x00" else b"\x01")
    wait_until(lambda: sha(b.folder / "disk.img") == sha(a.folder / "disk.img"), timeout=45,
               what="the edit on the other device, fetching only the changed chunk")
    grown = server_blocks_bytes(server) - before
    assert 0 < grown <= 2 * 4 * MiB, f"a one-byte edit sent {grown} bytes"
    before = server_blocks_bytes(server)
    os.rename(a.folder / "disk.img", a.folder / "disk-renamed.img")
    wait_until(lambda: (b.folder / "disk-renamed.img").exists() and not (b.folder / "disk.img").exists(),
               timeout=60, what="the rename on the other device")
    assert server_blocks_bytes(server) == before


def test_server_restart_and_outage(make_device: Callable[..., Device], server: object) -> None:
    a = make_device("laptop")
    b = make_device("desktop")
    (a.folder / "before.txt").write_text("before")
    converge(a, b)
    server.stop()  # type: ignore[attr-defined]
    (a.folder / "during.txt").write_text("written while the server was down")
    (b.folder / "before.txt").write_text("edited while the server was down")
    wait_until(lambda: a.status()["state"] == "offline", timeout=30, what="laptop to say it is offline")
    assert "retrying" in a.status()["message"].lower() or a.status()["retry_in"] is not None
    server.start()  # type: ignore[attr-defined]
    converge(a, b, timeout=120)
    assert (b.folder / "during.txt").read_text() == "written while the server was down"
    assert (a.folder / "before.txt").read_text() == "edited while the server was down"


def test_full_disk_on_download_leaves_no_partial_file_and_retries(
        make_device: Callable[..., Device], tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs as a full disk")
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        a = make_device("laptop")
        b = make_device("desktop", folder=mnt / "Ferry")
        digest = write_random(a.folder / "too-big.bin", 24 * MiB)
        wait_until(lambda: any("full" in e["message"] for e in b.json("errors")["errors"]), timeout=90,
                   what="a clear disk-full error on the small disk")
        assert not (b.folder / "too-big.bin").exists()
        assert not partial_files(b)
        assert b.status()["errors"] >= 1
        subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
        wait_until(lambda: (b.folder / "too-big.bin").exists() and sha(b.folder / "too-big.bin") == digest,
                   timeout=120, what="the retried download once there is space")
        assert same_trees(a, b)
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


@pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs Linux prlimit")
def test_a_server_whose_disk_refuses_writes_loses_nothing_and_takes_everything_once_it_can(
        make_device: Callable[..., Device], server: object) -> None:
    """The operator's disk fills (here: RLIMIT_FSIZE on the real ferry-server, so every write of its files fails):
    uploads are refused with 503 `storage_full`, nothing is half-stored or recorded as sent, the device keeps every
    file, says that the server cannot store files (not "Syncing" for ever) and tries again; once the server's disk
    takes writes, every file arrives and both ends agree."""
    a = make_device("laptop")
    (a.folder / "before.txt").write_text("synced before")
    a.wait_synced()
    proc = server.proc  # type: ignore[attr-defined]
    hard = resource.prlimit(proc.pid, resource.RLIMIT_FSIZE)[1]
    resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (1, hard))
    try:
        for k in range(10):
            (a.folder / f"small-{k}.txt").write_text(f"small file {k}")
        digest = write_random(a.folder / "big.bin", 8 * MiB)
        wait_until(lambda: "The server cannot store files" in a.status()["message"], timeout=60,
                   what="the device to say the server cannot store files")
        status = a.status()
        assert status["state"] == "error"
        assert "nothing is lost" in status["message"]
        assert proc.poll() is None, "the server lives through a full disk"
    finally:
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (hard, hard))
    # `ferry wait` stops at an error: first the device's own retry, which clears it once a round goes through
    wait_until(lambda: a.status()["state"] != "error", timeout=90, what="the device to retry by itself")
    a.wait_synced(timeout=120)
    assert a.status()["message"] == "Up to date"
    assert a.json("errors")["errors"] == []
    b = make_device("desktop")
    converge(a, b, timeout=120)
    assert sha(b.folder / "big.bin") == digest
    assert all((b.folder / f"small-{k}.txt").read_text() == f"small file {k}" for k in range(10))
