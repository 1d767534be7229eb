"""A recorded failure that no longer applies is told from one that does (engine/failures.py)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from ferrysync.daemon.engine.failures import stale_failures
from ferrysync.daemon.journal import Journal
from ferrysync.daemon.local.scanner import stat_entry
from ferrysync.daemon.model import Kind, RemoteEntry
from ferrysync.daemon.planner import merge_base

FID = "f"
FULL = "the disk is full: free some space, Ferry retries by itself"


def test_a_failure_is_stale_only_where_nothing_is_left_to_do_and_the_disk_is_as_recorded(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with Journal(tmp_path / "j.db") as j:
        for name in ("settled.txt", "changed.txt", "unsettled.txt"):
            (root / name).write_text("as recorded")
            disk = stat_entry(root, name)
            assert disk is not None
            local = replace(disk.to_local(), content_hash="00" * 32, blocks=("00" * 32,))  # hashed
            remote = RemoteEntry(name, Kind.FILE, f"id-{name}", 1, local.size, local.mtime_ns, False,
                                 local.content_hash, local.blocks)
            j.put_local(FID, local)
            j.put_remote(FID, remote)
            if name != "unsettled.txt":  # its upload failed: nothing synced yet, the server has another version
                j.put_synced(FID, merge_base(local, remote))
            else:
                j.put_remote(FID, replace(remote, content_hash="11" * 32, blocks=("11" * 32,)))
            j.record_failure(FID, name, FULL)  # e.g. an upload that failed on a full disk
        j.record_failure(FID, "gone.txt", FULL)  # a download of a file deleted on the server since
        (root / "changed.txt").write_text("changed since, and unreadable: the indexer's failure still applies")
        os.utime(root / "changed.txt", ns=(10**18, 10**18))
        assert sorted(stale_failures(j, FID, root)) == ["gone.txt", "settled.txt"]
