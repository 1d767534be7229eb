"""Stat-only scans and the indexer: only real changes are hashed, moves keep identity, a lost root deletes nothing."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from ferrysync.daemon.journal import Journal
from ferrysync.daemon.local import indexer as indexer_mod
from ferrysync.daemon.local.chunker import hash_file
from ferrysync.daemon.local.engine_writes import EngineWrites
from ferrysync.daemon.local.hasher import HashPool, HashResult
from ferrysync.daemon.local.ignore import IgnoreRules
from ferrysync.daemon.local.indexer import LocalIndexer
from ferrysync.daemon.local.marker import RootUnavailable
from ferrysync.daemon.local.scanner import scan_folder, walk
from ferrysync.daemon.model import Kind, LocalEntry

FID = "f1"  # the folder id the fixtures use


def make_tree(root: Path, n: int = 30) -> None:
    """Files written a while ago: a file hashed within its mtime's clock tick is read again at its next look
    (indexer.RACY_NS), which these tests of "what is re-read" must not see."""
    old = time.time_ns() - 3_600 * 10**9
    for i in range(n):
        d = root / f"d{i % 3}" / f"sub{i % 2}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}.txt").write_text(f"content {i}")
        os.utime(d / f"f{i}.txt", ns=(old + i, old + i))


def index_all(journal: Journal, root: Path, pool: HashPool, rules: IgnoreRules | None = None) -> LocalIndexer:
    ix = LocalIndexer(journal, FID, root, pool, rules=(lambda: rules) if rules else lambda: IgnoreRules())
    scan_folder(journal, FID, root, rules or IgnoreRules())
    ix.drain()
    return ix


def test_first_scan_indexes_everything_and_a_rescan_of_unchanged_files_queues_nothing(
    journal: Journal, root: Path, counting_pool: Any, lfs: Any
) -> None:
    make_tree(root)
    os.symlink("d0/sub0/f0.txt", root / "link")
    os.symlink("/etc", root / "outside")  # never followed
    index_all(journal, root, counting_pool)
    assert lfs.mismatch(journal, root) is None
    assert sum(counting_pool.reads.values()) == 30
    link = journal.get_local(FID, "outside")
    assert link is not None
    assert link.kind == Kind.SYMLINK
    assert link.link_target == "/etc"
    assert not any(e.path.startswith("outside/") for e in journal.iter_tree(FID, "local"))
    f0 = journal.get_local(FID, "d0/sub0/f0.txt")
    assert f0 is not None
    assert f0.content_hash == hash_file(root / "d0/sub0/f0.txt").content_hash

    again = scan_folder(journal, FID, root)
    assert again.queued == []
    assert again.scanned == 30 + 9 + 2
    assert journal.folder_state(FID).last_scan is not None


def test_only_changed_stat_keys_are_rehashed(journal: Journal, root: Path, counting_pool: Any, lfs: Any) -> None:
    make_tree(root)
    ix = index_all(journal, root, counting_pool)
    counting_pool.reads.clear()
    (root / "d0/sub0/f0.txt").write_text("changed content, longer")  # size + mtime
    os.utime(root / "d1/sub1/f1.txt", ns=(1, 1))  # mtime only
    (root / "d2/sub0/f2.txt").chmod(0o755)  # executable bit
    (root / "d0/new.txt").write_text("new")
    (root / "d1/sub1/f7.txt").unlink()
    queued = scan_folder(journal, FID, root).queued
    assert sorted(queued) == ["d0/new.txt", "d0/sub0/f0.txt", "d1/sub1/f1.txt", "d1/sub1/f7.txt", "d2/sub0/f2.txt"]
    result = ix.drain()
    assert sorted(result.changed) == sorted(queued)
    # a chmod changes neither size, mtime nor inode: the row is updated without reading the file
    assert sorted(counting_pool.reads) == ["f0.txt", "f1.txt", "new.txt"]
    assert lfs.mismatch(journal, root) is None
    assert journal.get_local(FID, "d2/sub0/f2.txt").executable  # type: ignore[union-attr]


def test_moves_keep_identity_and_are_not_rehashed(journal: Journal, root: Path, counting_pool: Any, lfs: Any) -> None:
    make_tree(root, 60)
    ix = index_all(journal, root, counting_pool)
    before = {e.path: e for e in journal.iter_tree(FID, "local") if isinstance(e, LocalEntry)}
    counting_pool.reads.clear()
    (root / "deep/er/still").mkdir(parents=True)
    shutil.move(root / "d1", root / "deep/er/still/d1")
    os.rename(root / "d0/sub0/f0.txt", root / "d2/renamed.txt")
    # the watcher would report both ends of each move; deliver them in separate batches, source first
    journal.mark_dirty(FID, ["d1", "d0/sub0/f0.txt"], 0.0)
    ix.run_once()
    journal.mark_dirty(FID, ["deep", "d2/renamed.txt"], 0.0)
    ix.drain()
    assert lfs.mismatch(journal, root) is None
    assert counting_pool.reads == {}  # every moved file kept its digest without being read
    moved = journal.get_local(FID, "deep/er/still/d1/sub1/f1.txt")
    assert moved is not None
    assert moved.inode == before["d1/sub1/f1.txt"].inode
    assert moved.content_hash == before["d1/sub1/f1.txt"].content_hash
    loc = journal.find_block(moved.blocks[0])
    assert loc is not None
    assert loc.path == "deep/er/still/d1/sub1/f1.txt"


def test_type_changes(journal: Journal, root: Path, pool: HashPool, lfs: Any) -> None:
    make_tree(root)
    ix = index_all(journal, root, pool)
    shutil.rmtree(root / "d0")
    (root / "d0").write_text("now a file")
    (root / "d1/sub0/f4.txt").unlink()
    (root / "d1/sub0/f4.txt").mkdir()
    journal.mark_dirty(FID, ["d0", "d1/sub0/f4.txt"], 0.0)
    ix.drain()
    assert lfs.mismatch(journal, root) is None
    assert journal.descendants(FID, "local", "d0") == []


def test_ignored_paths_are_not_indexed_and_existing_rows_are_not_deleted(
    journal: Journal, root: Path, pool: HashPool
) -> None:
    make_tree(root)
    ix = index_all(journal, root, pool)
    (root / "d0" / ".DS_Store").write_text("x")
    (root / "d0" / "~$report.docx").write_text("x")
    rules = IgnoreRules.from_text("d1/\n")  # d1 was synced; now the user ignores it
    scan = scan_folder(journal, FID, root, rules)
    assert scan.queued == []
    ix.rules = lambda: rules
    journal.mark_dirty(FID, ["d0/.DS_Store", "d1/sub0/f4.txt"], 0.0)
    ix.drain()
    assert journal.get_local(FID, "d0/.DS_Store") is None
    assert journal.get_local(FID, "d1/sub0/f4.txt") is not None  # frozen, not recorded as deleted


def test_removed_root_or_marker_records_no_deletion(
    journal: Journal, root: Path, pool: HashPool, tmp_path: Path
) -> None:
    make_tree(root)
    ix = index_all(journal, root, pool)
    rows = journal.count(FID, "local")
    shutil.rmtree(root / ".ferry")  # e.g. an empty mount point where the disk used to be
    (root / "d0/sub0/f0.txt").unlink()
    with pytest.raises(RootUnavailable):
        scan_folder(journal, FID, root)
    journal.mark_dirty(FID, ["d0/sub0/f0.txt", "d1"], 0.0)
    with pytest.raises(RootUnavailable):
        ix.drain()
    assert journal.count(FID, "local") == rows
    assert journal.dirty_count(FID) == 2
    shutil.rmtree(root)
    with pytest.raises(RootUnavailable):
        scan_folder(journal, FID, root)
    assert journal.count(FID, "local") == rows


def test_file_changing_while_read_is_requeued_then_indexed(
    journal: Journal, root: Path, pool: HashPool, monkeypatch: pytest.MonkeyPatch, lfs: Any
) -> None:
    (root / "busy.bin").write_bytes(b"x" * 100)
    ix = LocalIndexer(journal, FID, root, pool, quiet_period=0.0)
    real = pool.hash_many
    calls = {"n": 0}

    def flaky(paths: object, *args: Any) -> object:
        calls["n"] += 1
        if calls["n"] == 1:
            return iter([HashResult(p, changed=True) for p in paths])  # type: ignore[attr-defined]
        return real(paths, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(pool, "hash_many", flaky)
    journal.mark_dirty(FID, ["busy.bin"], 0.0)
    first = ix.run_once()
    assert first.requeued == ["busy.bin"]
    assert journal.get_local(FID, "busy.bin") is None
    ix.drain()
    assert lfs.mismatch(journal, root) is None
    assert calls["n"] == 2


def test_a_file_that_became_a_folder_while_hashed_stops_failing_once_the_folder_is_indexed(
    journal: Journal, root: Path, pool: HashPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Simulation seed 1147: the hash of `a.txt` failed with "Is a directory" (a folder had been renamed onto it),
    and the folder's row, already known and unchanged, never cleared that failure: the folder was reported as
    failing, and never idle, for ever."""
    (root / "a.txt").mkdir()
    ix = LocalIndexer(journal, FID, root, pool, quiet_period=0.0)
    journal.mark_dirty(FID, ["a.txt"], 0.0)
    ix.drain()
    assert journal.get_local(FID, "a.txt") is not None
    journal.record_failure(FID, "a.txt", "Is a directory", now=0.0)  # what the failed hash left
    journal.mark_dirty(FID, ["a.txt"], 0.0)
    ix.run_once()
    assert journal.list_failures(FID) == []
    assert journal.get_backoff(FID, "a.txt") is None


def test_a_look_that_finds_nothing_new_leaves_a_failure_alone_until_its_backoff_runs_out(
    journal: Journal, root: Path, pool: HashPool
) -> None:
    """An action that failed has the indexer look at the paths it may have changed. A look that finds nothing new
    there must not clear the failure while its backoff runs, or the error shown and the backoff would go with it
    (the action retried every few seconds, its error never shown). A look that finds the path changed (the user
    fixed it, or the failed action had left a file there) clears it at once; so does any look once the backoff
    has run out."""
    full = "the disk is full: free some space, Ferry retries by itself"
    (root / "a.txt").write_text("as recorded")
    ix = LocalIndexer(journal, FID, root, pool, quiet_period=0.0, clock=lambda: 1000.0)
    journal.mark_dirty(FID, ["a.txt"], 0.0)
    ix.drain()
    journal.record_failure(FID, "a.txt", full, now=1000.0)  # e.g. its download failed: nothing landed
    journal.mark_dirty(FID, ["a.txt"], 0.0)
    ix.drain()
    assert [f.path for f in journal.list_failures(FID)] == ["a.txt"], "the failure and its backoff stay"
    ix.clock = lambda: 10_000.0  # the backoff has run out
    journal.mark_dirty(FID, ["a.txt"], 0.0)
    ix.drain()
    assert journal.list_failures(FID) == []

    (root / "b.txt").write_text("landed, its record refused")  # what a failed action left
    journal.record_failure(FID, "b.txt", full, now=10_000.0)
    journal.mark_dirty(FID, ["b.txt"], 0.0)
    ix.drain()
    assert journal.get_local(FID, "b.txt") is not None, "the file it left is known now"
    assert journal.list_failures(FID) == [], "found changed: nothing fails there any more"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads unreadable files")
def test_unreadable_file_is_backed_off_not_fatal(journal: Journal, root: Path, pool: HashPool) -> None:
    (root / "secret").write_text("x")
    (root / "secret").chmod(0)
    ix = LocalIndexer(journal, FID, root, pool)
    journal.mark_dirty(FID, ["secret"], 0.0)
    assert "secret" in ix.run_once().errors
    assert journal.get_backoff(FID, "secret") is not None


def test_walk_skips_names_that_are_not_utf8(root: Path) -> None:
    os.close(os.open(os.path.join(os.fsencode(root), b"bad-\xff.txt"), os.O_CREAT | os.O_WRONLY))
    (root / "good.txt").write_text("x")
    assert [e.path for e in walk(root)] == ["good.txt"]


def test_indexer_module_bounds_batches() -> None:
    assert indexer_mod.BATCH >= 100


def test_a_file_the_engine_is_landing_is_read_only_after_its_record_and_a_save_made_meanwhile_is_seen(
    journal: Journal, root: Path, counting_pool: Any, lfs: Any
) -> None:
    """Small downloads record a batch after its files land; the watcher's events for them come first. The indexer
    leaves such a path queued instead of reading the engine's own bytes; the engine's re-check after its record
    makes it ready, and a save the user made in between is then seen against what the engine recorded."""
    writes = EngineWrites()
    ix = LocalIndexer(journal, FID, root, counting_pool, quiet_period=30.0, engine_writes=writes)
    target = root / "dl.bin"
    target.write_bytes(b"downloaded")
    writes.add(["dl.bin"])
    journal.mark_dirty(FID, ["dl.bin"], 0.0)  # the watcher's event, its quiet period over
    ix.run_once()
    assert counting_pool.reads == {}  # not read while the engine has not recorded it
    assert journal.get_local(FID, "dl.bin") is None
    assert journal.ready_dirty(time.time() + 60, 10, FID) != []  # still queued
    digest = hash_file(target)
    st = target.stat()
    with journal.transaction():  # what landing.record_batch does: the row of what the engine wrote...
        journal.put_local(FID, LocalEntry("dl.bin", Kind.FILE, st.st_size, st.st_mtime_ns, st.st_ino, False,
                                          digest.content_hash, digest.block_hashes), list(digest.chunks))
        target.write_bytes(b"the user's save, right after")  # (a save lands in between)
        journal.mark_dirty(FID, ["dl.bin"], 0.0, rearm=False)  # ... and its re-check
    writes.discard(["dl.bin"])
    ix.drain()
    assert counting_pool.reads == {"dl.bin": 1}
    row = journal.get_local(FID, "dl.bin")
    assert row is not None
    assert row.content_hash == hash_file(target).content_hash
    assert lfs.mismatch(journal, root) is None


def test_with_no_quiet_period_a_path_the_engine_is_writing_does_not_keep_the_indexer_busy(
    journal: Journal, root: Path, counting_pool: Any
) -> None:
    writes = EngineWrites()
    ix = LocalIndexer(journal, FID, root, counting_pool, quiet_period=0.0, engine_writes=writes)
    (root / "dl.bin").write_bytes(b"downloaded")
    writes.add(["dl.bin"])
    journal.mark_dirty(FID, ["dl.bin"], 0.0)
    ix.drain(max_rounds=50)  # returns: the path waits (not ready again at once), nothing was read
    assert journal.ready_dirty(time.time(), 10, FID) == []
    assert journal.ready_dirty(time.time() + 60, 10, FID) != []
    assert counting_pool.reads == {}


def test_the_indexer_says_it_took_work_before_any_leaves_the_queue_and_never_when_there_is_none(
    journal: Journal, root: Path, pool: HashPool
) -> None:
    """The observer is busy from `on_taken` until it hands the paths on: called before the dirty rows go, so no
    look finds a change in neither place; not called on an idle look (every RETRY_S), so a folder that is up to
    date never reads "Syncing" for a moment (the CI saw it right after `ferry wait` had said everything is synced)."""
    ix = LocalIndexer(journal, FID, root, pool, quiet_period=0.0)
    taken: list[bool] = []
    ix.run_once(on_taken=lambda: taken.append(journal.has_dirty(FID)))
    assert taken == []
    (root / "new.txt").write_text("new")
    os.utime(root / "new.txt", ns=(10**18, 10**18))  # not within its mtime's tick: read once (RACY_NS)
    journal.mark_dirty(FID, ["new.txt"], 0.0)
    result = ix.run_once(on_taken=lambda: taken.append(journal.has_dirty(FID)))
    assert result.changed == ["new.txt"]
    assert taken == [True], "told before the path left the dirty queue"
    assert not journal.has_dirty(FID)


def test_settled_names_the_events_the_local_tree_already_describes(
    journal: Journal, root: Path, pool: HashPool
) -> None:
    """What the watcher may leave out of the dirty queue: the echo of a change already recorded (gone and never
    known, or a file or link unchanged since recorded). Everything else is queued: a new or changed file, a
    vanished one, any folder (its event may mean content moved in), a file hashed within its mtime's tick. A path
    the engine is writing is left out whatever is on disk: the engine makes it ready when it is done with it."""
    make_tree(root, 6)
    os.symlink("d0", root / "link")
    ix = index_all(journal, root, pool)
    assert journal.get_local(FID, "d0/sub0/f0.txt") is not None
    (root / "d1/sub1/f1.txt").write_text("changed since")
    (root / "d2/sub0/f2.txt").unlink()
    (root / "new.txt").write_text("new")
    asked = ["d0/sub0/f0.txt", "link", "never-there.txt", "d1/sub1/f1.txt", "d2/sub0/f2.txt", "new.txt", "d0"]
    assert sorted(ix.settled(asked)) == ["d0/sub0/f0.txt", "link", "never-there.txt"]
    ix.engine_writes.add(["d0/sub0/f0.txt", "new.txt"])
    assert sorted(ix.settled(asked)) == ["d0/sub0/f0.txt", "link", "never-there.txt", "new.txt"]
    ix.engine_writes.discard(["d0/sub0/f0.txt", "new.txt"])
    (root / "racy.txt").write_text("hashed at once")  # within its mtime's tick: read again at the next look
    journal.mark_dirty(FID, ["racy.txt"], 0.0)
    ix.run_once()
    assert journal.get_local(FID, "racy.txt") is not None
    assert ix.settled(["racy.txt"]) == []


def test_the_sinks_finish_after_a_batch_is_hashed_and_before_it_is_recorded(
    journal: Journal, root: Path, pool: HashPool
) -> None:
    """Small files' blocks wait in a shared batch of the early sender (transfer/early.py): they must be sent (or given
    up on) before the indexer records the files, or the upload the records lead to would find them missing."""
    make_tree(root, 12)
    offered: list[str] = []
    finished: list[tuple[int, int]] = []  # (blocks offered, local rows recorded) at each finish

    class Sink:
        def offer(self, block_hash: str, data: bytes) -> None:
            offered.append(block_hash)

        def close(self, whole: bool) -> None:
            pass

    def done() -> None:
        finished.append((len(offered), sum(1 for e in journal.iter_tree(FID, "local") if e.kind is Kind.FILE)))

    ix = LocalIndexer(journal, FID, root, pool, sink_for=lambda path, size: Sink(), sinks_done=done)
    scan_folder(journal, FID, root, IgnoreRules())
    ix.drain()
    assert finished == [(12, 0)], "once, after every file of the batch was offered, before any was recorded"
    assert sorted(offered) == sorted(hash_file(p).block_hashes[0] for p in root.rglob("*.txt"))
    ix.drain()
    assert len(finished) == 1, "a look that hashes nothing has nothing to finish"
