"""Selective sync (issue 15), end to end: real daemons, a real server, what a user sees on each disk.

An exclusion is a choice about one disk. Excluding a subtree frees this disk of what the server also has (to the
trash), keeps what is not uploaded yet, deletes nothing on the server and nothing on the other device; including it
again brings it back, reusing chunks this disk already holds. The choice lives in config.toml, so a restart, a stale
journal (one copied from before the exclusion) or a deleted journal neither forgets it nor turns it into deletions.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from devices import Device, tree
from losslib import ServerView
from util import ServerProcess, wait_until

BIG = os.urandom(3 * 1024 * 1024)  # several chunks: its bytes also lie in Docs/, so including Videos costs ~nothing


def _downloaded(server: ServerProcess) -> float:
    """Block bytes the server has served so far (its Prometheus counter)."""
    text = requests.get(server.url + "/metrics", timeout=10).text
    m = re.search(r"^ferry_block_bytes_downloaded_total (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def _excluded(d: Device) -> dict[str, Any]:
    folders: list[dict[str, Any]] = d.json("excluded")["folders"]
    return next(f for f in folders if f["root"] == str(d.folder.resolve()))


def _ipc(d: Device, method: str, **params: Any) -> dict[str, Any]:
    """One call on the device's control socket, as the web UI makes it."""
    code = ("import json, sys; from ferrysync.daemon.ipc.client import ControlClient\n"
            "with ControlClient() as c: print(json.dumps(c.call(sys.argv[1], **json.loads(sys.argv[2]))))")
    out = subprocess.run([sys.executable, "-c", code, method, json.dumps(params)], env=d.env, capture_output=True,
                         text=True, timeout=30, check=True).stdout
    answer: dict[str, Any] = json.loads(out)
    return answer


def _fill(a: Device) -> None:
    (a.folder / "Videos" / "2019").mkdir(parents=True)
    (a.folder / "Docs").mkdir()
    (a.folder / "Videos" / "big.bin").write_bytes(BIG)
    (a.folder / "Videos" / "2019" / "trip.txt").write_bytes(b"a trip")
    (a.folder / "Docs" / "big-copy.bin").write_bytes(BIG)
    (a.folder / "Docs" / "notes.txt").write_bytes(b"notes")


def _videos_on_server(view: ServerView) -> dict[str, bytes]:
    return {p: c for p, c in view.files().items() if p.startswith("Videos/")}


def test_exclude_frees_this_disk_only_and_include_reuses_chunks(
        pair: tuple[Device, Device], server: ServerProcess) -> None:
    a, b = pair
    view = ServerView(server)
    b.ferry("settings", "set", "trash", "folder")  # the folder's own trash: the test can look into it
    _fill(a)
    wait_until(lambda: tree(b.folder).get("Videos/big.bin") == BIG and "Docs/notes.txt" in tree(b.folder),
               timeout=60, what="the desktop to hold everything")
    b.wait_synced()

    out = b.ferry("exclude", str(b.folder / "Videos")).stdout
    assert "Nothing is deleted on the server" in out
    wait_until(lambda: not (b.folder / "Videos").exists(), timeout=30, what="Videos to leave the desktop's disk")
    b.wait_synced()  # "up to date" while the server holds files this disk does not
    assert {r["path"] for r in b.json("trash", "list")["entries"]} >= {
        str(b.folder / "Videos" / "big.bin"), str(b.folder / "Videos" / "2019" / "trip.txt")}, "recoverable"
    assert _videos_on_server(view) == {"Videos/big.bin": BIG, "Videos/2019/trip.txt": b"a trip"}
    assert tree(a.folder)["Videos/big.bin"] == BIG, "the other device keeps everything"
    assert _excluded(b)["excluded"] == ["Videos"]
    assert _excluded(b)["kept"] == []
    dirs = _ipc(b, "remote_dirs", folder=str(b.folder.resolve()), path="")["dirs"]  # what a tree view shows
    assert dirs == [{"name": "Docs", "path": "Docs", "excluded": False},
                    {"name": "Videos", "path": "Videos", "excluded": True}]
    assert _ipc(b, "remote_dirs", folder=str(b.folder.resolve()), path="Videos")["dirs"] == [
        {"name": "2019", "path": "Videos/2019", "excluded": True}]

    (a.folder / "Videos" / "new.txt").write_bytes(b"made on the laptop")  # new on the server, inside the exclusion
    (a.folder / "Docs" / "later.txt").write_bytes(b"later")
    wait_until(lambda: "Docs/later.txt" in tree(b.folder), timeout=30, what="the rest to keep syncing")
    a.wait_synced()
    b.wait_synced()
    assert not (b.folder / "Videos").exists(), "an excluded path is never downloaded"

    before = _downloaded(server)
    b.ferry("include", str(b.folder), "Videos")  # FOLDER + relative path
    wait_until(lambda: tree(b.folder).get("Videos/big.bin") == BIG and "Videos/new.txt" in tree(b.folder)
               and "Videos/2019/trip.txt" in tree(b.folder), timeout=60, what="Videos to come back")
    b.wait_synced()
    fetched = _downloaded(server) - before
    print(f"including Videos again fetched {fetched:.0f} block bytes for {len(BIG) + 6 + 18} bytes of files")
    assert fetched < 64 * 1024, f"{fetched:.0f} bytes fetched: the 3 MiB file's chunks were on this disk already"
    assert _excluded(b)["excluded"] == []


def test_an_unsynced_file_in_an_excluded_path_stays_and_goes_up(
        pair: tuple[Device, Device], server: ServerProcess) -> None:
    a, b = pair
    view = ServerView(server)
    (a.folder / "Videos").mkdir()
    (a.folder / "Videos" / "clip.txt").write_bytes(b"clip")
    wait_until(lambda: "Videos/clip.txt" in tree(b.folder), timeout=30, what="the clip on the desktop")
    b.wait_synced()

    b.ferry("pause", str(b.folder))  # the draft is not uploaded when the user excludes its folder
    (b.folder / "Videos" / "draft.txt").write_bytes(b"my unsaved work")
    wait_until(lambda: any(k["path"] == "Videos/draft.txt" for k in b.json("exclude", str(b.folder / "Videos"))
                           ["kept"]), timeout=20, what="the draft reported as kept")
    b.ferry("resume", str(b.folder))
    wait_until(lambda: view.files().get("Videos/draft.txt") == b"my unsaved work", timeout=30,
               what="the draft to be uploaded, not kept off the server")
    b.wait_synced()
    assert (b.folder / "Videos" / "draft.txt").read_bytes() == b"my unsaved work", "kept on this disk"
    assert not (b.folder / "Videos" / "clip.txt").exists(), "the synced file left this disk"
    assert view.files().get("Videos/clip.txt") == b"clip"
    kept = _excluded(b)["kept"]
    assert [k["path"] for k in kept] == ["Videos/draft.txt"]
    assert "kept on this disk" in kept[0]["reason"]
    assert "kept on this disk" in b.ferry("status").stdout
    wait_until(lambda: (a.folder / "Videos" / "draft.txt").exists(), timeout=30, what="the laptop to get the draft")

    (b.folder / "Videos" / "later.txt").write_bytes(b"written after the exclusion")
    wait_until(lambda: view.files().get("Videos/later.txt") == b"written after the exclusion", timeout=30,
               what="a file made later inside the exclusion to go up")
    b.wait_synced()
    assert (b.folder / "Videos" / "later.txt").exists()


def test_new_server_folders_follow_auto_include_new(pair: tuple[Device, Device]) -> None:
    a, b = pair
    b.ferry("folder", "set", str(b.folder), "--auto-include-new", "off")
    (a.folder / "Music").mkdir()
    (a.folder / "Music" / "song.txt").write_bytes(b"la")
    (a.folder / "top.txt").write_bytes(b"a file at the top still comes down")
    wait_until(lambda: (b.folder / "top.txt").exists(), timeout=30, what="top.txt on the desktop")
    a.wait_synced()
    b.wait_synced()
    assert not (b.folder / "Music").exists(), "a new server folder is not downloaded while auto_include_new is off"
    info = _excluded(b)
    assert info["excluded"] == ["Music"]
    assert info["auto_include_new"] is False

    b.stop()  # the automatic exclusion is durable
    b.start()
    b.wait_synced()
    assert not (b.folder / "Music").exists()

    b.ferry("folder", "set", str(b.folder), "--auto-include-new", "on")
    (a.folder / "Books").mkdir()
    (a.folder / "Books" / "b.txt").write_bytes(b"b")
    wait_until(lambda: (b.folder / "Books" / "b.txt").exists(), timeout=30, what="a new folder with the setting on")
    b.ferry("include", str(b.folder / "Music"))
    wait_until(lambda: (b.folder / "Music" / "song.txt").exists(), timeout=30, what="Music once included")
    b.wait_synced()
    assert _excluded(b)["excluded"] == []


def _journal(d: Device) -> Path:
    return next(d.home.rglob("journal.db"))


def _copy_journal(d: Device, to: Path) -> None:
    to.mkdir()
    for f in _journal(d).parent.glob("journal.db*"):
        shutil.copy2(f, to / f.name)


def _put_journal(d: Device, saved: Path | None) -> None:
    state = _journal(d).parent
    for f in state.glob("journal.db*"):
        f.unlink()
    if saved is not None:
        for f in saved.iterdir():
            shutil.copy2(f, state / f.name)


def test_exclusion_survives_restart_stale_and_deleted_journal(
        pair: tuple[Device, Device], server: ServerProcess, tmp_path: Path) -> None:
    a, b = pair
    view = ServerView(server)
    (a.folder / "Videos").mkdir()
    for i in range(6):  # more than the mass-deletion floor: a stale journal must not make a held deletion either
        (a.folder / "Videos" / f"v{i}.txt").write_bytes(f"video {i}".encode())
    (a.folder / "keep.txt").write_bytes(b"keep")
    wait_until(lambda: len(tree(b.folder)) == 8, timeout=30, what="everything on the desktop")
    b.wait_synced()
    b.stop()
    _copy_journal(b, tmp_path / "before")  # a journal from before the exclusion
    b.start()

    b.ferry("exclude", str(b.folder / "Videos"))
    wait_until(lambda: not (b.folder / "Videos").exists(), timeout=30, what="Videos freed on the desktop")
    b.wait_synced()
    expected = {f"Videos/v{i}.txt": f"video {i}".encode() for i in range(6)}

    def check(what: str) -> None:
        b.wait_synced()
        a.wait_synced()
        assert _videos_on_server(view) == expected, f"{what}: nothing deleted on the server"
        assert not (b.folder / "Videos").exists(), f"{what}: nothing downloaded"
        assert len([p for p in tree(a.folder) if p.startswith("Videos/")]) == 6, f"{what}: the laptop keeps all"
        assert b.status()["deletions_pending"] == 0, f"{what}: no deletion waits for approval"

    b.stop()
    b.start()
    check("after a restart")

    b.stop()
    _put_journal(b, tmp_path / "before")  # stale: its synced tree says Videos/* exist here
    b.start()
    check("with a stale journal")

    b.stop()
    _put_journal(b, None)  # deleted: the choice is in config.toml
    b.start()
    check("after the journal was deleted")
    assert _excluded(b)["excluded"] == ["Videos"]


def test_exclusion_chosen_before_the_first_merge_deletes_nothing(
        make_device: Callable[..., Device], server: ServerProcess, tmp_path: Path) -> None:
    """Maestral #934: a non-empty local folder added with a subfolder excluded lost that subfolder's files."""
    a = make_device("laptop")
    view = ServerView(server)
    (a.folder / "Photos").mkdir()
    (a.folder / "Photos" / "server-only.jpg").write_bytes(b"from the laptop")
    (a.folder / "Photos" / "same.jpg").write_bytes(b"the same on both")
    a.wait_synced()

    b = make_device("desktop", start=False, folder=tmp_path / "existing")
    (b.folder / "Photos").mkdir(parents=True)
    (b.folder / "Photos" / "same.jpg").write_bytes(b"the same on both")
    (b.folder / "Photos" / "mine.jpg").write_bytes(b"only on the desktop")
    (b.folder / "readme.txt").write_bytes(b"hello")
    b.start()
    b.ferry("folder", "add", str(b.folder), "--remote", "/Shared", "--exclude", "Photos")
    wait_until(lambda: view.files().get("readme.txt") == b"hello", timeout=30, what="the first merge")
    wait_until(lambda: view.files().get("Photos/mine.jpg") == b"only on the desktop", timeout=30,
               what="the desktop's own file inside the exclusion to go up")
    b.wait_synced()
    assert tree(b.folder) == {"Photos": None, "Photos/same.jpg": b"the same on both",
                              "Photos/mine.jpg": b"only on the desktop", "readme.txt": b"hello"}
    assert view.files()["Photos/server-only.jpg"] == b"from the laptop"
    assert _excluded(b)["excluded"] == ["Photos"]


def test_bad_exclusions_are_clear_errors(pair: tuple[Device, Device], tmp_path: Path) -> None:
    _, b = pair
    for args, why in (((str(tmp_path / "elsewhere"),), "not inside a synced folder"),
                      ((str(b.folder), "../etc"), "not a path inside the folder"),
                      ((str(b.folder), ".ferry"), "never synced")):
        res = b.ferry("exclude", *args, check=False)
        assert res.returncode != 0, args
        assert why in res.stdout + res.stderr, (args, res)
    res = b.ferry("include", str(b.folder), "Nope", check=False)
    assert res.returncode != 0
    assert "not excluded" in res.stdout + res.stderr
    assert _excluded(b)["excluded"] == []


def test_deleting_a_folder_that_holds_an_excluded_one_keeps_the_excluded_part(
        pair: tuple[Device, Device], server: ServerProcess) -> None:
    """The user deletes `Work` here, where `Work/Old` is excluded (never shown on this disk): what they saw goes
    everywhere; `Work/Old` stays on the server and the laptop, and the desktop still settles ("up to date")."""
    a, b = pair
    view = ServerView(server)
    (a.folder / "Work" / "Old").mkdir(parents=True)
    (a.folder / "Work" / "Old" / "archive.txt").write_bytes(b"archive")
    (a.folder / "Work" / "plan.txt").write_bytes(b"plan")
    wait_until(lambda: "Work/Old/archive.txt" in tree(b.folder), timeout=30, what="Work on the desktop")
    b.wait_synced()
    b.ferry("exclude", str(b.folder), "Work/Old")
    wait_until(lambda: not (b.folder / "Work" / "Old").exists(), timeout=30, what="Work/Old freed")

    shutil.rmtree(b.folder / "Work")
    wait_until(lambda: "Work/plan.txt" not in view.files(), timeout=30, what="the visible file deleted everywhere")
    b.wait_synced()
    a.wait_synced()
    assert view.files().get("Work/Old/archive.txt") == b"archive", "the excluded part stays on the server"
    assert tree(a.folder).get("Work/Old/archive.txt") == b"archive"
    assert "Work/plan.txt" not in tree(a.folder)
    assert "Work/Old" not in tree(b.folder), "still excluded here"
