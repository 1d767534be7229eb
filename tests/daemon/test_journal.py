"""The journal: rows round-trip, subtree queries are exact, writes are atomic, the queue never loses an event."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrysync.daemon.journal import DirtyPath, Journal, TransferState
from ferrysync.daemon.model import Chunk, Kind, LocalEntry, RemoteEntry, SyncedEntry

H1, H2, H3 = "11" * 32, "22" * 32, "33" * 32
hashes = st.text("0123456789abcdef", min_size=64, max_size=64)
names = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="/\0"), min_size=1, max_size=12)


def test_each_tree_round_trips(journal: Journal) -> None:
    loc = LocalEntry("a/b.txt", Kind.FILE, 10, 123, 77, True, H1, (H2, H3))
    link = LocalEntry("a/l", Kind.SYMLINK, 0, 5, 78, link_target="../x")
    rem = RemoteEntry("a/b.txt", Kind.FILE, "fid", 9, 10, 123, True, H1, (H2, H3))
    syn = SyncedEntry("a/b.txt", Kind.FILE, "fid", 9, 10, 123, 77, True, H1, (H2, H3))
    with journal.transaction():
        journal.put_local("f", loc)
        journal.put_local("f", link)
        journal.put_remote("f", rem)
        journal.put_synced("f", syn)
    assert journal.rows_for_path("f", "a/b.txt") == (loc, rem, syn)
    assert journal.get_local("f", "a/l") == link
    assert journal.rows_for_path("other-folder", "a/b.txt") == (None, None, None)
    assert journal.find_local_by_inode("f", 77) == [loc]


@settings(max_examples=60, deadline=None)
@given(
    path=st.lists(names, min_size=1, max_size=4).map("/".join),
    h=hashes,
    blocks=st.lists(hashes, max_size=5),
    size=st.integers(0, 2**62),
    mtime=st.integers(0, 2**62),
    ino=st.integers(0, 2**63 - 1),
)
def test_local_rows_round_trip_any_value(
    tmp_path_factory: pytest.TempPathFactory, path: str, h: str, blocks: list[str], size: int, mtime: int, ino: int
) -> None:
    with Journal(tmp_path_factory.mktemp("j") / "j.db") as j:
        e = LocalEntry(path, Kind.FILE, size, mtime, ino, False, h, tuple(blocks))
        j.put_local("f", e)
        assert j.get_local("f", path) == e


def test_subtree_queries_do_not_confuse_siblings(journal: Journal) -> None:
    for p in ["a", "a/b", "a/b/c", "a.txt", "a-b", "a b", "ab", "a0", "b"]:
        journal.put_local("f", LocalEntry(p, Kind.DIR if p in ("a", "a/b") else Kind.FILE))
    assert [e.path for e in journal.iter_tree("f", "local", "a")] == ["a", "a/b", "a/b/c"]
    assert [e.path for e in journal.descendants("f", "local", "a")] == ["a/b", "a/b/c"]
    assert [e.path for e in journal.children("f", "local", "a")] == ["a/b"]
    assert {e.path for e in journal.children("f", "local", "")} == {"a", "a.txt", "a-b", "a b", "ab", "a0", "b"}
    assert sorted(journal.delete_subtree("f", "local", "a")) == ["a", "a/b", "a/b/c"]
    assert {e.path for e in journal.iter_tree("f", "local")} == {"a.txt", "a-b", "a b", "ab", "a0", "b"}
    assert journal.count("f", "local", Kind.FILE) == 6


def test_iter_tree_pages_through_large_trees(journal: Journal) -> None:
    journal.put_many("f", "local", [LocalEntry(f"d/{i:05}", Kind.FILE) for i in range(4500)])
    paths = [e.path for e in journal.iter_tree("f", "local")]
    assert paths == sorted(paths)
    assert len(paths) == 4500


def test_block_index_follows_the_local_row(journal: Journal) -> None:
    e = LocalEntry("x.bin", Kind.FILE, 30, 1, 5, False, H1, (H2, H3))
    journal.put_local("f", e, [Chunk(H2, 0, 10), Chunk(H3, 10, 20)])
    loc = journal.find_block(H3)
    assert loc is not None
    assert (loc.folder_id, loc.path, loc.offset, loc.length) == ("f", "x.bin", 10, 20)
    assert journal.local_chunks("f", "x.bin") == [Chunk(H2, 0, 10), Chunk(H3, 10, 20)]
    journal.put_local("f", LocalEntry("x.bin", Kind.FILE, 1, 2, 5, False, H2, (H2,)))  # rewritten: old chunks go
    assert journal.find_block(H3) is None
    journal.delete_local("f", "x.bin")
    assert journal.find_block(H2) is None


def test_transaction_is_all_or_nothing(journal: Journal) -> None:
    journal.put_synced("f", SyncedEntry("keep", Kind.FILE, "k", 1))

    def fail_half_way() -> None:
        with journal.transaction():
            journal.put_remote("f", RemoteEntry("p", Kind.FILE, "id", 1))
            journal.put_synced("f", SyncedEntry("p", Kind.FILE, "id", 1))
            journal.delete_synced("f", "keep")
            raise RuntimeError("executor failed half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        fail_half_way()
    assert journal.rows_for_path("f", "p") == (None, None, None)
    assert journal.get_synced("f", "keep") is not None


def test_nested_transaction_failure_rolls_back_only_the_inner_part(journal: Journal) -> None:
    def fail_inside() -> None:
        with journal.transaction():
            journal.put_local("f", LocalEntry("inner", Kind.DIR))
            raise ValueError("the inner part failed")

    with journal.transaction():
        journal.put_local("f", LocalEntry("outer", Kind.DIR))
        with pytest.raises(ValueError, match="inner part"):
            fail_inside()
    assert journal.get_local("f", "outer") is not None
    assert journal.get_local("f", "inner") is None


def test_reads_on_other_threads_see_only_committed_state(journal: Journal) -> None:
    seen: list[object] = []
    with journal.transaction():
        journal.put_local("f", LocalEntry("new", Kind.DIR))
        assert journal.get_local("f", "new") is not None  # own writes are visible to the writer thread
        t = threading.Thread(target=lambda: seen.append(journal.get_local("f", "new")))
        t.start()
        t.join()
    assert seen == [None]
    assert journal.get_local("f", "new") is not None


def test_many_writer_and_reader_threads_do_not_deadlock(journal: Journal) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(300):
                with journal.transaction():
                    journal.put_local("f", LocalEntry(f"w{n}/{i}", Kind.FILE))
                    journal.mark_dirty("f", [f"w{n}/{i}"], 0.0)
        except BaseException as exc:  # noqa: BLE001 - collected for the main thread's assertion
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(300):
                journal.rows_for_path("f", "w0/1")
                journal.ready_dirty(1.0, 10)
        except BaseException as exc:  # noqa: BLE001 - collected for the main thread's assertion
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)] + [
        threading.Thread(target=reader) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert journal.count("f", "local") == 1200
    assert journal.dirty_count("f") == 1200


def test_dirty_queue_coalesces_rearms_and_never_drops_a_new_event(journal: Journal) -> None:
    journal.mark_dirty("f", ["a", "b", "a"], ready_at=10.0)
    assert journal.dirty_count() == 2
    journal.mark_dirty("f", ["a"], ready_at=20.0)  # another event: the quiet period starts again
    assert [d.path for d in journal.ready_dirty(now=15.0)] == ["b"]
    journal.mark_dirty("f", ["b"], ready_at=5.0, rearm=False)  # a scan never delays, may advance
    assert journal.ready_dirty(now=6.0) == [DirtyPath("f", "b", 5.0)]
    journal.mark_dirty("f", ["b"], ready_at=50.0, rearm=False)
    assert journal.ready_dirty(now=6.0) == [DirtyPath("f", "b", 5.0)]
    claimed = journal.ready_dirty(now=25.0)
    journal.mark_dirty("f", ["a"], ready_at=30.0)  # changed again while being indexed
    journal.ack_dirty(claimed)
    assert journal.ready_dirty(now=100.0) == [DirtyPath("f", "a", 30.0)]
    assert journal.next_dirty_at("f") == 30.0
    assert journal.next_dirty_at("other") is None


def test_backoff_grows_and_clears(journal: Journal) -> None:
    first = journal.record_failure("f", "p", "permission denied", now=1000.0)
    second = journal.record_failure("f", "p", "permission denied", now=1000.0)
    assert first.attempts == 1
    assert second.attempts == 2
    assert second.next_try > first.next_try > 1000.0
    assert journal.backed_off_paths("f", now=1000.5) == {"p"}
    assert [b.path for b in journal.list_failures()] == ["p"]
    journal.clear_failure("f", "p")
    assert journal.get_backoff("f", "p") is None


def test_activity_is_bounded_and_newest_first(journal: Journal) -> None:
    for i in range(1150):
        journal.add_activity("f", f"p{i}", "uploaded", ts=float(i))
    latest = journal.list_activity(3)
    assert [a.path for a in latest] == ["p1149", "p1148", "p1147"]
    assert len(journal.list_activity(5000)) <= 1000
    assert journal.list_activity(1, folder_id="nope") == []


def test_many_failures_clear_and_many_activities_land_at_once(journal: Journal) -> None:
    for p in ("a", "b", "c"):
        journal.record_failure("f", p, "boom", now=1000.0)
    journal.clear_failures("f", ["a", "c", "never-failed"])
    assert [b.path for b in journal.list_failures()] == ["b"]
    journal.add_activities("f", [(f"p{i}", "downloaded", str(i)) for i in range(1500)])
    latest = journal.list_activity(2)
    assert [(a.path, a.detail) for a in latest] == [("p1499", "1499"), ("p1498", "1498")]
    assert len(journal.list_activity(5000)) <= 1000  # bounded as one at a time is


def test_transfer_and_folder_state_round_trip(journal: Journal) -> None:
    up = TransferState("f", "big.iso", "upload", H1, uploaded=frozenset({H2, H3}), updated_at=5.0)
    down = TransferState(
        "f", "big.iso", "download", H2, temp_path="/r/.ferry/tmp/x", done_indices=frozenset({0, 3}), updated_at=6.0
    )
    journal.save_transfer(up)
    journal.save_transfer(down)
    assert journal.get_transfer("f", "big.iso", "upload") == up
    assert journal.get_transfer("f", "big.iso", "download") == down
    assert len(journal.list_transfers("f")) == 2
    journal.delete_transfer("f", "big.iso", "upload")
    assert journal.get_transfer("f", "big.iso", "upload") is None
    journal.set_cursor("f", 42)
    journal.set_marker_id("f", "f")
    journal.set_last_scan("f", 7.0)
    st_ = journal.folder_state("f")
    assert (st_.cursor, st_.marker_id, st_.last_scan) == (42, "f", 7.0)
    for key in ("relist:f", "swap:f:tmp-1", "commit:f:1", "relist:g", "commit:g:f", "commit:ff:1", "other"):
        journal.set_meta(key, "x")
    journal.forget_folder("f")
    assert journal.get_cursor("f") == 0
    assert journal.list_transfers() == []
    assert journal.meta_with_prefix("") == {"relist:g": "x", "commit:g:f": "x", "commit:ff:1": "x", "other": "x"}, \
        "the folder's own records in meta go, no other folder's"


def test_state_survives_reopen(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as j:
        j.put_local("f", LocalEntry("a", Kind.DIR))
        j.mark_dirty("f", ["a"], 1.0)
        j.set_meta("k", "v")
    with Journal(tmp_path / "j.db") as j:
        assert j.get_local("f", "a") is not None
        assert j.dirty_count() == 1
        assert j.get_meta("k") == "v"
        assert j.needs_rebuild is None


def test_reader_connections_of_finished_threads_are_closed(journal: Journal) -> None:
    for _ in range(50):  # e.g. one short-lived thread per IPC request
        t = threading.Thread(target=lambda: journal.list_activity(1))
        t.start()
        t.join()
    journal.get_meta("x")  # this thread's reader prunes the dead ones
    assert len(journal._readers) <= 2


def test_rows_for_paths_matches_rows_for_path(journal: Journal) -> None:
    """The bulk read the planning rounds use returns exactly what the per-path read returns."""

    paths = [f"d/f{i}.txt" for i in range(1200)] + ["only-remote", "absent"]
    for p in paths[:1200]:
        journal.put_local("f1", LocalEntry(p, Kind.FILE, 3, 1, 7, False, "aa" * 32, ("aa" * 32,)))
        if p.endswith("0.txt"):
            journal.put_synced("f1", SyncedEntry(p, Kind.FILE, "id", 2, 3, 1, 7, False, "aa" * 32, ("aa" * 32,)))
    journal.put_remote("f1", RemoteEntry("only-remote", Kind.DIR, "id2", 5))
    bulk = journal.rows_for_paths("f1", paths)
    assert list(bulk) == paths
    for p in paths:
        assert bulk[p] == journal.rows_for_path("f1", p)



row_kinds = st.sampled_from([Kind.FILE, Kind.DIR, Kind.SYMLINK])
# One column of the merge base changed on the local or remote row (or none, or a row missing).
CHANGES = ("none", "l.kind", "l.size", "l.mtime", "l.inode", "l.exe", "l.hash", "l.unhashed", "l.missing",
           "r.kind", "r.file_id", "r.rev", "r.exe", "r.hash", "r.missing", "s.missing")


def _rows(i: int, kind: Kind, h: str, change: str) -> tuple[LocalEntry | None, RemoteEntry | None, SyncedEntry | None]:
    p = f"p{i}"
    fh = h if kind is Kind.FILE else None
    other = Kind.DIR if kind is Kind.FILE else Kind.FILE
    synced = SyncedEntry(p, kind, "fa", 1, 5, 5, 5, False, fh)
    local = LocalEntry(p, other if change == "l.kind" else kind, 6 if change == "l.size" else 5,
                       6 if change == "l.mtime" else 5, 6 if change == "l.inode" else 5, change == "l.exe",
                       None if change == "l.unhashed" else H3 if change == "l.hash" else fh)
    remote = RemoteEntry(p, other if change == "r.kind" else kind, "fb" if change == "r.file_id" else "fa",
                         2 if change == "r.rev" else 1, 5, 5, change == "r.exe", H3 if change == "r.hash" else fh)
    return (None if change == "l.missing" else local, None if change == "r.missing" else remote,
            None if change == "s.missing" else synced)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(row_kinds, st.sampled_from([H1, H2]), st.sampled_from(CHANGES)), min_size=1,
                     max_size=len(CHANGES)))
def test_maybe_unsettled_misses_no_path_the_planner_would_act_on(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[Kind, str, str]]
) -> None:
    """The SQL pre-filter of the engine's settled check may name too many paths, never too few: every path whose
    rows the planner's state functions do not call SAME on both sides is among them."""
    from ferrysync.daemon.planner import State, local_state, remote_state

    with Journal(tmp_path_factory.mktemp("j") / "journal.db") as journal:
        expected = {}
        for i, (kind, h, change) in enumerate(rows):
            local, remote, synced = _rows(i, kind, h, change)
            with journal.transaction():
                for tree, row in (("local", local), ("remote", remote), ("synced", synced)):
                    if row is not None:
                        journal.put("f", tree, row)  # type: ignore[arg-type]
            expected[f"p{i}"] = local_state(local, synced) is State.SAME and remote_state(remote, synced) is State.SAME
        candidates = journal.maybe_unsettled("f")
        assert {p for p, settled in expected.items() if not settled} <= candidates
        untouched = {f"p{i}" for i, (_, _, change) in enumerate(rows) if change == "none"}
        assert not untouched & candidates, "rows equal to their merge base must not be read again"
        assert journal.maybe_unsettled("other") == set()
        # Its complement, asked of given paths (what the engine checks its own work with before planning it again):
        # never a path the planner would act on, and every path whose rows agree.
        settled = journal.settled_among("f", [*expected, "absent"])
        assert all(expected[p] for p in settled), "a path the planner would act on was called settled"
        assert settled == set(expected) - candidates
        assert journal.settled_among("other", list(expected)) == set()
