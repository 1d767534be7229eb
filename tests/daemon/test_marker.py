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
