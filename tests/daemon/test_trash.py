"""Local deletions are recoverable: the OS trash when there is one, else the folder's own trash, from which
items can be listed and restored (never over something that exists now)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import send2trash.plat_other as xdg

from ferrysync.daemon.local.trash import (
    list_folder_trash,
    move_to_trash,
    purge_folder_trash,
    restore_from_folder_trash,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "Sync"
    (r / "docs" / "deep").mkdir(parents=True)
    (r / "docs" / "a.txt").write_text("alpha")
    (r / "docs" / "deep" / "b.txt").write_text("beta")
    return r


@pytest.fixture
def xdg_trash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """send2trash's freedesktop trash, pointed into the test's temp dir (it reads XDG_DATA_HOME at import)."""
    data = tmp_path / "xdg-data"
    monkeypatch.setattr(xdg, "XDG_DATA_HOME", os.fsencode(data))
    monkeypatch.setattr(xdg, "HOMETRASH_B", os.fsencode(data / "Trash"))
    monkeypatch.setattr(xdg, "HOMETRASH", str(data / "Trash"))
    return data / "Trash"


def no_os_trash(path: str) -> None:
    raise OSError(f"no trash can for {path} on this filesystem")


@pytest.mark.skipif(os.name != "posix" or os.uname().sysname == "Darwin", reason="freedesktop trash layout")
def test_os_trash_is_used_when_it_works(root: Path, xdg_trash: Path) -> None:
    item = move_to_trash(root, "docs/a.txt", os_trash=xdg.send2trash)
    assert item.location == "os"
    assert not (root / "docs" / "a.txt").exists()
    assert (xdg_trash / "files" / "a.txt").read_text() == "alpha"
    assert (xdg_trash / "info" / "a.txt.trashinfo").exists()
    assert not (root / ".ferry").exists()


def test_folder_trash_when_the_os_trash_fails(root: Path) -> None:
    item = move_to_trash(root, "docs/a.txt", os_trash=no_os_trash)
    assert item.location == "folder"
    assert item.stored_at is not None
    assert not (root / "docs" / "a.txt").exists()
    assert item.stored_at.read_text() == "alpha"
    assert item.stored_at.relative_to(root).parts[:2] == (".ferry", "trash")
    assert item.stored_at.relative_to(root).parts[3:] == ("docs", "a.txt")


def test_list_and_restore_a_file_and_a_folder(root: Path) -> None:
    move_to_trash(root, "docs/a.txt", use_os_trash=False)
    move_to_trash(root, "docs/deep", use_os_trash=False)
    items = list_folder_trash(root)
    assert [(i.relpath, i.is_dir) for i in items] == [("docs/deep", True), ("docs/a.txt", False)]  # newest first
    restored = restore_from_folder_trash(root, items[0])
    assert restored == root / "docs" / "deep"
    assert (restored / "b.txt").read_text() == "beta"
    assert [i.relpath for i in list_folder_trash(root)] == ["docs/a.txt"]


def test_restore_never_overwrites(root: Path) -> None:
    move_to_trash(root, "docs/a.txt", use_os_trash=False)
    (root / "docs" / "a.txt").write_text("a new file with that name")
    [item] = list_folder_trash(root)
    with pytest.raises(FileExistsError):
        restore_from_folder_trash(root, item)
    assert (root / "docs" / "a.txt").read_text() == "a new file with that name"
    assert restore_from_folder_trash(root, item, to="docs/a (restored).txt").read_text() == "alpha"
    assert list_folder_trash(root) == []


def test_same_path_trashed_twice_keeps_both(root: Path) -> None:
    move_to_trash(root, "docs/a.txt", use_os_trash=False)
    (root / "docs" / "a.txt").write_text("second")
    move_to_trash(root, "docs/a.txt", use_os_trash=False)
    assert sorted(i.stored_at.read_text() for i in list_folder_trash(root) if i.stored_at) == ["alpha", "second"]


@pytest.mark.parametrize("bad", ["", "/etc/passwd", "../outside", "docs/../../x", ".ferry/trash", "a//b"])
def test_paths_outside_the_root_or_ferrys_own_are_refused(root: Path, bad: str) -> None:
    with pytest.raises(ValueError, match=r"not a relative path inside the sync folder|Ferry's own folder"):
        move_to_trash(root, bad, use_os_trash=False)


def test_missing_file_is_an_error_not_a_silent_success(root: Path) -> None:
    with pytest.raises(FileNotFoundError):
        move_to_trash(root, "docs/nope.txt", use_os_trash=False)


def test_purge_removes_only_old_items(root: Path) -> None:
    old = move_to_trash(root, "docs/a.txt", use_os_trash=False)
    move_to_trash(root, "docs/deep", use_os_trash=False)
    assert purge_folder_trash(root, older_than_s=3600) == 0
    assert purge_folder_trash(root, older_than_s=3600, now=old.trashed_at.timestamp() + 7200) == 2
    assert list_folder_trash(root) == []
