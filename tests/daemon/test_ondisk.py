"""NFD names on a disk that keeps them (Linux): mapped to their NFC path, kept as they are on disk (issue 11).

Before, such a file was indexed under its NFD path, which the server refuses, and was never uploaded.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path
from typing import Any

from util import wait_until

from ferrysync.daemon.journal import Journal
from ferrysync.daemon.local.hasher import HashPool
from ferrysync.daemon.local.ignore import IgnoreRules
from ferrysync.daemon.local.indexer import LocalIndexer
from ferrysync.daemon.local.names import TWIN_REASON
from ferrysync.daemon.local.ondisk import disk_path, twins_in
from ferrysync.daemon.local.scanner import scan_folder, stat_entry, walk
from ferrysync.daemon.local.trash import move_to_trash
from ferrysync.daemon.local.watcher import LocalObserver
from ferrysync.daemon.model import Kind

FID = "f1"
NFC, NFD = "caf\u00e9.txt", "cafe\u0301.txt"
DIR_NFC, DIR_NFD = "\u00e9t\u00e9", "e\u0301te\u0301"


def test_disk_path_finds_the_spelling_the_disk_has(root: Path) -> None:
    (root / DIR_NFD).mkdir()
    (root / DIR_NFD / NFD).write_text("nfd inside nfd")
    assert disk_path(root, f"{DIR_NFC}/{NFC}") == root / DIR_NFD / NFD
    assert disk_path(root, f"{DIR_NFC}/new-\u00e9.txt") == root / DIR_NFD / "new-\u00e9.txt"  # created in NFC
    assert disk_path(root, "plain/ascii.txt") == root / "plain" / "ascii.txt"
    assert disk_path(root, f"missing-\u00e9/{NFC}") == root / "missing-\u00e9" / NFC
    entry = stat_entry(root, f"{DIR_NFC}/{NFC}")
    assert entry is not None
    assert entry.path == f"{DIR_NFC}/{NFC}"
    assert entry.kind is Kind.FILE


def test_walk_gives_nfc_paths_and_reports_the_twin(root: Path) -> None:
    (root / NFD).write_text("written by a mac app")
    (root / DIR_NFD).mkdir()
    (root / DIR_NFD / NFD).write_text("deep")
    twins: dict[str, str] = {}
    paths = {e.path for e in walk(root, on_twin=twins.__setitem__)}
    assert paths == {NFC, DIR_NFC, f"{DIR_NFC}/{NFC}"}
    assert twins == {}

    (root / NFC).write_text("the NFC twin")  # both spellings in one folder: only Linux allows this
    paths = {e.path for e in walk(root, on_twin=twins.__setitem__)}
    assert NFC in paths
    assert twins == {NFD: NFC}
    assert stat_entry(root, NFC) is not None
    assert disk_path(root, NFC) == root / NFC
    assert twins_in(root) == {NFD: NFC}
    assert (root / NFD).read_text() == "written by a mac app", "the twin is left alone"


def test_an_nfd_file_is_indexed_under_its_nfc_path_with_its_content(journal: Journal, root: Path,
                                                                    pool: HashPool) -> None:
    (root / DIR_NFD).mkdir()
    (root / DIR_NFD / NFD).write_bytes(b"bytes of an nfd file")
    os.utime(root / DIR_NFD / NFD, ns=(1_700_000_000 * 10**9,) * 2)  # long quiet: indexed at once
    scan_folder(journal, FID, root, IgnoreRules())
    LocalIndexer(journal, FID, root, pool).drain()
    row = journal.get_local(FID, f"{DIR_NFC}/{NFC}")
    assert row is not None
    assert row.kind is Kind.FILE
    assert row.size == len(b"bytes of an nfd file")
    assert row.content_hash is not None
    assert {e.path for e in journal.iter_tree(FID, "local")} == {DIR_NFC, f"{DIR_NFC}/{NFC}"}
    assert scan_folder(journal, FID, root, IgnoreRules()).queued == [], "a rescan sees nothing new"
    assert sorted(os.listdir(root / DIR_NFD)) == [NFD], "the user's file keeps its name"


def test_the_scan_reports_twins(journal: Journal, root: Path) -> None:
    (root / NFD).write_text("one")
    (root / NFC).write_text("two")
    assert scan_folder(journal, FID, root, IgnoreRules()).twins == {NFD: NFC}


def test_trash_takes_the_file_under_its_disk_spelling(root: Path) -> None:
    (root / NFD).write_text("to be deleted")
    item = move_to_trash(root, NFC, use_os_trash=False)
    assert not (root / NFD).exists()
    assert item.stored_at is not None
    assert item.stored_at.read_text() == "to be deleted"


def test_the_watcher_reports_a_twin_made_while_it_runs(start_observer: Any, root: Path) -> None:
    (root / NFC).write_text("first")
    obs: LocalObserver = start_observer()
    wait_until(obs.idle, 10)
    assert obs.twins == {}
    (root / NFD).write_text("second, same name in NFD")
    wait_until(lambda: obs.twins == {NFD: NFC}, 10, what="the twin to be reported")
    (root / NFD).unlink()
    wait_until(lambda: obs.twins == {}, 10, what="the report to go with the twin")
    assert unicodedata.is_normalized("NFC", NFC)
    assert TWIN_REASON
