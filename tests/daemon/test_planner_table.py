"""The per-path decision table: every combination of absent / file A / file B / folder on the three rows."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest

from ferrysync.daemon.local.names import Profile
from ferrysync.daemon.model import Kind, LocalEntry, RemoteEntry, SyncedEntry
from ferrysync.daemon.planner import (
    SYMLINK_REASON,
    UNHASHED_REASON,
    Action,
    ConflictCopy,
    Defer,
    DeleteLocal,
    DeleteRemote,
    Download,
    ForgetSynced,
    KeepOut,
    MkdirLocal,
    MkdirRemote,
    MoveRemote,
    Noop,
    PlanContext,
    RecordSynced,
    Skip,
    Upload,
    plan_path,
)

P = "docs/report.txt"
WHEN = datetime(2026, 11, 26, 14, 25, 1)
CTX = PlanContext(host="laptop", when=WHEN, profile=Profile.LINUX)
COPY = "docs/report (conflicted copy from laptop 2026-11-26 142501).txt"
SYNCED_REV = 7


def synced(spec: str) -> SyncedEntry | None:
    if spec == "-":
        return None
    if spec == "D":
        return SyncedEntry(P, Kind.DIR, "fid", SYNCED_REV, inode=11)
    return SyncedEntry(P, Kind.FILE, "fid", SYNCED_REV, size=1, mtime_ns=100, inode=11,
                       content_hash=spec * 64,
                       blocks=(spec * 64,))


def local(spec: str) -> LocalEntry | None:
    """A local row; when it matches synced "A" it has the same stat, so it reads as unchanged."""
    if spec == "-":
        return None
    if spec == "D":
        return LocalEntry(P, Kind.DIR, inode=11)
    return LocalEntry(P, Kind.FILE, size=1, mtime_ns=100, inode=11, content_hash=spec * 64,
                      blocks=(spec * 64,))


def remote(spec: str, s_spec: str) -> RemoteEntry | None:
    """A remote row; when it matches the synced row's spec it has the synced rev (unchanged)."""
    if spec == "-":
        return None
    rev = SYNCED_REV if spec == s_spec else 20
    if spec == "D":
        return RemoteEntry(P, Kind.DIR, "fid" if spec == s_spec else "fid2", rev)
    return RemoteEntry(P, Kind.FILE, "fid", rev, size=1, mtime_ns=5, content_hash=spec * 64,
                       blocks=(spec * 64,))


def kinds(actions: list[Action]) -> list[str]:
    return [type(a).__name__ for a in actions]


# (local, remote, synced) -> expected action classes. "A"/"B"/"C" are file contents, "D" a folder, "-" absent.
TABLE: dict[tuple[str, str, str], list[type]] = {
    # never synced
    ("-", "-", "-"): [],
    ("A", "-", "-"): [Upload],
    ("D", "-", "-"): [MkdirRemote],
    ("-", "A", "-"): [Download],
    ("-", "D", "-"): [MkdirLocal],
    ("A", "A", "-"): [RecordSynced],  # same content on both sides: no conflict, no transfer
    ("A", "B", "-"): [ConflictCopy],
    ("A", "D", "-"): [ConflictCopy],
    ("D", "A", "-"): [MoveRemote],  # the server file is set aside so the local folder can go up
    ("D", "D", "-"): [RecordSynced],
    # synced file A
    ("-", "-", "A"): [ForgetSynced],
    ("A", "-", "A"): [DeleteLocal],
    ("B", "-", "A"): [Upload],  # modify beats delete
    ("D", "-", "A"): [MkdirRemote],
    ("-", "A", "A"): [DeleteRemote],
    ("-", "B", "A"): [Download],  # modify beats delete
    ("-", "D", "A"): [MkdirLocal],
    ("A", "A", "A"): [Noop],
    ("A", "B", "A"): [Download],
    ("A", "D", "A"): [DeleteLocal],  # unchanged file gives way to the server's folder (then MkdirLocal)
    ("B", "A", "A"): [Upload],
    ("B", "B", "A"): [RecordSynced],  # both made the same edit
    ("B", "C", "A"): [ConflictCopy],
    ("B", "D", "A"): [ConflictCopy],
    ("D", "A", "A"): [DeleteRemote],  # unchanged server file gives way to the local folder (then MkdirRemote)
    ("D", "B", "A"): [MoveRemote],
    ("D", "D", "A"): [RecordSynced],
    # synced folder
    ("-", "-", "D"): [ForgetSynced],
    ("A", "-", "D"): [Upload],
    ("D", "-", "D"): [DeleteLocal],
    ("-", "A", "D"): [Download],
    ("-", "D", "D"): [DeleteRemote],
    ("A", "A", "D"): [RecordSynced],
    ("A", "B", "D"): [ConflictCopy],
    ("A", "D", "D"): [DeleteRemote],
    ("D", "A", "D"): [DeleteLocal],
    ("D", "D", "D"): [Noop],
}


@pytest.mark.parametrize(("l_spec", "r_spec", "s_spec"), sorted(TABLE))
def test_decision_table(l_spec: str, r_spec: str, s_spec: str) -> None:
    actions = plan_path(local(l_spec), remote(r_spec, s_spec), synced(s_spec), CTX)
    assert kinds(actions) == [c.__name__ for c in TABLE[(l_spec, r_spec, s_spec)]]


ALL = list(itertools.product("-ABD", "-ABCD", "-AD"))


@pytest.mark.parametrize(("l_spec", "r_spec", "s_spec"), ALL)
def test_no_action_destroys_unsynced_content(l_spec: str, r_spec: str, s_spec: str) -> None:
    """Safety over every combination: deletions and overwrites only ever hit what the merge base holds."""
    loc, rem, syn = local(l_spec), remote(r_spec, s_spec), synced(s_spec)
    for a in plan_path(loc, rem, syn, CTX):
        if isinstance(a, DeleteLocal) or (isinstance(a, Download) and a.expect_local is not None):
            target = a.expect_local
            assert target is not None
            assert syn is not None
            assert target.kind is syn.kind
            if target.kind is Kind.FILE:
                assert target.content_hash == syn.content_hash
        if isinstance(a, DeleteRemote):
            assert rem is not None
            assert syn is not None
            assert rem.kind is syn.kind
            assert rem.content_hash == syn.content_hash
            assert a.base_rev == rem.rev
        if isinstance(a, Upload):
            assert a.base_rev == (rem.rev if rem is not None else None)
        if isinstance(a, ConflictCopy):
            assert a.copy_name == COPY
            assert a.expect_local == loc
        if isinstance(a, MoveRemote):
            assert a.local is None
            assert rem is not None
            assert a.base_rev == rem.rev


def test_conflict_copy_keeps_local_and_brings_remote() -> None:
    [a] = plan_path(local("B"), remote("C", "A"), synced("A"), CTX)
    assert isinstance(a, ConflictCopy)
    assert a.path == P
    assert a.copy_name == COPY
    assert a.expect_local == local("B")
    assert a.remote == remote("C", "A")


def test_conflict_name_avoids_taken_names() -> None:
    ctx = PlanContext(host="laptop", when=WHEN, profile=Profile.LINUX, exists=lambda p: p == COPY)
    [a] = plan_path(local("B"), remote("C", "A"), synced("A"), ctx)
    assert isinstance(a, ConflictCopy)
    assert a.copy_name == "docs/report (conflicted copy from laptop 2026-11-26 142501) 2.txt"


def test_mtime_only_local_change_records_no_upload() -> None:
    loc = LocalEntry(P, Kind.FILE, size=1, mtime_ns=999, inode=12, content_hash="A" * 64, blocks=("A" * 64,))
    [a] = plan_path(loc, remote("A", "A"), synced("A"), CTX)
    assert isinstance(a, RecordSynced)
    assert (a.row.mtime_ns, a.row.inode, a.row.rev) == (999, 12, SYNCED_REV)


def test_mtime_only_remote_change_records_no_download() -> None:
    rem = RemoteEntry(P, Kind.FILE, "fid", 30, size=1, mtime_ns=12345, content_hash="A" * 64,
                      blocks=("A" * 64,))
    [a] = plan_path(local("A"), rem, synced("A"), CTX)
    assert isinstance(a, RecordSynced)
    assert a.row.rev == 30
    assert a.row.mtime_ns == 100


def test_executable_bit_change_travels_both_ways() -> None:
    loc = LocalEntry(P, Kind.FILE, size=1, mtime_ns=100, inode=11, executable=True, content_hash="A" * 64)
    [up] = plan_path(loc, remote("A", "A"), synced("A"), CTX)
    assert isinstance(up, Upload)
    assert up.local.executable
    assert up.base_rev == SYNCED_REV
    rem = RemoteEntry(P, Kind.FILE, "fid", 30, size=1, executable=True, content_hash="A" * 64)
    [down] = plan_path(local("A"), rem, synced("A"), CTX)
    assert isinstance(down, Download)
    assert down.remote.executable
    assert down.expect_local == local("A")


def test_disk_without_executable_bit_neither_clears_nor_conflicts() -> None:
    """On Windows a file reads as not executable: that must not clear the bit on the server."""
    win = PlanContext(host="pc", when=WHEN, profile=Profile.WINDOWS)
    syn = SyncedEntry(P, Kind.FILE, "fid", 7, size=1, mtime_ns=100, inode=11, executable=True,
                      content_hash="A" * 64)
    rem = RemoteEntry(P, Kind.FILE, "fid", 7, size=1, executable=True, content_hash="A" * 64)
    assert kinds(plan_path(local("A"), rem, syn, win)) == ["Noop"]
    edited = LocalEntry(P, Kind.FILE, size=2, mtime_ns=200, inode=11, content_hash="B" * 64)
    [up] = plan_path(edited, rem, syn, win)
    assert isinstance(up, Upload)
    assert up.local.executable


def test_unhashed_local_file_waits() -> None:
    loc = LocalEntry(P, Kind.FILE, size=5, mtime_ns=500, inode=11, content_hash=None)
    assert plan_path(loc, remote("A", "A"), synced("A"), CTX) == [Defer(P, UNHASHED_REASON)]
    assert plan_path(loc, None, None, CTX) == [Defer(P, UNHASHED_REASON)]
    # Not hashed but stat unchanged: the synced content is still there, so a remote edit can come down.
    same_stat = LocalEntry(P, Kind.FILE, size=1, mtime_ns=100, inode=11, content_hash=None)
    assert kinds(plan_path(same_stat, remote("B", "A"), synced("A"), CTX)) == ["Download"]


@pytest.mark.parametrize("r_spec", ["-", "A", "B", "D"])
@pytest.mark.parametrize("s_spec", ["-", "A", "D"])
def test_symlinks_are_skipped_with_a_reason(r_spec: str, s_spec: str) -> None:
    link = LocalEntry(P, Kind.SYMLINK, link_target="/etc/passwd")
    assert plan_path(link, remote(r_spec, s_spec), synced(s_spec), CTX) == [Skip(P, SYMLINK_REASON)]


def test_remote_name_the_disk_cannot_hold_is_kept_out() -> None:
    rem = RemoteEntry("docs/aux.txt", Kind.FILE, "fid", 3, content_hash="A" * 64)
    win = PlanContext(host="pc", when=WHEN, profile=Profile.WINDOWS)
    [a] = plan_path(None, rem, None, win)
    assert isinstance(a, KeepOut)
    assert "AUX" in a.reason
    # The same name is fine on Linux, and a kept-out name is never deleted on the server.
    assert kinds(plan_path(None, rem, None, CTX)) == ["Download"]
    syn = SyncedEntry("docs/aux.txt", Kind.FILE, "fid", 3, content_hash="A" * 64)
    assert kinds(plan_path(None, rem, syn, win)) == ["KeepOut"]


def test_download_replaces_only_the_row_it_was_planned_against() -> None:
    [a] = plan_path(local("A"), remote("B", "A"), synced("A"), CTX)
    assert isinstance(a, Download)
    assert a.expect_local == local("A")
    [b] = plan_path(None, remote("B", "-"), None, CTX)
    assert isinstance(b, Download)
    assert b.expect_local is None


def test_empty_row_triple_plans_nothing() -> None:
    assert plan_path(None, None, None, CTX) == []
