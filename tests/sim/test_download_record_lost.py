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

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from exchange_race import download_over_a_file
from simworld import PREFIX, Crash, Device, Simulation

from ferrysync.daemon.local import fsio

T = 1_700_000_000_000_000_000
LANDS = ("exchange", "rename", "link")  # how a download reaches its name: over a file, or as a new one


def _save(d: Device, rel: str, body: bytes, when: int) -> None:
    p = d.root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(body)
    os.utime(p, ns=(when, when))
    d.events.append(rel)


def _files(d: Device) -> dict[str, bytes]:
    return {p.relative_to(d.root).as_posix(): p.read_bytes() for p in d.root.rglob("*")
            if p.is_file() and ".ferry" not in p.relative_to(d.root).parts}


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


def test_a_download_killed_before_its_record_is_no_conflict_with_the_next_version(sim: Simulation) -> None:
    amy, ben = download_over_a_file(sim)
    with _killed_once_landed(str(ben.root / "d" / "e.txt")) as fired, sim.acting(ben):
        ben.folder.step()
    assert fired, "the download landed, and the daemon was killed"
    assert (ben.root / "d" / "e.txt").read_bytes() == b"amy's second version"
    synced = ben.journal.get_synced(ben.cfg.id, "d/e.txt")
    assert synced is not None
    assert synced.rev < ben.journal.get_remote(ben.cfg.id, "d/e.txt").rev, "the landing was not recorded"  # type: ignore[union-attr]

    _save(amy, "d/e.txt", b"amy's third version", T + 4 * 10**9)  # before ben's restarted daemon looks at its disk
    with sim.acting(amy):
        amy.turn()
    with sim.acting(ben):
        ben.pull()  # the third version is known when ben first plans on what his scan found
    sim.settle()

    for d in (amy, ben):
        files = _files(d)
        assert [p for p in files if "conflicted copy" in p] == [], f"{d.name}: nobody edited d/e.txt on ben"
        assert files == {"d/e.txt": b"amy's third version"}
    assert ben.journal.meta_with_prefix(f"landing:{ben.cfg.id}:") == {}, "no note outlives its settling"


def test_new_files_killed_before_their_record_are_no_conflict_with_the_next_version(sim: Simulation) -> None:
    """The same for a batch of new small files, linked at their names (one note for the whole batch)."""
    amy, ben = sim.devices
    for n in range(3):
        _save(amy, f"new/{n}.txt", f"amy's first {n}".encode(), T + n)
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

    for n in range(3):
        _save(amy, f"new/{n}.txt", f"amy's second {n}".encode(), T + 10**9 + n)
    with sim.acting(amy):
        amy.turn()
    with sim.acting(ben):
        ben.pull()
    sim.settle()

    for d in (amy, ben):
        assert _files(d) == {f"new/{n}.txt": f"amy's second {n}".encode() for n in range(3)}, d.name
    assert {p: b for p, b in sim.cloud.live_files(PREFIX).items() if b is not None} == _files(amy)
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
        _save(ben, "d/e.txt", b"ben's edit", T + 3 * 10**9)
    else:
        with sim.acting(ben):
            ben.turn()  # the restarted daemon settles the landing first
        _save(ben, "d/e.txt", b"ben's edit", T + 3 * 10**9)
    _save(amy, "d/e.txt", b"amy's third version", T + 4 * 10**9)
    with sim.acting(amy):
        amy.turn()
    with sim.acting(ben):
        ben.pull()
    sim.settle()
    for d in (amy, ben):
        assert sorted(_files(d).values()) == [b"amy's third version", b"ben's edit"], d.name


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
    assert _files(ben) == _files(amy) == {"d/e.txt": b"amy's second version"}


def test_a_journal_without_notes_is_looked_at_once_after_a_start(sim: Simulation) -> None:
    """Settling landings costs nothing while none failed: one look at the journal after a start, none after."""
    amy, ben = sim.devices
    looks: list[str] = []
    meta = ben.journal.meta_with_prefix

    def counting(prefix: str) -> dict[str, str]:
        looks.append(prefix)
        return meta(prefix)

    ben.journal.meta_with_prefix = counting  # type: ignore[method-assign]
    for n in range(3):
        _save(amy, f"f{n}.txt", b"x" * n, T + n)
        with sim.acting(amy):
            amy.turn()
        for _ in range(2):
            with sim.acting(ben):
                ben.turn()
    assert (ben.root / "f2.txt").read_bytes() == b"xx"
    assert [c for c in looks if c.startswith("landing:")] == [f"landing:{ben.cfg.id}:"]


@pytest.mark.parametrize("moved", ["a file", "a folder"])
def test_a_move_from_the_server_killed_before_its_record_is_no_conflict_with_the_next_version(
        sim: Simulation, moved: str) -> None:
    """The same for a move the server made, followed on ben's disk: killed after the rename and before its record,
    the moved file must still be the synced version when amy's next version of it arrives."""
    amy, ben = sim.devices
    _save(amy, "d/e.txt", b"first version", T)
    amy.events.append("d")
    sim.settle()
    src, dst, path = ("d/e.txt", "d/f.txt", "d/f.txt") if moved == "a file" else ("d", "g", "g/e.txt")
    (amy.root / src).rename(amy.root / dst)
    amy.events += [src, dst]
    for _ in range(5):  # the rename's halves wait a moment to be planned as one move (invariant 9)
        with sim.acting(amy):
            amy.turn()
        sim._clock += 1.0
    with sim.acting(ben):
        ben.pull()
    with _killed_once_landed(str(ben.root / dst)) as fired, sim.acting(ben):
        ben.folder.step()
    assert fired, "the move landed on ben's disk, and the daemon was killed"
    assert ben.journal.get_synced(ben.cfg.id, path) is None, "the move was not recorded"

    _save(amy, path, b"amy's second version", T + 10**9)
    with sim.acting(amy):
        amy.turn()
    with sim.acting(ben):
        ben.pull()
    sim.settle()
    for d in (amy, ben):
        assert _files(d) == {path: b"amy's second version"}, d.name
