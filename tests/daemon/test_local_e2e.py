"""End to end on a real disk: big bursts, changes while stopped, kill -9 mid-scan and mid-hash."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from util import stop_process, wait_until

from ferrysync.daemon.journal import Journal
from ferrysync.daemon.local.hasher import HashPool
from ferrysync.daemon.local.indexer import LocalIndexer
from ferrysync.daemon.local.scanner import scan_folder
from ferrysync.daemon.local.watcher import LocalObserver

FID = "f1"  # the folder id the fixtures use


def test_twenty_thousand_files_at_once(
    journal: Journal, root: Path, start_observer: Callable[..., LocalObserver], lfs: Any
) -> None:
    obs = start_observer()
    wait_until(obs.idle, 10)
    t0 = time.monotonic()
    for d in range(40):
        sub = root / f"batch{d:02}" / "nested"
        sub.mkdir(parents=True)
        for i in range(500):
            (sub / f"file{i:03}.txt").write_bytes(b"%d-%d" % (d, i))
    lfs.wait_matches(journal, root, obs, timeout=90)
    assert journal.count(FID, "local") == 20_000 + 80
    assert time.monotonic() - t0 < 60
    # and a second wave: delete a quarter, rename a directory, modify some
    import shutil

    for d in range(10):
        shutil.rmtree(root / f"batch{d:02}")
    os.rename(root / "batch20", root / "batch39" / "nested" / "moved-here")
    for i in range(0, 500, 50):
        (root / "batch30" / "nested" / f"file{i:03}.txt").write_bytes(b"modified")
    lfs.wait_matches(journal, root, obs, timeout=60)


def test_changes_made_while_stopped_are_found_at_start(
    journal: Journal, root: Path, counting_pool: Any, start_observer: Callable[..., LocalObserver], lfs: Any
) -> None:
    for i in range(50):
        (root / f"f{i}.txt").write_text(str(i))
    obs = start_observer(pool=counting_pool)
    lfs.wait_matches(journal, root, obs)
    obs.stop()
    (root / "f1.txt").write_text("edited offline")
    (root / "f2.txt").unlink()
    os.rename(root / "f3.txt", root / "renamed-offline.txt")
    (root / "new-offline.txt").write_text("new")
    counting_pool.reads.clear()
    start_observer(pool=counting_pool)
    lfs.wait_matches(journal, root, obs)
    assert journal.get_local(FID, "f2.txt") is None
    assert sorted(counting_pool.reads) == ["f1.txt", "new-offline.txt"]  # the rename kept its digest


WORKER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from ferrysync.daemon.local.hasher import HashPool
    from ferrysync.daemon.local.indexer import LocalIndexer
    from ferrysync.daemon.journal import Journal
    from ferrysync.daemon.local.scanner import scan_folder
    journal, root = Journal(sys.argv[1]), Path(sys.argv[2])
    scan_folder(journal, "f1", root)
    print("scanned", flush=True)
    LocalIndexer(journal, "f1", root, HashPool()).drain()
    print("done", flush=True)
""")


def _run_worker(tmp_path: Path, root: Path, until: Callable[[Journal], bool]) -> None:
    """Run scan + index in a subprocess and kill -9 it once `until(journal)` holds."""
    db = tmp_path / "state" / "journal.db"
    proc = subprocess.Popen([sys.executable, "-c", WORKER, str(db), str(root)], stdout=subprocess.PIPE)
    try:
        with Journal(db) as watcher_view:
            wait_until(lambda: until(watcher_view) or proc.poll() is not None, timeout=60, interval=0.005)
        assert proc.poll() is None, "the worker finished before it could be killed; make the work bigger"
        proc.kill()
        proc.wait()
    finally:
        stop_process(proc)


def test_kill_9_mid_scan_and_mid_hash_loses_nothing(
    journal: Journal, root: Path, tmp_path: Path, pool: HashPool, lfs: Any
) -> None:
    for d in range(30):
        sub = root / f"d{d}"
        sub.mkdir()
        for i in range(200):
            (sub / f"f{i}").write_bytes(os.urandom(64))
    big = root / "big.bin"
    with open(big, "wb") as f:
        for _ in range(96):
            f.write(os.urandom(1 << 20))
    # 1: killed while the scan is still queueing paths
    _run_worker(tmp_path, root, lambda j: j.dirty_count(FID) > 0)
    # 2: killed while hashing (some rows written, more queued)
    _run_worker(tmp_path, root, lambda j: j.count(FID, "local") > 0)
    # the next start completes and the tree is exactly the disk, with correct digests
    assert lfs.mismatch(journal, root) is not None
    scan_folder(journal, FID, root)
    LocalIndexer(journal, FID, root, pool).drain()
    assert lfs.mismatch(journal, root, verify_hashes=6000) is None
    assert journal.dirty_count(FID) == 0


def test_corrupt_journal_is_rebuilt_from_disk_at_start(
    tmp_path: Path, root: Path, pool: HashPool, start_observer: Callable[..., LocalObserver], lfs: Any
) -> None:
    for i in range(100):
        (root / f"f{i}.txt").write_text(str(i))
    db = tmp_path / "rebuild" / "journal.db"
    db.parent.mkdir()
    db.write_bytes(b"\x00garbage, not sqlite" * 100)
    with Journal(db) as journal:
        assert journal.needs_rebuild is not None
        obs = start_observer(journal=journal)
        lfs.wait_matches(journal, root, obs)
        obs.stop()
    assert list(db.parent.glob("journal.db.corrupt-*"))
