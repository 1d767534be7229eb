"""The sync-root marker: created on first use, and its absence stops the folder instead of deleting."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferrysync.daemon.local.marker import (
    RootUnavailable,
    check_marker,
    init_marker,
    read_marker,
    tmp_dir,
    trash_dir,
)


def test_first_use_creates_marker_trash_and_tmp(tmp_path: Path) -> None:
    root = tmp_path / "Sync"
    init_marker(root, "f1", create_root=True)
    assert read_marker(root) == "f1"
    assert trash_dir(root).is_dir()
    assert tmp_dir(root).is_dir()
    check_marker(root, "f1")
    init_marker(root, "f1")  # idempotent
    check_marker(root, "f1")


def test_missing_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RootUnavailable, match="does not exist"):
        init_marker(tmp_path / "nope", "f1")
    with pytest.raises(RootUnavailable, match="missing"):
        check_marker(tmp_path / "nope", "f1")


def test_missing_marker_or_other_folder_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "Sync"
    root.mkdir()
    with pytest.raises(RootUnavailable, match="marker"):
        check_marker(root, "f1")  # an empty mount point looks like this
    init_marker(root, "other")
    with pytest.raises(RootUnavailable, match="'other'"):
        check_marker(root, "f1")
    with pytest.raises(RootUnavailable, match="already a Ferry folder"):
        init_marker(root, "f1")
    assert read_marker(root) == "other"


def test_a_file_where_the_root_should_be(tmp_path: Path) -> None:
    (tmp_path / "Sync").write_text("not a dir")
    with pytest.raises(RootUnavailable, match="missing"):
        check_marker(tmp_path / "Sync", "f1")


def test_an_unreadable_marker_stops_the_folder_instead_of_raising_an_os_error(tmp_path: Path) -> None:
    """An OSError here used to escape check_marker and end the sync loop that calls it, silently."""
    root = tmp_path / "Sync"
    init_marker(root, "f1", create_root=True)
    marker = root / ".ferry" / "folder-id"
    marker.unlink()
    marker.mkdir()  # reading it fails with IsADirectoryError, as an I/O error on a dying disk would
    with pytest.raises(RootUnavailable, match="cannot be read"):
        check_marker(root, "f1")
    marker.rmdir()
    marker.write_bytes(b"\xff\xfe")  # not UTF-8
    with pytest.raises(RootUnavailable, match="cannot be read"):
        check_marker(root, "f1")


def test_a_marker_checked_before_is_still_checked_after_it_changes(tmp_path: Path) -> None:
    """Checks after the first take one stat (the engine checks before every write); whatever replaced, removed or
    rewrote the marker since must still stop the folder."""
    root = tmp_path / "Sync"
    init_marker(root, "f1", create_root=True)
    marker = root / ".ferry" / "folder-id"
    check_marker(root, "f1")
    check_marker(root, "f1")  # the quick path: same file
    (root / ".ferry" / "other").write_text("f2\n")
    (root / ".ferry" / "other").replace(marker)  # another folder's marker, same size, put in its place
    with pytest.raises(RootUnavailable, match="'f2'"):
        check_marker(root, "f1")
    marker.write_text("f1\n")
    check_marker(root, "f1")
    with marker.open("r+") as f:  # rewritten in place: same inode, another size
        f.write("f10\n")
    with pytest.raises(RootUnavailable, match="'f10'"):
        check_marker(root, "f1")
    marker.write_text("f1\n")
    check_marker(root, "f1")
    marker.unlink()  # an unmounted disk leaves an empty mount point
    with pytest.raises(RootUnavailable, match="missing"):
        check_marker(root, "f1")
