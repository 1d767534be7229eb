"""Selective sync's pure rules: what may happen under an excluded path, what an exclusion frees, path checks.

The invariant is checked exhaustively over the decision table's row combinations: an excluded path never yields a
download nor a server deletion, whatever the journal says (a stale merge base included)."""

from __future__ import annotations

import argparse
import itertools
from datetime import datetime
from pathlib import Path

import pytest

from ferrysync.daemon.cli import UsageError
from ferrysync.daemon.cli.parser import build_parser
from ferrysync.daemon.cli.selective import locate
from ferrysync.daemon.config import ConfigError, config_to_dict, parse_config
from ferrysync.daemon.local.names import Profile
from ferrysync.daemon.model import Kind, LocalEntry, RemoteEntry, SyncedEntry
from ferrysync.daemon.planner import (
    ConflictCopy,
    DeleteLocal,
    DeleteRemote,
    Download,
    ForgetSynced,
    MkdirLocal,
    MoveLocal,
    MoveRemote,
    PathRows,
    PlanContext,
    Skip,
    Upload,
)
from ferrysync.daemon.planner.selective import (
    KEPT,
    NOT_UPLOADED,
    SERVER_NEWER,
    check_excluded_path,
    immediate_dirs,
    is_excluded,
    kept_reason,
    normalise_exclusions,
    plan_excluded,
    removals,
    spare_parents,
)

CTX = PlanContext(host="laptop", when=datetime(2026, 12, 3, 12, 0, 0), profile=Profile.LINUX)
SPECS = ("-", "A", "B", "D")


def rows(path: str, l_spec: str, r_spec: str, s_spec: str) -> PathRows:
    """Rows of `path`: "A"/"B" file contents, "D" a folder, "-" absent; a side equal to the merge base is unchanged."""
    synced = None
    if s_spec == "D":
        synced = SyncedEntry(path, Kind.DIR, "fid", 7, inode=11)
    elif s_spec != "-":
        synced = SyncedEntry(path, Kind.FILE, "fid", 7, size=1, mtime_ns=100, inode=11, content_hash=s_spec * 64,
                             blocks=(s_spec * 64,))
    local = None
    if l_spec == "D":
        local = LocalEntry(path, Kind.DIR, inode=11)
    elif l_spec != "-":
        local = LocalEntry(path, Kind.FILE, size=1, mtime_ns=100, inode=11, content_hash=l_spec * 64,
                           blocks=(l_spec * 64,))
    remote = None
    rev = 7 if r_spec == s_spec else 20
    if r_spec == "D":
        remote = RemoteEntry(path, Kind.DIR, "fid" if r_spec == s_spec else "fid2", rev)
    elif r_spec != "-":
        remote = RemoteEntry(path, Kind.FILE, "fid", rev, size=1, mtime_ns=5, content_hash=r_spec * 64,
                             blocks=(r_spec * 64,))
    return PathRows(path, local, remote, synced)


@pytest.mark.parametrize(("l_spec", "r_spec", "s_spec"), list(itertools.product(SPECS, repeat=3)))
def test_an_excluded_path_never_downloads_nor_deletes_on_the_server(l_spec: str, r_spec: str, s_spec: str) -> None:
    actions = plan_excluded(rows("Videos/a", l_spec, r_spec, s_spec), CTX)
    forbidden = (Download, MkdirLocal, DeleteRemote, MoveRemote, MoveLocal, ConflictCopy)
    assert not [a for a in actions if isinstance(a, forbidden)], actions


@pytest.mark.parametrize(("specs", "expected"), [
    (("-", "A", "A"), [ForgetSynced]),  # freed here, or a stale journal: the merge base goes, the server keeps it
    (("-", "D", "D"), [ForgetSynced]),
    (("-", "A", "-"), []),  # only on the server: not downloaded
    (("-", "B", "A"), [ForgetSynced]),
    (("A", "-", "-"), [Upload]),  # made here inside the exclusion: it goes up
    (("B", "A", "A"), [Upload]),  # edited here: goes up
    (("A", "B", "A"), []),  # the server moved on: this disk keeps its copy, nothing downloads
    (("B", "C", "A"), [Skip]),  # both changed: kept as it is, reported
    (("A", "-", "A"), [DeleteLocal]),  # deleted on the server (not because of the exclusion): to the trash
    (("A", "A", "-"), []),  # already equal: the RecordSynced of the table
])
def test_excluded_rows(specs: tuple[str, str, str], expected: list[type]) -> None:
    actions = plan_excluded(rows("Videos/a", *specs), CTX)
    if specs == ("A", "A", "-"):
        assert [type(a).__name__ for a in actions] == ["RecordSynced"]
    else:
        assert [type(a) for a in actions] == expected


def test_freeing_removes_only_what_the_server_has_and_folders_left_empty() -> None:
    subtree = [
        PathRows("V", LocalEntry("V", Kind.DIR, inode=1), RemoteEntry("V", Kind.DIR, "d", 1),
                 SyncedEntry("V", Kind.DIR, "d", 1, inode=1)),
        PathRows("V/old", LocalEntry("V/old", Kind.DIR, inode=2), RemoteEntry("V/old", Kind.DIR, "d2", 1),
                 SyncedEntry("V/old", Kind.DIR, "d2", 1, inode=2)),
        rows("V/old/synced.txt", "A", "A", "A"),
        rows("V/draft.txt", "A", "-", "-"),  # never uploaded
        rows("V/edited.txt", "B", "A", "A"),  # edited since the last sync
        rows("V/stale.txt", "A", "B", "A"),  # the server has a newer version
        rows("V/gone-here.txt", "-", "A", "A"),  # no local row: nothing to remove
    ]
    deletions, kept = removals(subtree)
    assert [(type(a), a.path) for a in deletions] == [(DeleteLocal, "V/old/synced.txt"), (DeleteLocal, "V/old")]
    assert kept == {"V/draft.txt": NOT_UPLOADED, "V/edited.txt": NOT_UPLOADED, "V/stale.txt": SERVER_NEWER}


def test_a_first_merge_frees_nothing() -> None:
    """Maestral #934: nothing is synced yet, so an exclusion chosen now removes no local file."""
    subtree = [rows("P/same.jpg", "A", "A", "-"), rows("P/mine.jpg", "A", "-", "-"), rows("P/other.jpg", "A", "B", "-")]
    deletions, kept = removals(subtree)
    assert deletions == []
    assert set(kept) == {"P/same.jpg", "P/mine.jpg", "P/other.jpg"}


def test_a_folder_holding_an_excluded_path_is_not_deleted_on_the_server() -> None:
    actions = [DeleteRemote("a", 3, Kind.DIR), DeleteRemote("a/c.txt", 4, Kind.FILE), DeleteRemote("ab", 5, Kind.DIR)]
    spared = spare_parents(actions, ("a/b", "x"))
    assert [(type(a), a.path) for a in spared] == [(ForgetSynced, "a"), (DeleteRemote, "a/c.txt"),
                                                   (DeleteRemote, "ab")]


def test_kept_reasons() -> None:
    assert kept_reason(rows("V/a", "A", "A", "A")) == KEPT
    assert kept_reason(rows("V/a", "A", "-", "-")) == NOT_UPLOADED
    assert kept_reason(rows("V/a", "A", "B", "A")) == SERVER_NEWER


def test_exclusion_paths() -> None:
    assert check_excluded_path("/Videos/2019/") == "Videos/2019"
    assert check_excluded_path("cafe\u0301") == "caf\u00e9"  # NFC, as the journal and the server spell it
    for bad in ("", "/", "../etc", "a/../b", "a//b", "C:/x", ".ferry", ".ferry/tmp", "a\\b"):
        with pytest.raises(ValueError, match=r"path inside the folder|never synced"):
            check_excluded_path(bad)
    assert normalise_exclusions(["b", "a/x", "a", "b"]) == ("a", "b")
    assert is_excluded("Videos/x", ("Videos",))
    assert is_excluded("Videos", ("Videos",))
    assert not is_excluded("Videos2/x", ("Videos",))
    assert not is_excluded("Video", ("Videos",))
    assert immediate_dirs(["a", "a/b", "a/b/c", "a/d", "e"], "a") == ["a/b", "a/d"]
    assert immediate_dirs(["a", "a/b", "e"], "") == ["a", "e"]


def test_config_keeps_exclusions_and_refuses_bad_ones() -> None:
    doc = {"folders": [{"id": "f1", "local": "/home/u/Ferry", "excluded": ["Videos/", "Videos/2019", "Music"],
                        "auto_include_new": False}]}
    cfg = parse_config(doc)
    assert cfg.folders[0].excluded == ("Music", "Videos")
    assert cfg.folders[0].auto_include_new is False
    assert parse_config(config_to_dict(cfg)) == cfg
    assert parse_config({"folders": [{"id": "f1", "local": "/x"}]}).folders[0].auto_include_new is True
    for bad, key in (([".."], "excluded[0]"), ("Videos", "excluded"), ([1], "excluded[0]")):
        with pytest.raises(ConfigError) as err:
            parse_config({"folders": [{"id": "f1", "local": "/x", "excluded": bad}]})
        assert err.value.key == f"folders[0].{key}"


def test_cli_names_a_path_inside_a_folder(tmp_path: Path) -> None:
    root = tmp_path / "Ferry"
    (root / "Videos").mkdir(parents=True)
    assert locate(str(root / "Videos"), None, [str(root)]) == (str(root), "Videos")
    assert locate(str(root / "Gone" / "x"), None, [str(root)]) == (str(root), "Gone/x")  # not on this disk
    assert locate(str(root), "Videos/2019/", []) == (str(root.resolve()), "Videos/2019")
    assert locate("f1234", "Videos", []) == ("f1234", "Videos")  # a folder id
    with pytest.raises(UsageError):
        locate(str(tmp_path / "elsewhere"), None, [str(root)])
    with pytest.raises(UsageError):
        locate(str(root), None, [str(root)])  # the root itself: remove the folder instead
    args = build_parser().parse_args(["exclude", str(root), "Videos", "--json"])
    assert (args.run, args.path, args.rel, args.json) == ("selective:cmd_exclude", str(root), "Videos", True)
    args = build_parser().parse_args(["folder", "add", str(root), "--exclude", "A", "--exclude", "B/c"])
    assert args.exclude == ["A", "B/c"]
    args = build_parser().parse_args(["folder", "set", "f1", "--auto-include-new", "off"])
    assert isinstance(args, argparse.Namespace)
    assert args.auto_include_new == "off"
