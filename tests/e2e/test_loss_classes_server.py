"""The field's data-loss classes that happen to the server itself, each reproduced end to end.

A server restored from a backup older than what the devices hold, and a server replaced by an empty one to which
the devices log in again. Each test has its own server (it stops, restores or replaces it), names the public
report it reproduces, and asserts what a user sees on every device and what the server ends up holding. The
other classes are in test_loss_classes.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from devices import Device
from losslib import (
    ServerView,
    conflict_copies,
    files_of,
    local_deletions,
    remote_deletions,
    settle,
    wait_for,
    write_tree,
)


def test_server_restored_from_an_older_backup_gets_the_newer_files_again(
        pair: tuple[Device, Device], server: Any, tmp_path: Path) -> None:
    """The operator restores the server from a backup older than what the devices hold.

    Reproduces owncloud/client#2325 ("Don't delete files when a backup on the server is restored") and
    nextcloud/desktop#1015 ("after the restore of the server, the files created since the date of the backup are
    deleted instead of being uploaded"). Ferry's own form of it (issue 11): the devices stayed "Up to date" for
    minutes, long-polling a cursor the server would not reach again. Every newer file must survive on every
    device and reach the server again; nothing is deleted on any device because the server forgot it.
    """
    a, b = pair
    write_tree(a.folder, {"kept.txt": b"in the backup", "edited.txt": b"v1, in the backup",
                          "deleted-later.txt": b"in the backup, deleted afterwards"})
    settle(a, b)
    server.stop()
    backup = tmp_path / "server-backup"
    shutil.copytree(server.data, backup)
    server.start()

    write_tree(a.folder, {"new-after-backup.txt": b"the laptop's file, newer than the backup",
                          "edited.txt": b"v2, newer than the backup"})
    (a.folder / "deleted-later.txt").unlink()
    write_tree(b.folder, {"desktop/deep/new.txt": b"the desktop's file, newer than the backup"})
    settle(a, b)
    newest = files_of(a)

    server.kill()  # restore: the data directory goes back to the backup, the server comes back on its address
    shutil.rmtree(server.data)
    shutil.copytree(backup, server.data)
    server.start()
    view = ServerView(server)
    wait_for(lambda: newest.items() <= view.files().items(), "the newer files to reach the restored server again",
             a, b, timeout=45)
    settle(a, b)
    on_server = view.files()
    assert files_of(a) == files_of(b) == on_server
    # The union: everything the devices held, plus what the server had and the devices had deleted since
    # the backup (a deletion the server forgot comes back; never the reverse).
    assert newest.items() <= on_server.items()
    assert set(on_server) - set(newest) <= {"deleted-later.txt"}
    assert not conflict_copies(a)
    assert not conflict_copies(b)
    assert local_deletions(b) == [p for p in local_deletions(b) if p.endswith("deleted-later.txt")]
    assert remote_deletions(b) == []
    assert [Path(p).name for p in remote_deletions(a)] == ["deleted-later.txt"]


def test_server_replaced_by_an_empty_one_and_devices_logging_in_again_delete_nothing(
        pair: tuple[Device, Device], server: Any, tmp_path: Path) -> None:
    """The server is reinstalled empty at the same address; the user logs each device in again.

    Reproduces owncloud/client#2847 ("Local data is removed when you sign in an empty server") and
    nextcloud/desktop#2808 ("Reinstalling an instance and logging back in can result in data loss"). Ferry's own form
    of it (issue 11): `ferry login` succeeded but the running daemon kept the old token; after a restart both
    devices re-listed an empty remote and moved every file to the trash. After logging in again (daemons running),
    no device deletes anything, every file reaches the new server, nothing is held, trashed or duplicated.
    """
    a, b = pair
    for d in (a, b):
        d.ferry("settings", "set", "trash", "folder")  # so that `ferry trash list` shows every local deletion
    files = {f"f{i:02d}.txt": f"file {i}".encode() for i in range(12)}
    files |= {"sub/one.txt": b"one", "sub/deeper/two.txt": b"two", "empty-later.txt": b""}
    write_tree(a.folder, files)
    settle(a, b)

    server.kill()  # its data is thrown away: a reinstalled server starts empty
    server.data = tmp_path / "reinstalled-server"
    server.data.mkdir()
    server.start()
    server.add_user("alice", "alice-pw")
    wait_for(lambda: all(d.status()["state"] == "error" for d in (a, b)), "both devices to say the server refused them",
             a, b)
    assert "login" in a.status()["message"], a.status()
    for d in (a, b):
        d.login(server.url, "alice", "alice-pw")  # the daemons keep running: they must use the new token

    view = ServerView(server)
    wait_for(lambda: view.files() == files, "every file on the new server", a, b, timeout=45)
    settle(a, b)
    assert files_of(a) == files_of(b) == files == view.files()
    for d in (a, b):
        assert d.json("trash", "list")["entries"] == [], d.name
        assert local_deletions(d) == []
        assert remote_deletions(d) == []
        assert d.status()["deletions_pending"] == 0
        assert not conflict_copies(d)


def test_server_restored_then_overtaken_by_another_device_loses_nothing(
        pair: tuple[Device, Device], server: Any, tmp_path: Path) -> None:
    """A server restored from a backup, whose sequence then passes a device's cursor before that device returns.

    The same reports as above (owncloud/client#2325, nextcloud/desktop#1015), in the form a cursor alone cannot
    see: the desktop was offline while the server was restored, comes back first and writes more than the laptop
    had written since the backup, so the restored server's sequence numbers run past the laptop's cursor with
    different changes. When the laptop returns, its newer files must reach the server again and the desktop's
    files must reach the laptop.
    """
    a, b = pair
    write_tree(a.folder, {"kept.txt": b"in the backup"})
    settle(a, b)
    b.stop()  # the desktop is away from here until after the restore
    server.stop()
    backup = tmp_path / "server-backup"
    shutil.copytree(server.data, backup)
    server.start()
    write_tree(a.folder, {"laptop-1.txt": b"newer than the backup", "laptop-2.txt": b"newer than the backup too"})
    a.wait_synced()
    a.stop()  # the laptop is away during the restore

    server.kill()  # restore (its data is thrown away, so no need to stop it gently)
    shutil.rmtree(server.data)
    shutil.copytree(backup, server.data)
    server.start()
    b.start()
    write_tree(b.folder, {f"desktop-{i}.txt": f"the desktop's file {i}".encode() for i in range(6)})
    b.wait_synced()
    a.start()
    expected = {"kept.txt": b"in the backup", "laptop-1.txt": b"newer than the backup",
                "laptop-2.txt": b"newer than the backup too"}
    expected |= {f"desktop-{i}.txt": f"the desktop's file {i}".encode() for i in range(6)}
    view = ServerView(server)
    wait_for(lambda: view.files() == expected, "every file on the restored server", a, b, timeout=45)
    settle(a, b)
    assert files_of(a) == files_of(b) == expected
    assert not conflict_copies(a)
    assert not conflict_copies(b)
