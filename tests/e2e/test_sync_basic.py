"""Two real daemons through a real server: what one device does on disk, the other sees on disk."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from devices import Device, converge, tree
from util import wait_until


def test_create_edit_delete_propagate_both_ways(pair: tuple[Device, Device]) -> None:
    a, b = pair
    (a.folder / "notes.txt").write_text("first")
    (a.folder / "docs" / "deep").mkdir(parents=True)
    (a.folder / "docs" / "deep" / "report.md").write_text("# report")
    (a.folder / "empty-folder").mkdir()
    converge(a, b)
    assert (b.folder / "notes.txt").read_text() == "first"
    assert (b.folder / "empty-folder").is_dir()

    (b.folder / "notes.txt").write_text("edited on desktop")
    converge(a, b)
    assert (a.folder / "notes.txt").read_text() == "edited on desktop"

    (a.folder / "docs" / "deep" / "report.md").unlink()
    converge(a, b)
    assert not (b.folder / "docs" / "deep" / "report.md").exists()
    assert (b.folder / "docs" / "deep").is_dir()


def test_renames_and_folder_moves_keep_content(pair: tuple[Device, Device]) -> None:
    a, b = pair
    project = a.folder / "project"
    (project / "src").mkdir(parents=True)
    for i in range(20):
        (project / "src" / f"m{i}.py").write_text(f"print({i})\n")
    converge(a, b)
    os.rename(project, a.folder / "renamed-project")
    converge(a, b)
    assert sorted(p.name for p in (b.folder / "renamed-project" / "src").iterdir()) == sorted(
        f"m{i}.py" for i in range(20))
    assert not (b.folder / "project").exists()
    # a case-only rename on the other side
    os.rename(b.folder / "renamed-project", b.folder / "Renamed-Project")
    converge(a, b)
    assert (a.folder / "Renamed-Project" / "src" / "m3.py").read_text() == "print(3)\n"
    activity = a.json("activity")["activity"]
    assert any(e["action"] == "moved" for e in activity), activity


def test_executable_bit_and_mtime_travel(pair: tuple[Device, Device]) -> None:
    a, b = pair
    script = a.folder / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    os.utime(script, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    converge(a, b)
    got = b.folder / "run.sh"
    assert got.stat().st_mtime_ns == 1_600_000_000_000_000_000
    assert not os.access(got, os.X_OK)
    script.chmod(0o755)
    wait_until(lambda: os.access(got, os.X_OK), timeout=30, what="the executable bit to arrive")


def test_both_edit_while_one_is_stopped_keeps_both(pair: tuple[Device, Device]) -> None:
    a, b = pair
    (a.folder / "plan.txt").write_text("v0")
    converge(a, b)
    b.wait_synced()
    b.stop()
    (b.folder / "plan.txt").write_text("offline edit on desktop")
    (a.folder / "plan.txt").write_text("online edit on laptop")
    a.wait_synced()
    b.start()
    converge(a, b)
    files = {p: c for p, c in tree(a.folder).items() if c is not None}
    conflict_copies = [p for p in files if "conflicted copy" in p]
    assert len(conflict_copies) == 1, files
    assert sorted(files.values()) == sorted([b"online edit on laptop", b"offline edit on desktop"])
    assert b.json("conflicts")["conflicts"]
    assert b.status()["conflicts"] == 1  # the tray's "needs attention"
    (b.folder / conflict_copies[0]).unlink()  # resolved: the user keeps one version
    wait_until(lambda: b.status()["conflicts"] == 0, timeout=30, what="the conflict to count as resolved")


def test_same_content_on_both_sides_is_no_conflict(make_device: object, tmp_path: Path) -> None:
    folder_a, folder_b = tmp_path / "pre-a", tmp_path / "pre-b"
    for f, extra in ((folder_a, "only-a.txt"), (folder_b, "only-b.txt")):
        (f / "shared").mkdir(parents=True)
        (f / "shared" / "same.txt").write_text("identical")
        (f / extra).write_text(extra)
    (folder_a / "differs.txt").write_text("A's")
    (folder_b / "differs.txt").write_text("B's")
    a = make_device("a", folder=folder_a)  # type: ignore[operator]
    a.wait_synced()
    b = make_device("b", folder=folder_b)  # type: ignore[operator]
    converge(a, b)
    names = set(tree(a.folder))
    assert {"only-a.txt", "only-b.txt", "shared/same.txt", "differs.txt"} <= names
    assert not any("conflicted copy" in n and "same" in n for n in names)
    copies = [n for n in names if "conflicted copy" in n]
    assert len(copies) == 1
    assert copies[0].startswith("differs (conflicted copy from ")
    contents = {tree(a.folder)[n] for n in ("differs.txt", copies[0])}
    assert contents == {b"A's", b"B's"}


def test_deleting_a_folder_propagates_and_goes_to_trash(pair: tuple[Device, Device]) -> None:
    a, b = pair
    (a.folder / "old" / "sub").mkdir(parents=True)
    (a.folder / "old" / "sub" / "x.txt").write_text("x")
    converge(a, b)
    shutil.rmtree(a.folder / "old")
    converge(a, b)
    assert not (b.folder / "old").exists()
    revisions = a.json("versions", str(a.folder / "old" / "sub" / "x.txt"))["revisions"]
    assert any(r["deleted"] for r in revisions) or revisions


def test_names_this_disk_cannot_hold_are_kept_out_not_renamed(pair: tuple[Device, Device]) -> None:
    a, b = pair
    b.ferry("settings", "set", "name_rules", "windows")  # e.g. B's folder lives on an exFAT/NTFS disk
    for name in ("aux.txt", "notes:v2.txt", "trailing.", "Readme.md", "README.md", "fine.txt"):
        (a.folder / name).write_text(name)
    wait_until(lambda: (b.folder / "fine.txt").exists(), timeout=30, what="the portable name to arrive")
    wanted = {"aux.txt", "notes:v2.txt", "trailing."}
    wait_until(lambda: wanted <= {Path(e["path"]).name for e in b.json("errors")["name_issues"]}, timeout=30,
               what="the names Windows cannot hold to be listed with a reason")
    assert not (b.folder / "aux.txt").exists()
    assert not (b.folder / "notes:v2.txt").exists()
    assert len([n for n in os.listdir(b.folder) if n.lower() == "readme.md"]) == 1
    assert b.status()["name_issues"] >= 4
    # nothing was renamed or deleted on the server: A still has every name
    b.wait_synced()
    assert {p for p in tree(a.folder)} >= {"aux.txt", "notes:v2.txt", "trailing.", "Readme.md", "README.md"}


def test_folder_trash_keeps_what_ferry_deleted(pair: tuple[Device, Device]) -> None:
    a, b = pair
    b.ferry("settings", "set", "trash", "folder")
    (a.folder / "draft.txt").write_text("keep me somewhere")
    converge(a, b)
    (a.folder / "draft.txt").unlink()
    converge(a, b)
    listed = b.json("trash", "list")["entries"]
    assert [Path(e["path"]).name for e in listed] == ["draft.txt"]
    b.ferry("trash", "restore", str(b.folder / "draft.txt"))
    converge(a, b)
    assert (a.folder / "draft.txt").read_text() == "keep me somewhere"
