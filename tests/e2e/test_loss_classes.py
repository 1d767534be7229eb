"""The field's data-loss classes, each reproduced end to end with real daemons and a real server.

Every test names the public report it reproduces. Each asserts what a user would see on every device's disk and,
where it matters, on the server (its live tree and every revision): nothing the user did not delete is deleted
anywhere (not on another device, not on the server, not into a trash), no partial or torn content is ever stored,
identical content is never a conflict, and the devices converge. The classes that stop, restore or replace the
server itself are in test_loss_classes_server.py.

The tests here share one server (module scope) and each syncs its own remote folder: starting and stopping a
server is most of the fixed cost of an end-to-end test.
"""

from __future__ import annotations

import os
import random
import shutil
import time
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from devices import Device
from losslib import (
    ServerView,
    conflict_copies,
    files_of,
    folder_state,
    journal_paths,
    local_deletions,
    remote_deletions,
    settle,
    wait_for,
    write_tree,
)
from util import ServerProcess, free_port

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for this module (overrides the per-test one); users alice and bob."""
    data = tmp_path_factory.mktemp("loss-server")
    s = ServerProcess(data=data, port=free_port(), log=data.parent / f"{data.name}.log")
    s.start()
    try:
        s.add_user("alice", "alice-pw")
        s.add_user("bob", "bob-pw")
        yield s
    finally:
        s.stop()


@pytest.fixture
def remote(request: pytest.FixtureRequest) -> str:
    """This test's own remote folder on the shared server."""
    name: str = request.node.name
    return "/" + name.removeprefix("test_")[:60]


@pytest.fixture
def pair(make_device: Callable[..., Device], remote: str) -> tuple[Device, Device]:
    return make_device("laptop", remote=remote), make_device("desktop", remote=remote)


@pytest.fixture
def view(server: ServerProcess, remote: str) -> ServerView:
    return ServerView(server, remote.lstrip("/"))


SEED = {
    "notes.txt": b"my notes",
    "docs/report.md": b"# report, first draft",
    "docs/old.txt": b"an old file",
    "photos/2024/beach.jpg": bytes(range(256)) * 64,
    "photos/2024/cat.jpg": b"\xff\xd8" + b"cat" * 3000,
}


def _folder_id(d: Device) -> str:
    folders = d.json("folder", "list")["folders"]
    assert len(folders) == 1, folders
    return str(folders[0]["id"])


def test_sync_root_vanishing_writes_nothing_there_and_deletes_nothing(
        pair: tuple[Device, Device], view: ServerView, tmp_path: Path) -> None:
    """The sync root vanishes (an unmounted disk) while the other device keeps working, then comes back.

    Reproduces syncthing/syncthing#799 ("when I disconnected my drive, Syncthing decided that I have deleted all
    my files ... so it removed all my files on the laptop too") and nextcloud/desktop#2350 (a Linux client started
    with its folder unmounted wiped the server). Ferry's own form of it (issue 11): a download recreated the
    missing root and wrote into the stand-in; when the real folder came back, what had been downloaded into the
    stand-in was recorded as deleted and the deletion spread. No write may happen under a root whose marker is
    missing; nothing is deleted anywhere; once the disk is back, everything converges.
    """
    a, b = pair
    write_tree(a.folder, SEED)
    settle(a, b)
    unplugged = tmp_path / "disk-unmounted"
    os.rename(b.folder, unplugged)
    # At once, the laptop keeps working: a new file, an edit, a deletion it means. Whichever the desktop notices
    # first (its disk gone, or downloads to make), nothing may be written where its folder was.
    write_tree(a.folder, {"new-while-away.txt": b"written while the desktop's disk was away",
                          "docs/report.md": b"# report, second draft"})
    (a.folder / "docs" / "old.txt").unlink()
    wait_for(lambda: folder_state(b)[0] == "error", "the desktop to stop the vanished folder", b)
    a.wait_synced()
    wait_for(lambda: "new-while-away.txt" in journal_paths(b, "remote")
             and "docs/old.txt" not in journal_paths(b, "remote"), "the desktop to hear of the laptop's changes", b)
    b_state = folder_state(b)
    assert b_state[0] == "error", b_state
    assert view.files().keys() == {"notes.txt", "docs/report.md", "photos/2024/beach.jpg", "photos/2024/cat.jpg",
                                   "new-while-away.txt"}
    # Nothing may exist where the disk was mounted (a stand-in would also make the remount below fail).
    assert not b.folder.exists(), f"something was written under the missing root: {os.listdir(b.folder)}"

    (unplugged / "notes.txt").write_bytes(b"edited on the disk while it was away")  # mounted elsewhere, say
    os.rename(unplugged, b.folder)  # the disk is back
    settle(a, b)
    expected = {**SEED, "new-while-away.txt": b"written while the desktop's disk was away",
                "docs/report.md": b"# report, second draft", "notes.txt": b"edited on the disk while it was away"}
    del expected["docs/old.txt"]
    assert files_of(a) == files_of(b) == expected
    assert view.files() == expected
    assert not conflict_copies(a)
    assert not conflict_copies(b)
    # The only deletion anywhere is the one the user made on the laptop, applied once on the desktop.
    assert remote_deletions(b) == []
    assert [Path(p).name for p in local_deletions(b)] == ["old.txt"]
    assert local_deletions(a) == []
    # Idle again, not stuck in error. Waited for, not asked once: watchdog hands over the desktop's own move of
    # old.txt to the trash half a second late (it holds a move-out back to pair it with a move-in), after `ferry
    # wait` may have returned; the watcher then takes ~50 ms to find it an echo (LocalIndexer.settled), and says
    # "syncing" meanwhile, as it does for any event it has not judged yet.
    wait_for(lambda: folder_state(b)[0] == "idle", "the desktop to be idle again", b, timeout=10)


def test_folder_recreated_empty_under_a_stale_journal_deletes_nothing(
        pair: tuple[Device, Device], view: ServerView, remote: str) -> None:
    """The user deletes the synced folder and makes a new, empty one at the same path; the journal remembers it full.

    Reproduces owncloud/client#4293, where a maintainer's reproduction of an unmounted disk was exactly this ("delete
    and recreate ~/ownCloud to mimic a fs being unmounted"), and aegif/CmisSync#671 (a sync folder that became
    inaccessible had its remote files deleted). An empty folder under a journal that lists many files looks like a
    mass deletion; the missing marker must stop the folder instead, with nothing lost on the server or on the other
    device, and nothing written into the new folder. Removing and re-adding the folder then brings everything back.
    """
    a, b = pair
    write_tree(a.folder, SEED)
    settle(a, b)
    b.stop()
    shutil.rmtree(b.folder)
    b.folder.mkdir()
    b.start()
    wait_for(lambda: folder_state(b)[0] == "error", "the desktop to stop the emptied folder", b)
    assert "marker" in folder_state(b)[1], folder_state(b)

    # The laptop keeps working; the desktop hears of it and still writes nothing into the impostor folder.
    (a.folder / "after.txt").write_bytes(b"written after the desktop's folder was recreated")
    a.wait_synced()
    wait_for(lambda: "after.txt" in journal_paths(b, "remote"), "the desktop to hear of the laptop's new file", b)
    expected = {**SEED, "after.txt": b"written after the desktop's folder was recreated"}
    assert files_of(a) == expected
    assert view.files() == expected
    assert os.listdir(b.folder) == [], "a folder whose marker is missing was written to"
    assert remote_deletions(b) == []

    # What the user does next: remove the folder from Ferry and add it again: a fresh start, nothing lost.
    b.ferry("folder", "remove", _folder_id(b))
    b.add_folder(remote)
    settle(a, b)
    assert files_of(b) == expected
    assert view.files() == expected
    assert not conflict_copies(a)
    assert not conflict_copies(b)
    assert local_deletions(a) == []
    assert remote_deletions(a) == []
    assert remote_deletions(b) == []


def test_journal_deleted_deletes_nothing_and_duplicates_nothing(
        pair: tuple[Device, Device], view: ServerView) -> None:
    """The daemon's journal is deleted while it is stopped (a user "resetting" it, a wiped state dir).

    Reproduces syncthing/syncthing#3876 (data loss after a database wipe; fixed by syncthing/syncthing#6605) and the
    warning in owncloud/client#5252 that deleting the sync journal "may cause files to be re-synced ... or
    conflicts". With no merge base, the daemon must merge both sides: identical content is no conflict and is not
    transferred again, what only one side has is copied over, and nothing is deleted anywhere.
    """
    a, b = pair
    write_tree(a.folder, SEED)
    settle(a, b)
    before = view.revision_counts(list(SEED))
    b.stop()
    for f in (b.home / "state").glob("journal.db*"):
        f.unlink()
    (b.folder / "made-while-stopped.txt").write_bytes(b"the desktop's new file")
    (a.folder / "made-meanwhile.txt").write_bytes(b"the laptop's new file")
    a.wait_synced()
    b.start()
    settle(a, b)
    expected = {**SEED, "made-while-stopped.txt": b"the desktop's new file",
                "made-meanwhile.txt": b"the laptop's new file"}
    assert files_of(a) == files_of(b) == expected
    assert view.files() == expected
    assert not conflict_copies(a)
    assert not conflict_copies(b)
    assert view.revision_counts(list(SEED)) == before, "identical content was uploaded again"
    assert local_deletions(a) == local_deletions(b) == remote_deletions(b) == []


def test_non_empty_folder_joined_to_non_empty_remote_keeps_the_union(
        make_device: Callable[..., Device], view: ServerView, remote: str, tmp_path: Path) -> None:
    """A folder that already holds files is added to a remote folder that already holds files.

    Reproduces owncloud/client#18 ("Conflict files abound after removing then adding same directory ... The
    conflict files look identical to those on the ownCloud server") and syncthing/syncthing#6287 ("Syncthing
    generates conflicts for identical files"). The result is the union: same content (even with another mtime) is
    no conflict and is not uploaded again, same name with other content keeps both as a conflict copy, and
    nothing is deleted on either side.
    """
    a = make_device("laptop", remote=remote)
    write_tree(a.folder, {"shared/same.txt": b"identical", "shared/same-other-mtime.txt": b"identical too",
                          "differs.txt": b"the laptop's version", "only-laptop/a.txt": b"a"})
    a.wait_synced()
    before = view.revision_counts(["shared/same.txt", "shared/same-other-mtime.txt"])
    pre = tmp_path / "desktop-existing"
    write_tree(pre, {"shared/same.txt": b"identical", "shared/same-other-mtime.txt": b"identical too",
                     "differs.txt": b"the desktop's version", "only-desktop/deep/b.txt": b"b"})
    os.utime(pre / "shared" / "same-other-mtime.txt", ns=(1_500_000_000_000_000_000,) * 2)
    b = make_device("desktop", folder=pre, remote=remote)
    settle(a, b)

    files = files_of(a)
    assert files == files_of(b) == view.files()
    copies = conflict_copies(a)
    assert len(copies) == 1, copies
    assert copies[0].startswith("differs (conflicted copy from "), copies
    assert {files["differs.txt"], files[copies[0]]} == {b"the laptop's version", b"the desktop's version"}
    assert {p: c for p, c in files.items() if p != copies[0] and p != "differs.txt"} == {
        "shared/same.txt": b"identical", "shared/same-other-mtime.txt": b"identical too",
        "only-laptop/a.txt": b"a", "only-desktop/deep/b.txt": b"b"}
    assert view.revision_counts(["shared/same.txt", "shared/same-other-mtime.txt"]) == before
    assert local_deletions(a) == local_deletions(b) == remote_deletions(a) == remote_deletions(b) == []


def test_remote_delete_racing_an_offline_edit_keeps_the_edit(pair: tuple[Device, Device], view: ServerView) -> None:
    """One device deletes a file, and a folder, while another device, offline, edits that file and a file inside.

    Reproduces Qabel/qabel-core#489 (user A deletes folder F while user B works offline inside it: "after sync,
    folder F and all sub-folders ... are deleted") and abraunegg/onedrive#2616 (a file modified locally was deleted
    because it had been deleted online). Modify beats delete: the edits survive on every device and on the server;
    what nobody edited stays deleted.
    """
    a, b = pair
    write_tree(a.folder, {"plan.txt": b"v1", "project/src/main.py": b"print(1)\n",
                          "project/src/util.py": b"# util\n", "project/README": b"readme"})
    settle(a, b)
    b.stop()
    (b.folder / "plan.txt").write_bytes(b"v2, edited offline on the desktop")
    (b.folder / "project" / "src" / "main.py").write_bytes(b"print(2)  # edited offline\n")
    (a.folder / "plan.txt").unlink()
    shutil.rmtree(a.folder / "project")
    a.wait_synced()
    assert view.files() == {}
    b.start()
    settle(a, b)
    expected = {"plan.txt": b"v2, edited offline on the desktop",
                "project/src/main.py": b"print(2)  # edited offline\n"}
    assert files_of(a) == files_of(b) == expected
    assert view.files() == expected
    assert not conflict_copies(a)
    assert not conflict_copies(b)
    # What nobody edited stays deleted; the edited files were never deleted on the desktop.
    assert sorted(Path(p).name for p in local_deletions(b)) == ["README", "util.py"]


def test_folder_removed_moved_and_added_again_loses_nothing(
        pair: tuple[Device, Device], view: ServerView, remote: str, tmp_path: Path) -> None:
    """A folder is removed from Ferry, moved elsewhere on disk, and added again.

    Reproduces nextcloud/desktop#1433 ("Disconnected from nextcloud. Moved from C:\\ to D:\\ with explorer.
    Connected it again ... the folder was empty on all clients") and syncthing/syncthing#6287 (after removing a
    folder, moving it and adding it again, Syncthing made conflict copies of identical files). Nothing may be
    deleted anywhere, no duplicates may appear, and what changed meanwhile on either side is synced.
    """
    a, b = pair
    write_tree(a.folder, SEED)
    settle(a, b)
    before = view.revision_counts(list(SEED))
    b.ferry("folder", "remove", _folder_id(b))
    assert files_of(b) == SEED, "removing a folder from Ferry must leave its files alone"
    moved = tmp_path / "elsewhere" / "Shared-moved"
    moved.parent.mkdir()
    os.rename(b.folder, moved)
    b.folder = moved
    (a.folder / "while-removed.txt").write_bytes(b"the laptop wrote this while the desktop's folder was removed")
    (b.folder / "desktop-new.txt").write_bytes(b"the desktop wrote this while its folder was not synced")
    b.add_folder(remote)
    settle(a, b)
    expected = {**SEED, "while-removed.txt": b"the laptop wrote this while the desktop's folder was removed",
                "desktop-new.txt": b"the desktop wrote this while its folder was not synced"}
    assert files_of(a) == files_of(b) == expected
    assert view.files() == expected
    assert not conflict_copies(a)
    assert not conflict_copies(b)
    assert view.revision_counts(list(SEED)) == before, "identical content was uploaded again"
    assert local_deletions(a) == local_deletions(b) == remote_deletions(a) == remote_deletions(b) == []


def _downloading(d: Device) -> bool:
    """A download is in flight (its progress moves per block, so a 1 MiB file may show 0 bytes until it lands)."""
    return any(t["direction"] == "down" for t in d.status()["transfers"])


def test_kill_during_downloads_never_uploads_a_partial_file(pair: tuple[Device, Device], view: ServerView) -> None:
    """The daemon is killed (-9) again and again while it downloads a batch of new versions.

    Reproduces nextcloud/desktop#10547 ("Client uploads 0-byte files overwriting server content after power loss /
    hard reset during sync") and abraunegg/onedrive#797 (an interrupted download was later uploaded as an
    incomplete file, overwriting the original). At the instant of each kill every file on the disk is whole, old
    or new; afterwards every file arrives complete, and the server never gets a revision from the killed device.
    """
    a, b = pair
    rng = random.Random(7)
    v1 = {f"batch/f{i:02d}.bin": rng.randbytes(MiB) for i in range(8)}
    write_tree(a.folder, v1)
    settle(a, b)
    b.ferry("settings", "set", "download_limit_kbps", "1500")  # 12 MiB take ~8 s: time to kill it mid-way
    v2 = {p: rng.randbytes(MiB) for p in v1} | {f"batch/new{i}.bin": rng.randbytes(MiB) for i in range(4)}
    write_tree(a.folder, v2)
    for landed in (0, 4, 9):  # killed as the first download starts, then a third and three quarters through

        def mid_batch(landed: int = landed) -> bool:
            done = sum(files_of(b).get(p) == data for p, data in v2.items())
            return (done >= landed and _downloading(b)) or (landed > 0 and done == len(v2))

        wait_for(mid_batch, f"downloads under way, {landed} landed", a, b)
        b.kill()
        for p, data in files_of(b).items():
            assert data in (v1.get(p), v2.get(p)), f"{p}: a partial file ({len(data)} bytes) at the kill"
        b.start()
    b.ferry("settings", "set", "download_limit_kbps", "0")
    settle(a, b)
    assert files_of(b) == files_of(a) == v2
    assert view.files() == v2
    for p in v2:
        revs = view.revisions(p)
        assert [r["modified_by"] for r in revs] == ["laptop"] * (2 if p in v1 else 1), (p, revs)
        assert all(r["size"] == MiB for r in revs), (p, revs)
    assert not conflict_copies(b)


RECORD = 4096  # one page: an append of whole records never shows half a record in the file's size


def _records(start: int, count: int) -> bytes:
    return b"".join(f"record {i:07d} ".encode().ljust(RECORD - 1, b".") + b"\n" for i in range(start, start + count))


def test_file_still_being_written_never_reaches_the_server_torn(pair: tuple[Device, Device], view: ServerView) -> None:
    """A program appends to a file for a few seconds (a download, a capture, a log) while Ferry syncs it.

    Reproduces owncloud/client#2210 ("corrupted file upload if file modified during transfer": a file written at
    a low rate was uploaded partially written and propagated to other devices) and owncloud/client#522. Every
    revision the server keeps must be a state the file really had (a whole-record prefix of the final content,
    never bytes from two moments), and the final content arrives intact on the other device.
    """
    a, b = pair
    rng = random.Random(3)
    path = a.folder / "capture.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    written = 0
    try:
        os.write(fd, _records(0, 2048))  # 8 MiB: reading and hashing it takes long enough to be raced
        written = 2048
        stop_at = time.monotonic() + 4.0
        while time.monotonic() < stop_at:  # the writer's own pace: bursts, short pauses, pauses past the quiet period
            n = rng.randint(1, 48)
            os.write(fd, _records(written, n))
            written += n
            time.sleep(rng.choice([0.01, 0.05, 0.1, 0.2, 0.45]))
    finally:
        os.close(fd)
    final = path.read_bytes()
    assert len(final) == written * RECORD
    wait_for(lambda: view.files().get("capture.log") == final, "the final content on the server", a, timeout=45)
    settle(a, b)
    assert files_of(b) == {"capture.log": final}
    revs = [r for r in view.revisions("capture.log") if not r["deleted"]]
    for r in revs:
        data = view.block_bytes(r["blocks"])
        assert len(data) == r["size"], f"rev {r['rev']}: a torn size {r['size']}"
        assert r["size"] % RECORD == 0, f"rev {r['rev']}: a torn size {r['size']}"
        assert data == final[: r["size"]], f"rev {r['rev']}: content the file never had"
    assert not conflict_copies(a)
    assert not conflict_copies(b)


MTIMES = {
    "epoch.txt": 0,  # 1970-01-01 00:00:00
    "year-2100.txt": 4_102_444_800 * 10**9,  # 2100-01-01
    "before-1970.txt": -365 * 86_400 * 10**9,  # 1969-01-01
    "one-ns-before-epoch.txt": -1,
}


def test_mtimes_of_1970_2100_and_negative_sync_once_and_stay_put(
        pair: tuple[Device, Device], view: ServerView) -> None:
    """Files whose modification time is the epoch, far in the future, or before 1970.

    Reproduces owncloud/client#1380 (files dated 1913 uploaded again at every sync, "an infinite upload loop"),
    owncloud/client#1603 (files with mtime 0 ignored) and nextcloud/desktop#5196 ("Cannot sync files with
    modification year before 1970"). Each file syncs with its content and mtime, no daemon crashes, and after
    the daemons restart (a full rescan) nothing is uploaded again.
    """
    a, b = pair
    for name, ns in MTIMES.items():
        p = a.folder / name
        p.write_bytes(f"dated {ns}".encode())
        os.utime(p, ns=(ns, ns))
        if p.stat().st_mtime_ns != ns:
            pytest.skip(f"this filesystem cannot hold mtime {ns}")
    settle(a, b)
    assert view.files() == {n: f"dated {ns}".encode() for n, ns in MTIMES.items()}
    for name, ns in MTIMES.items():
        assert (b.folder / name).stat().st_mtime_ns == ns, name
    before = view.revision_counts(list(MTIMES))
    assert set(before.values()) == {1}, before
    for d in (a, b):
        d.stop()
    for d in (a, b):
        d.start()
    settle(a, b)
    assert view.revision_counts(list(MTIMES)) == before, "a file was uploaded again after a rescan"
    for d in (a, b):
        assert d.status()["state"] == "idle", d.status()
        assert d.status()["errors"] == 0, d.status()
        for name, ns in MTIMES.items():
            assert (d.folder / name).stat().st_mtime_ns == ns, (d.name, name)


NFD_NAME = unicodedata.normalize("NFD", "Café menu.txt")
NFC_NAME = unicodedata.normalize("NFC", "Café menu.txt")
TWIN_NFC = unicodedata.normalize("NFC", "résumé.txt")
TWIN_NFD = unicodedata.normalize("NFD", "résumé.txt")


def test_nfd_names_are_synced_under_their_nfc_name_and_twins_never_overwrite(
        pair: tuple[Device, Device], view: ServerView) -> None:
    """A name written in Unicode NFD (as macOS and some apps write them), and NFC/NFD twins in one folder.

    Reproduces samschott/maestral#679 ("Handle unicode renames on apfs") and owncloud/client#12336 ("sync issue on
    mac when file name is locally NFD, remote NFC"). Ferry's own form of it (issue 11): an NFD name on this disk was
    never uploaded, while docs/api.md says clients normalise to NFC. The NFD-named file is uploaded under its NFC
    name and keeps its on-disk name; edits flow both ways without a second copy; and of two twins (an NFC and an
    NFD name for the same text) neither overwrites the other anywhere.
    """
    a, b = pair
    twins = {TWIN_NFC: b"the NFC twin", TWIN_NFD: b"the NFD twin"}
    write_tree(a.folder, {NFD_NAME: b"written under an NFD name", **twins})
    names = sorted([".ferry", NFD_NAME, TWIN_NFC, TWIN_NFD])

    def one_twin_up() -> dict[str, bytes] | None:
        """The server holds the NFD-named file under its NFC name and exactly one twin's content."""
        got = view.files()
        ok = got.get(NFC_NAME) == b"written under an NFD name" and got.get(TWIN_NFC) in twins.values()
        return got if ok and len(got) == 2 else None

    on_server = wait_for(one_twin_up, "the NFD-named file and one twin on the server", a, timeout=20)
    assert on_server is not None
    wait_for(lambda: files_of(b) == on_server, "both names on the desktop", a, b)
    for d in (a, b):
        d.wait_synced()
    assert sorted(os.listdir(a.folder)) == names, "a name on the laptop was changed"
    assert {n: (a.folder / n).read_bytes() for n in twins} == twins, "a twin was overwritten"
    left_out = TWIN_NFD if on_server[TWIN_NFC] == twins[TWIN_NFC] else TWIN_NFC
    assert [Path(e["path"]).name for e in a.json("errors")["name_issues"]] == [left_out], "the twin is not reported"
    assert files_of(b) == view.files() == on_server

    (b.folder / NFC_NAME).write_bytes(b"edited on the desktop")
    wait_for(lambda: (a.folder / NFD_NAME).read_bytes() == b"edited on the desktop",
             "the edit to reach the NFD-named file", a, b)
    for d in (a, b):
        d.wait_synced()
    assert sorted(os.listdir(a.folder)) == names, "the edit came down under another name"
    assert {n: (a.folder / n).read_bytes() for n in twins} == twins
    assert view.files() == files_of(b) == {**on_server, NFC_NAME: b"edited on the desktop"}
    assert not conflict_copies(a)
    assert not conflict_copies(b)
    assert folder_state(a)[0] == "idle"
    assert folder_state(b)[0] == "idle"
