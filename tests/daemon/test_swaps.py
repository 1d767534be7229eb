"""A crash between a download's swap and keeping what it displaced loses nothing (found by the simulation).

Seed 1243 of the race-and-crash simulation: the user appended to `a.txt` in the instant before its download's
exchange, the daemon was killed right after the exchange, and the restart cleared the temp folder — where the
user's bytes were. The swap is now recorded before it starts and settled at the next start from the temp file
itself.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from ferrysync.daemon.engine.swaps import clear_swap, record_swap, recover_swaps
from ferrysync.daemon.journal import Journal
from ferrysync.daemon.local.chunker import hash_file
from ferrysync.daemon.model import Kind, LocalEntry

FID = "f1"
WHEN = datetime(2026, 12, 3, 14, 30, 0)


def _setup(tmp_path: Path, content: bytes) -> tuple[Path, Path]:
    root = tmp_path / "root"
    (root / ".ferry" / "tmp").mkdir(parents=True)
    temp = root / ".ferry" / "tmp" / "ferry-tmp-1"
    temp.write_bytes(content)
    (root / "a.txt").write_bytes(b"the download")
    return root, temp


def _recover(journal: Journal, root: Path) -> list[str]:
    return recover_swaps(journal, FID, root, "ben", WHEN, lambda p: (root / p).exists())


def test_the_users_displaced_bytes_become_a_conflicted_copy(journal: Journal, tmp_path: Path) -> None:
    root, temp = _setup(tmp_path, b"the user's save")
    download = hash_file(root / "a.txt").content_hash
    old = LocalEntry("a.txt", Kind.FILE, 3, 1, 999_999, False)  # the version the download was planned against
    record_swap(journal, FID, "a.txt", temp, download, old)
    made = _recover(journal, root)
    assert made == ["a (conflicted copy from ben 2026-12-03 143000).txt"]
    assert (root / made[0]).read_bytes() == b"the user's save"
    assert not temp.exists()
    assert [c.path for c in journal.list_conflicts(FID)] == made
    assert {d.path for d in journal.ready_dirty(1.0, folder_id=FID)} >= {made[0], "a.txt"}, "the indexer looks at both"
    assert _recover(journal, root) == [], "settled once"


def test_the_download_itself_left_in_the_temp_is_dropped(journal: Journal, tmp_path: Path) -> None:
    root, temp = _setup(tmp_path, b"the download")  # killed before the exchange
    record_swap(journal, FID, "a.txt", temp, hash_file(temp).content_hash, None)
    assert _recover(journal, root) == []
    assert not temp.exists()
    assert (root / "a.txt").read_bytes() == b"the download"


def test_the_old_version_the_download_replaced_is_dropped(journal: Journal, tmp_path: Path) -> None:
    root, temp = _setup(tmp_path, b"old")
    st = os.stat(temp)
    old = LocalEntry("a.txt", Kind.FILE, st.st_size, st.st_mtime_ns, st.st_ino, False)
    record_swap(journal, FID, "a.txt", temp, "0" * 64, old)
    assert _recover(journal, root) == []
    assert not temp.exists(), "the server keeps that version"


def test_a_settled_swap_leaves_nothing_to_recover(journal: Journal, tmp_path: Path) -> None:
    root, temp = _setup(tmp_path, b"the user's save")
    record_swap(journal, FID, "a.txt", temp, "0" * 64, None)
    with journal.transaction():
        clear_swap(journal, FID, temp)
    assert _recover(journal, root) == []
    assert temp.exists(), "not the recovery's to touch: a cleared record means the executor kept it"


def test_a_save_whose_folder_is_gone_is_recovered_into_the_folder_trash(journal: Journal, tmp_path: Path) -> None:
    """The user deleted the file's folder before Ferry could keep the save beside it (seed 2403): the recovery
    neither fails at every start nor leaves the bytes in the temp folder; they go to the folder's trash."""
    from ferrysync.daemon.local.trash import list_folder_trash

    root, temp = _setup(tmp_path, b"the user's save")
    record_swap(journal, FID, "d/e.txt", temp, "0" * 64, None)  # d/ was deleted since: no folder to keep it in
    assert _recover(journal, root) == []
    assert not temp.exists()
    kept = list_folder_trash(root)
    assert [i.relpath for i in kept] == ["d/e.txt"]
    assert kept[0].stored_at is not None
    assert kept[0].stored_at.read_bytes() == b"the user's save"
    assert journal.list_conflicts(FID) == []
    assert _recover(journal, root) == [], "settled once"
