"""Pause one folder, the others go on (issue 15): `ferry pause FOLDER` / `ferry resume FOLDER` with a real daemon.

What a user sees: the paused folder's status says "Paused" and its new files stay on this disk only; the other
folder keeps syncing; the pause survives a restart of the daemon (it is kept in config.toml); resuming sends what
waited. Pausing everything and resuming everything leaves a folder paused on its own still paused.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from devices import Device
from losslib import ServerView
from util import ServerProcess, wait_until


def _state(d: Device, local: Path) -> str:
    return str(next(f["state"] for f in d.status()["folders"] if f["local"] == str(local.resolve())))


def test_one_folder_paused_while_the_other_syncs(make_device: Callable[..., Device], server: ServerProcess,
                                                  tmp_path: Path) -> None:
    a = make_device("laptop")
    photos = tmp_path / "photos"
    photos.mkdir()
    a.ferry("folder", "add", str(photos), "--remote", "/Photos")
    docs_view, photos_view = ServerView(server, "Shared"), ServerView(server, "Photos")
    a.wait_synced()

    out = a.ferry("pause", str(photos)).stdout
    assert "Paused" in out
    assert "other folders go on" in out
    wait_until(lambda: _state(a, photos) == "paused", timeout=20, what="the photos folder to show paused")
    (photos / "cat.jpg").write_bytes(b"not synced while paused")
    (a.folder / "notes.txt").write_bytes(b"synced meanwhile")
    wait_until(lambda: docs_view.files().get("notes.txt") == b"synced meanwhile", timeout=30,
               what="the other folder to keep syncing")
    assert "cat.jpg" not in photos_view.files(), "nothing leaves a paused folder"
    assert _state(a, a.folder) in ("idle", "syncing")

    a.stop()  # the pause is the user's choice: it outlives the daemon
    a.start()
    wait_until(lambda: _state(a, a.folder) == "idle", timeout=30, what="the daemon back up")
    assert _state(a, photos) == "paused"
    assert "cat.jpg" not in photos_view.files()

    a.ferry("pause")  # everything, then everything again: the folder paused on its own stays paused
    a.ferry("resume")
    wait_until(lambda: not a.status()["paused"], timeout=10, what="the daemon to resume")
    assert _state(a, photos) == "paused"

    assert "Resumed" in a.ferry("resume", str(photos)).stdout
    wait_until(lambda: photos_view.files().get("cat.jpg") == b"not synced while paused", timeout=30,
               what="what waited in the paused folder to go up")
    a.wait_synced()


def test_pausing_a_folder_that_is_not_synced_is_a_clear_error(make_device: Callable[..., Device],
                                                              tmp_path: Path) -> None:
    a = make_device("laptop")
    res = a.ferry("pause", str(tmp_path / "nowhere"), check=False)
    assert res.returncode != 0
    assert "no synced folder" in (res.stdout + res.stderr)
    assert not a.status()["paused"], "nothing was paused instead"
