"""Batch planning: moves both ways, folder moves as one action, name clashes, safe order, held deletions."""

from __future__ import annotations

import unicodedata
from datetime import datetime

from ferrysync.daemon.config import Settings
from ferrysync.daemon.local.names import Profile
from ferrysync.daemon.model import Kind, LocalEntry, RemoteEntry, SyncedEntry
from ferrysync.daemon.planner import (
    CLASH_REASON,
    MOVED_FOLDER_REASON,
    NO_THRESHOLD,
    PHASE_DELETE,
    PHASE_MKDIR,
    PHASE_MOVE,
    PHASE_TRANSFER,
    RATIO_MIN_FILES,
    Action,
    ConflictCopy,
    Defer,
    DeleteLocal,
    DeleteRemote,
    DeletionThreshold,
    Download,
    KeepOut,
    MkdirLocal,
    MkdirRemote,
    MoveLocal,
    MoveRemote,
    PathRows,
    PlanContext,
    Skip,
    Upload,
    phase,
    plan_batch,
)

WHEN = datetime(2026, 11, 26, 14, 25, 1)
CTX = PlanContext(host="laptop", when=WHEN, profile=Profile.LINUX)


class Tree:
    """Builds synced rows quickly: every path gets a file_id, a rev and an inode."""

    def __init__(self) -> None:
        self.rows: dict[str, PathRows] = {}
        self.n = 0

    def _next(self) -> int:
        self.n += 1
        return self.n

    def synced_file(self, path: str, content: str = "", inode: int | None = None) -> Tree:
        n = self._next()
        content = content or f"c{n}"
        ino = n + 1000 if inode is None else inode
        self.rows[path] = PathRows(
            path,
            LocalEntry(path, Kind.FILE, 1, 10, ino, content_hash=content),
            RemoteEntry(path, Kind.FILE, f"id{n}", n, 1, 10, content_hash=content),
            SyncedEntry(path, Kind.FILE, f"id{n}", n, 1, 10, ino, content_hash=content),
        )
        return self

    def synced_dir(self, path: str, inode: int | None = None) -> Tree:
        n = self._next()
        ino = n + 1000 if inode is None else inode
        self.rows[path] = PathRows(path, LocalEntry(path, Kind.DIR, inode=ino),
                                   RemoteEntry(path, Kind.DIR, f"id{n}", n),
                                   SyncedEntry(path, Kind.DIR, f"id{n}", n, inode=ino))
        return self

    def move_local(self, src: str, dst: str, keep_inode: bool = True) -> Tree:
        """The user renamed src (and everything below) to dst on disk."""
        for path in sorted(p for p in list(self.rows) if p == src or p.startswith(src + "/")):
            row = self.rows[path]
            assert row.local is not None
            new = dst + path[len(src):]
            self.rows[path] = PathRows(path, None, row.remote, row.synced)
            loc = LocalEntry(new, row.local.kind, row.local.size, row.local.mtime_ns,
                             row.local.inode if keep_inode else 0, content_hash=row.local.content_hash)
            self.rows[new] = PathRows(new, loc, None, None)
        return self

    def move_remote(self, src: str, dst: str) -> Tree:
        """Another device renamed src to dst on the server (file_ids kept, new revs)."""
        for path in sorted(p for p in list(self.rows) if p == src or p.startswith(src + "/")):
            row = self.rows[path]
            assert row.remote is not None
            new = dst + path[len(src):]
            self.rows[path] = PathRows(path, row.local, None, row.synced)
            rem = RemoteEntry(new, row.remote.kind, row.remote.file_id, row.remote.rev + 100, row.remote.size,
                              content_hash=row.remote.content_hash)
            self.rows[new] = PathRows(new, None, rem, None)
        return self

    def set(self, path: str, local: LocalEntry | None = None, remote: RemoteEntry | None = None,
            synced: SyncedEntry | None = None) -> Tree:
        self.rows[path] = PathRows(path, local, remote, synced)
        return self

    def plan(self, ctx: PlanContext = CTX, file_count: int = 1000,
             threshold: DeletionThreshold = NO_THRESHOLD) -> list[Action]:
        result = plan_batch(self.rows.values(), ctx, file_count, threshold)
        assert result.held_deletions == []
        return result.actions


def test_local_rename_is_one_remote_move() -> None:
    t = Tree().synced_dir("docs").synced_file("docs/a.txt").move_local("docs/a.txt", "docs/b.txt")
    [move] = t.plan()
    assert isinstance(move, MoveRemote)
    assert (move.src, move.dst, move.base_rev) == ("docs/a.txt", "docs/b.txt", 2)
    assert move.local is not None
    assert move.local.path == "docs/b.txt"


def test_local_folder_move_is_one_action_not_one_per_file() -> None:
    t = Tree().synced_dir("old")
    for i in range(50):
        t.synced_file(f"old/f{i}.txt")
    t.synced_dir("old/sub").synced_file("old/sub/deep.txt")
    t.synced_dir("archive").move_local("old", "archive/new")
    assert [(type(a), a.path) for a in t.plan()] == [(MoveRemote, "old")]


def test_local_moves_pair_by_unique_content_when_inodes_are_unknown() -> None:
    t = Tree().synced_file("a.txt", "alpha").synced_file("b.txt", "beta")
    t.move_local("a.txt", "A2.txt", keep_inode=False).move_local("b.txt", "B2.txt", keep_inode=False)
    moves = {(a.src, a.dst) for a in t.plan() if isinstance(a, MoveRemote)}
    assert moves == {("a.txt", "A2.txt"), ("b.txt", "B2.txt")}


def test_ambiguous_content_is_not_guessed_as_a_move() -> None:
    """Two vanished files with the same content and no inode: upload/delete instead of a wrong pairing."""
    t = Tree().synced_file("a.txt", "same").synced_file("b.txt", "same")
    t.move_local("a.txt", "x.txt", keep_inode=False).move_local("b.txt", "y.txt", keep_inode=False)
    actions = t.plan()
    assert not [a for a in actions if isinstance(a, MoveRemote)]
    assert sorted(type(a).__name__ for a in actions) == ["DeleteRemote", "DeleteRemote", "Upload", "Upload"]


def test_folder_move_is_inferred_without_inodes() -> None:
    t = Tree().synced_dir("src").synced_file("src/a", "A").synced_file("src/b", "B")
    t.move_local("src", "dst", keep_inode=False)
    assert [(type(a), a.path) for a in t.plan()] == [(MoveRemote, "src")]


def test_remote_rename_is_one_local_move() -> None:
    t = Tree().synced_file("notes.md").move_remote("notes.md", "Notes/notes.md")
    [move] = t.plan()
    assert isinstance(move, MoveLocal)
    assert (move.src, move.dst) == ("notes.md", "Notes/notes.md")
    assert move.expect_local == t.rows["notes.md"].local
    assert move.remote.file_id == "id1"


def test_remote_folder_move_is_one_action() -> None:
    t = Tree().synced_dir("photos")
    for i in range(20):
        t.synced_file(f"photos/{i}.jpg")
    t.move_remote("photos", "Pictures")
    assert [(type(a), a.path) for a in t.plan()] == [(MoveLocal, "photos")]


def test_case_only_renames_are_moves_both_ways() -> None:
    t = Tree().synced_file("readme.md").move_local("readme.md", "README.md")
    [up] = t.plan(PlanContext(host="h", when=WHEN, profile=Profile.WINDOWS))
    assert isinstance(up, MoveRemote)
    assert (up.src, up.dst) == ("readme.md", "README.md")
    t = Tree().synced_file("readme.md").move_remote("readme.md", "README.md")
    [down] = t.plan(PlanContext(host="h", when=WHEN, profile=Profile.MACOS))
    assert isinstance(down, MoveLocal)
    assert (down.src, down.dst) == ("readme.md", "README.md")


def test_new_file_inside_a_moving_folder_waits_for_the_move() -> None:
    t = Tree().synced_dir("a").synced_file("a/x").move_local("a", "b")
    t.set("b/new.txt", LocalEntry("b/new.txt", Kind.FILE, 1, 1, 77, content_hash="n"))
    actions = t.plan()
    assert [type(a) for a in actions] == [Defer, MoveRemote]
    assert actions[0] == Defer("b/new.txt", MOVED_FOLDER_REASON)


def test_move_and_edit_upload_after_the_move() -> None:
    """A renamed-and-edited file moves first (keeping history); the edit is planned on the next round."""
    t = Tree().synced_file("a.txt", "v1").move_local("a.txt", "b.txt")
    loc = t.rows["b.txt"].local
    assert loc is not None
    t.set("b.txt", LocalEntry("b.txt", Kind.FILE, 2, 20, loc.inode, content_hash="v2"))
    [move] = t.plan()
    assert isinstance(move, MoveRemote)
    assert move.dst == "b.txt"


def test_safe_order_mkdirs_first_moves_before_uploads_deletes_children_first() -> None:
    t = Tree().synced_dir("gone").synced_file("gone/f1").synced_dir("gone/sub").synced_file("gone/sub/f2")
    t.synced_file("old.txt").move_local("old.txt", "new/old.txt")
    for path in ["gone/sub/f2", "gone/sub", "gone/f1", "gone"]:  # deleted on the server, unchanged here
        r = t.rows[path]
        t.set(path, r.local, None, r.synced)
    t.set("new", LocalEntry("new", Kind.DIR, inode=500))
    t.set("new/deep", LocalEntry("new/deep", Kind.DIR, inode=501))
    t.set("new/deep/f.txt", LocalEntry("new/deep/f.txt", Kind.FILE, 1, 1, 502, content_hash="x"))
    t.set("down/d.txt", remote=RemoteEntry("down/d.txt", Kind.FILE, "r1", 90, content_hash="y"))
    actions = t.plan()
    names = [(type(a).__name__, a.path) for a in actions]
    assert names == [
        ("MkdirRemote", "new"),  # parents first...
        ("MkdirRemote", "new/deep"),
        ("MoveRemote", "old.txt"),  # ...then moves, so nothing uploads to a path about to move
        ("Download", "down/d.txt"),
        ("Upload", "new/deep/f.txt"),
        ("DeleteLocal", "gone/sub/f2"),
        ("DeleteLocal", "gone/f1"),
        ("DeleteLocal", "gone/sub"),
        ("DeleteLocal", "gone"),
    ]
    phases = [phase(a) for a in actions]
    assert phases == sorted(phases)
    expected = [PHASE_MKDIR, PHASE_MOVE, PHASE_TRANSFER, PHASE_DELETE]
    assert [phases[0], phases[2], phases[3], phases[-1]] == expected


def test_file_replaced_by_folder_clears_the_server_file_before_the_folder_goes_up() -> None:
    t = Tree().synced_file("x")
    r = t.rows["x"]
    t.set("x", LocalEntry("x", Kind.DIR, inode=9), r.remote, r.synced)
    t.set("x/inside.txt", LocalEntry("x/inside.txt", Kind.FILE, 1, 1, 10, content_hash="i"))
    actions = t.plan()
    names = [(type(a).__name__, a.path) for a in actions]
    assert names == [("DeleteRemote", "x"), ("Upload", "x/inside.txt")]


def test_folder_replaced_by_file_here_while_the_server_added_to_it_keeps_both() -> None:
    t = Tree().synced_dir("proj").synced_file("proj/a")
    t.set("proj", LocalEntry("proj", Kind.FILE, 1, 1, 50, content_hash="file"), t.rows["proj"].remote,
          t.rows["proj"].synced)
    t.set("proj/a", None, t.rows["proj/a"].remote, t.rows["proj/a"].synced)
    t.set("proj/new", remote=RemoteEntry("proj/new", Kind.FILE, "n1", 80, content_hash="new"))
    actions = t.plan()
    kinds = {(type(a).__name__, a.path) for a in actions}
    # The local file steps aside; the folder and its new file come down.
    assert ("ConflictCopy", "proj") in kinds
    assert ("Download", "proj/new") in kinds
    assert not [a for a in actions if isinstance(a, DeleteRemote) and a.path == "proj"]


def test_folder_deleted_on_server_but_holding_local_work_comes_back() -> None:
    t = Tree().synced_dir("d").synced_file("d/old")
    t.set("d", t.rows["d"].local, None, t.rows["d"].synced)
    t.set("d/old", t.rows["d/old"].local, None, t.rows["d/old"].synced)
    t.set("d/link", LocalEntry("d/link", Kind.SYMLINK, link_target="/tmp"))
    actions = t.plan()
    assert {(type(a).__name__, a.path) for a in actions} == {
        ("Skip", "d/link"), ("MkdirRemote", "d"), ("DeleteLocal", "d/old")}


def test_server_folder_holding_a_kept_out_name_is_not_deleted() -> None:
    win = PlanContext(host="pc", when=WHEN, profile=Profile.WINDOWS)
    t = Tree().synced_dir("d")
    t.set("d", None, t.rows["d"].remote, t.rows["d"].synced)
    t.set("d/con.txt", remote=RemoteEntry("d/con.txt", Kind.FILE, "k", 60, content_hash="k"))
    actions = t.plan(win)
    assert {type(a) for a in actions} == {KeepOut, MkdirLocal}
    assert not [a for a in actions if isinstance(a, DeleteRemote)]


def test_case_twins_from_the_server_are_kept_out_on_case_insensitive_disks() -> None:
    t = Tree().synced_file("Report.txt")
    t.set("report.txt", remote=RemoteEntry("report.txt", Kind.FILE, "z", 70, content_hash="other"))
    t.set("Docs/a", remote=RemoteEntry("Docs/a", Kind.FILE, "y", 71, content_hash="a"))
    t.set("docs/b", remote=RemoteEntry("docs/b", Kind.FILE, "x", 72, content_hash="b"))
    win = PlanContext(host="pc", when=WHEN, profile=Profile.WINDOWS)
    actions = t.plan(win)
    assert KeepOut("report.txt", CLASH_REASON) in actions
    downloads = sorted(a.path for a in actions if isinstance(a, Download))
    kept = sorted(a.path for a in actions if isinstance(a, KeepOut))
    assert len(downloads) == 1
    assert len(kept) == 2
    assert not [a for a in t.plan() if isinstance(a, KeepOut)]  # Linux holds them all


def test_nfd_twin_from_the_server_is_kept_out_on_macos() -> None:
    nfc, nfd = "café.txt", unicodedata.normalize("NFD", "café.txt")
    t = Tree().synced_file(nfc)
    t.set(nfd, remote=RemoteEntry(nfd, Kind.FILE, "t", 70, content_hash="x"))
    actions = t.plan(PlanContext(host="mac", when=WHEN, profile=Profile.MACOS))
    assert actions == [KeepOut(nfd, CLASH_REASON)]


def test_paths_inside_a_local_symlink_are_left_alone() -> None:
    link = LocalEntry("link", Kind.SYMLINK, link_target="/etc")
    t = Tree().set("link", link, RemoteEntry("link", Kind.DIR, "l", 1))
    t.set("link/passwd", remote=RemoteEntry("link/passwd", Kind.FILE, "p", 2, content_hash="p"))
    actions = t.plan()
    assert [type(a) for a in actions] == [Skip, Skip]


def _deletions(n: int) -> Tree:
    t = Tree()
    for i in range(n):
        t.synced_file(f"f{i}")
        r = t.rows[f"f{i}"]
        t.set(f"f{i}", None, r.remote, r.synced)
    t.set("kept.txt", LocalEntry("kept.txt", Kind.FILE, 1, 1, 5000, content_hash="k"))
    return t


SETTINGS = Settings()
USER = DeletionThreshold(max_files=SETTINGS.delete_threshold_count, max_ratio=SETTINGS.delete_threshold_ratio)


def _held(deleting: int, file_count: int, threshold: DeletionThreshold = USER) -> int:
    return len(plan_batch(_deletions(deleting).rows.values(), CTX, file_count, threshold).held_deletions)


def test_mass_deletion_is_held_for_confirmation() -> None:
    t = _deletions(30)
    result = plan_batch(t.rows.values(), CTX, file_count=40, threshold=DeletionThreshold(max_files=1000,
                                                                                          max_ratio=0.5))
    assert len(result.held_deletions) == 30
    assert all(isinstance(a, DeleteRemote) for a in result.held_deletions)
    assert [type(a) for a in result.actions] == [Upload]  # the rest of the batch still runs


def test_deletions_under_the_threshold_run() -> None:
    t = _deletions(30)
    result = plan_batch(t.rows.values(), CTX, file_count=1000, threshold=USER)
    assert result.held_deletions == []
    assert len(result.actions) == 31
    many = _deletions(12)
    held = plan_batch(many.rows.values(), CTX, file_count=10_000, threshold=DeletionThreshold(max_files=10,
                                                                                               max_ratio=0.5))
    assert len(held.held_deletions) == 12


def test_the_planner_applies_the_users_settings_and_nothing_else() -> None:
    """The user guide promises a hold above 50 files or half a folder: defaults come from the settings schema only."""
    assert (SETTINGS.delete_threshold_count, SETTINGS.delete_threshold_ratio) == (50, 0.5)
    assert _held(50, 1_000_000) == 0
    assert _held(51, 1_000_000) == 51


def test_half_of_a_small_folder_is_held() -> None:
    """The reported case: a folder of 15 files emptied (a server replaced by an empty one) waits for the user."""
    assert _held(15, 15) == 15
    assert _held(8, 15) == 8
    assert _held(7, 15) == 0  # not more than half


def test_tidying_a_tiny_folder_is_not_held() -> None:
    assert RATIO_MIN_FILES == 5
    assert _held(1, 1) == 0
    assert _held(2, 3) == 0
    assert _held(4, 4) == 0  # below the floor: deleting a handful of files is not an accident
    assert _held(5, 5) == 5  # at the floor and more than half: held
    assert _held(5, 9) == 5
    assert _held(5, 10) == 0  # exactly half is not more than half


def test_the_ratio_follows_the_setting() -> None:
    strict = DeletionThreshold(max_files=50, max_ratio=0.25)
    assert _held(6, 20, strict) == 6
    assert _held(5, 20, strict) == 0
    loose = DeletionThreshold(max_files=50, max_ratio=1.0)  # never more than all of a folder: count only
    assert _held(20, 20, loose) == 0


def test_folder_deletions_ride_along_but_do_not_count() -> None:
    t = Tree().synced_dir("d")
    t.set("d", None, t.rows["d"].remote, t.rows["d"].synced)
    result = plan_batch(t.rows.values(), CTX, file_count=0, threshold=DeletionThreshold(max_files=0, max_ratio=0.5))
    assert result.held_deletions == []
    assert [type(a) for a in result.actions] == [DeleteRemote]


def test_conflict_copies_in_one_batch_get_distinct_names() -> None:
    t = Tree()
    for name in ("a.txt", "a.txt (conflicted copy from laptop 2026-11-26 142501)"):
        t.set(name, LocalEntry(name, Kind.FILE, 1, 1, 1, content_hash=f"L{name}"),
              RemoteEntry(name, Kind.FILE, f"id-{name}", 5, content_hash=f"R{name}"))
    taken = "a (conflicted copy from laptop 2026-11-26 142501).txt"
    t.set(taken, LocalEntry(taken, Kind.FILE, 1, 1, 3, content_hash="z"))
    copies = [a for a in t.plan() if isinstance(a, ConflictCopy)]
    assert {c.copy_name for c in copies} == {
        "a (conflicted copy from laptop 2026-11-26 142501) 2.txt",
        "a.txt (conflicted copy from laptop 2026-11-26 142501) "
        "(conflicted copy from laptop 2026-11-26 142501)",
    }


def test_unrelated_paths_plan_independently() -> None:
    t = Tree().set("up.txt", LocalEntry("up.txt", Kind.FILE, 1, 1, 1, content_hash="u"))
    t.set("down", remote=RemoteEntry("down", Kind.DIR, "d", 3))
    assert [type(a) for a in t.plan()] == [MkdirLocal, Upload]
    assert not [a for a in t.plan() if isinstance(a, DeleteLocal | MkdirRemote)]


def test_server_rename_onto_a_name_in_use_here_is_kept_out_not_moved() -> None:
    t = Tree().synced_file("a.txt").synced_file("b.txt").move_remote("a.txt", "B.txt")
    win = PlanContext(host="pc", when=WHEN, profile=Profile.WINDOWS)
    actions = t.plan(win)
    assert not [a for a in actions if isinstance(a, MoveLocal)]
    assert KeepOut("B.txt", CLASH_REASON) in actions
    # On Linux the same rename is a plain move.
    assert [type(a) for a in t.plan()] == [MoveLocal]


def test_case_only_folder_rename_from_the_server_on_windows() -> None:
    t = Tree().synced_dir("docs").synced_file("docs/a").synced_file("docs/b").move_remote("docs", "Docs")
    actions = t.plan(PlanContext(host="pc", when=WHEN, profile=Profile.WINDOWS))
    assert [(type(a), a.path) for a in actions] == [(MoveLocal, "docs")]


def test_local_names_the_server_refuses_stay_local_with_a_reason() -> None:
    nfd = unicodedata.normalize("NFD", "résumé.txt")
    t = Tree().set(nfd, LocalEntry(nfd, Kind.FILE, 1, 1, 1, content_hash="r"))
    t.set("back\\slash", LocalEntry("back\\slash", Kind.FILE, 1, 1, 2, content_hash="b"))
    actions = t.plan()
    assert [type(a) for a in actions] == [Skip, Skip]
    assert any("NFC" in a.reason for a in actions if isinstance(a, Skip))


def test_planning_is_deterministic_whatever_the_input_order() -> None:
    t = Tree().synced_dir("a").synced_file("a/x").synced_file("b").move_local("a", "c")
    t.set("new", LocalEntry("new", Kind.FILE, 1, 1, 99, content_hash="n"))
    t.set("r", remote=RemoteEntry("r", Kind.FILE, "r", 50, content_hash="r"))
    rows = list(t.rows.values())
    first = plan_batch(rows, CTX, 10, USER)
    assert plan_batch(list(reversed(rows)), CTX, 10, USER) == first


def test_server_renames_that_wait_on_each_other_are_not_moves_on_a_case_insensitive_disk() -> None:
    """A -> D.TXT needs d.txt gone, d.txt -> a/x needs A gone: as moves they would wait forever."""
    t = Tree().synced_file("A", "first").synced_file("d.txt", "second")
    t.move_remote("A", "D.TXT").move_remote("d.txt", "a/x")
    t.set("a", remote=RemoteEntry("a", Kind.DIR, "dir-a", 300))
    win = PlanContext(host="pc", when=WHEN, profile=Profile.WINDOWS)
    actions = t.plan(win)
    assert not [a for a in actions if isinstance(a, MoveLocal)]
    assert {(type(a).__name__, a.path) for a in actions} == {
        ("KeepOut", "D.TXT"), ("KeepOut", "a"), ("KeepOut", "a/x"), ("DeleteLocal", "A"), ("DeleteLocal", "d.txt")}
    # Once the old names are gone here, the new ones come down.
    after = Tree()
    for path in ("D.TXT", "a", "a/x"):
        after.set(path, remote=t.rows[path].remote)
    assert sorted((type(a).__name__, a.path) for a in after.plan(win)) == [
        ("Download", "D.TXT"), ("Download", "a/x"), ("MkdirLocal", "a")]
    # On Linux the same renames are plain moves.
    assert sorted(type(a).__name__ for a in t.plan()) == ["MkdirLocal", "MoveLocal", "MoveLocal"]


def test_a_wipe_that_arrives_in_small_batches_still_counts_as_one() -> None:
    """Deletions made lately (and not approved) count with the batch: three batches of 4 of a 12-file folder
    pass alone, but the third, with the 8 before it, is more than half of the folder."""
    from ferrysync.daemon.planner import DeletionThreshold

    alone = DeletionThreshold(max_files=50, max_ratio=0.5)
    assert not alone.exceeded(4, 12)
    after_eight = DeletionThreshold(max_files=50, max_ratio=0.5, recently_deleted=8)
    assert after_eight.exceeded(4, 12 - 8)  # 12 of the 12 files the folder had
    assert not DeletionThreshold(max_files=50, max_ratio=0.5, recently_deleted=8).exceeded(0, 4)  # nothing now
    assert DeletionThreshold(max_files=10, max_ratio=1.0, recently_deleted=9).exceeded(2, 1000)  # the count too
    # 7 already held, 3 more arrive: together 10 of 12, held too (the 7 still count in the folder's 12)
    assert DeletionThreshold(max_files=50, max_ratio=0.5, waiting=7).exceeded(3, 12)
