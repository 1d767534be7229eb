"""A download that landed without its record is this device's own write, not an edit that conflicts with the next.

Found by tests/e2e/test_journal_disk_refuses.py in a full local run: the desktop's daemon downloaded rev 26 of the
laptop's `a/file-9.bin` over its synced rev 16, and was killed with -9 after the file landed and before the
journal recorded it. Meanwhile the laptop uploaded rev 35. At the restart the scan indexed rev 26's bytes as the
disk's row, over a merge base of rev 16, with rev 35 on the server: both sides looked changed, and the planner kept
a conflicted copy of the device's own download, on a device where nobody had touched the file. Now the executor
notes each landing in the journal before its first file reaches its name, and the folder settles a note left behind
against what the indexer finds there (engine/write_notes.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from exchange_race import download_over_a_file
from lost_records import T, files, rename, save
from simdevice import PREFIX, Crash, Device
from simworld import Simulation

from ferrysync.daemon.local import fsio

LANDS = ("exchange", "rename", "link")  # how a download reaches its name: over a file, or as a new one


@contextmanager
def _killed_once_landed(target: str) -> Iterator[list[str]]:
    """The daemon is killed right after `target`'s download reaches its name, before the journal records it."""
    fired: list[str] = []

    def hook(op: str, stage: str, paths: tuple[str, ...]) -> None:
        if stage == "after" and op in LANDS and target in paths and not fired:
            fired.append(op)
            raise Crash(f"killed after the download's {op}")

    fsio.set_hook(hook)
    try:
        yield fired
    finally:
        fsio.set_hook(None)


def _amy_saves_next(sim: Simulation, amy: Device, ben: Device, saves: dict[str, bytes], when: int) -> None:
    """Amy saves the next versions; ben's feed brings them before his restarted daemon plans on what his scan found
    (the order that made the conflicted copy); then every device settles."""
    for k, (path, body) in enumerate(saves.items()):
        save(amy, path, body, when + k)
    with sim.acting(amy):
        amy.turn()
    with sim.acting(ben):
        ben.pull()
    sim.settle()


def test_a_download_killed_before_its_record_is_no_conflict_with_the_next_version(sim: Simulation) -> None:
    amy, ben = download_over_a_file(sim)
    with _killed_once_landed(str(ben.root / "d" / "e.txt")) as fired, sim.acting(ben):
        ben.folder.step()
    assert fired, "the download landed, and the daemon was killed"
    assert (ben.root / "d" / "e.txt").read_bytes() == b"amy's second version"
    synced = ben.journal.get_synced(ben.cfg.id, "d/e.txt")
    assert synced is not None
    assert synced.rev < ben.journal.get_remote(ben.cfg.id, "d/e.txt").rev, "the landing was not recorded"  # type: ignore[union-attr]

    _amy_saves_next(sim, amy, ben, {"d/e.txt": b"amy's third version"}, T + 4 * 10**9)

    for d in (amy, ben):
        seen = files(d)
        assert [p for p in seen if "conflicted copy" in p] == [], f"{d.name}: nobody edited d/e.txt on ben"
        assert seen == {"d/e.txt": b"amy's third version"}
    assert ben.journal.meta_with_prefix(f"landing:{ben.cfg.id}:") == {}, "no note outlives its settling"


def test_new_files_killed_before_their_record_are_no_conflict_with_the_next_version(sim: Simulation) -> None:
    """The same for a batch of new small files, linked at their names (one note for the whole batch)."""
    amy, ben = sim.devices
    for n in range(3):
        save(amy, f"new/{n}.txt", f"amy's first {n}".encode(), T + n)
    with sim.acting(amy):
        amy.turn()
    with sim.acting(ben):
        ben.pull()
    with _killed_once_landed(str(ben.root / "new" / "1.txt")) as fired, sim.acting(ben):
        ben.folder.step()
    assert fired, "the batch landed in part, and the daemon was killed"
    assert (ben.root / "new" / "1.txt").read_bytes() == b"amy's first 1"
    assert ben.journal.get_synced(ben.cfg.id, "new/1.txt") is None, "the landing was not recorded"
    assert ben.journal.meta_with_prefix(f"landing:{ben.cfg.id}:"), "its note is in the journal"

    _amy_saves_next(sim, amy, ben, {f"new/{n}.txt": f"amy's second {n}".encode() for n in range(3)}, T + 10**9)

    for d in (amy, ben):
        assert files(d) == {f"new/{n}.txt": f"amy's second {n}".encode() for n in range(3)}, d.name
    assert {p: b for p, b in sim.cloud.live_files(PREFIX).items() if b is not None} == files(amy)
    assert ben.journal.meta_with_prefix(f"landing:{ben.cfg.id}:") == {}


@pytest.mark.parametrize("user_saved", ["before the restart", "after the restart"])
def test_an_edit_of_the_unrecorded_download_is_kept_with_the_next_version(sim: Simulation, user_saved: str) -> None:
    """Ben edits the file that landed: whether his edit is of the download or of the version before cannot be
    told apart without the record, so both his edit and amy's next version are kept (one as a conflicted copy)."""
    amy, ben = download_over_a_file(sim)
    with _killed_once_landed(str(ben.root / "d" / "e.txt")) as fired, sim.acting(ben):
        ben.folder.step()
    assert fired
    if user_saved == "before the restart":
        save(ben, "d/e.txt", b"ben's edit", T + 3 * 10**9)
    else:
        with sim.acting(ben):
            ben.turn()  # the restarted daemon settles the landing first
        save(ben, "d/e.txt", b"ben's edit", T + 3 * 10**9)
    _amy_saves_next(sim, amy, ben, {"d/e.txt": b"amy's third version"}, T + 4 * 10**9)
    for d in (amy, ben):
        assert sorted(files(d).values()) == [b"amy's third version", b"ben's edit"], d.name


def test_a_journal_that_refuses_the_note_lands_nothing(sim: Simulation, monkeypatch: pytest.MonkeyPatch) -> None:
    """A note the journal refuses (a full disk) stops the landing before any file reaches its name: the download
    is planned again once the journal takes writes, and nothing on the disk is left unknown to it."""
    amy, ben = download_over_a_file(sim)
    refusing = [True]
    set_meta = ben.journal.set_meta

    def full(key: str, value: str) -> None:
        if refusing and key.startswith("landing:"):
            exc = sqlite3.OperationalError("database or disk is full")
            exc.sqlite_errorcode = 13  # SQLITE_FULL
            raise exc
        set_meta(key, value)

    monkeypatch.setattr(ben.journal, "set_meta", full)
    with sim.acting(ben):
        ben.folder.step()
    assert (ben.root / "d" / "e.txt").read_bytes() == b"first version", "nothing landed without its note"
    refusing.clear()
    sim.settle()
    assert files(ben) == files(amy) == {"d/e.txt": b"amy's second version"}


@pytest.mark.parametrize("moved", ["a file", "a folder"])
def test_a_move_from_the_server_killed_before_its_record_is_no_conflict_with_the_next_version(
        sim: Simulation, moved: str) -> None:
    """The same for a move the server made, followed on ben's disk: killed after the rename and before its record,
    the moved file must still be the synced version when amy's next version of it arrives."""
    amy, ben = sim.devices
    save(amy, "d/e.txt", b"first version", T)
    amy.events.append("d")
    sim.settle()
    src, dst, path = ("d/e.txt", "d/f.txt", "d/f.txt") if moved == "a file" else ("d", "g", "g/e.txt")
    rename(sim, amy, src, dst)
    with sim.acting(ben):
        ben.pull()
    with _killed_once_landed(str(ben.root / dst)) as fired, sim.acting(ben):
        ben.folder.step()
    assert fired, "the move landed on ben's disk, and the daemon was killed"
    assert ben.journal.get_synced(ben.cfg.id, path) is None, "the move was not recorded"

    _amy_saves_next(sim, amy, ben, {path: b"amy's second version"}, T + 10**9)
    for d in (amy, ben):
        assert files(d) == {path: b"amy's second version"}, d.name
