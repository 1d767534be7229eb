"""A download whose record the journal refused is recorded later, so it never turns into a conflict with itself.

Found by tests/e2e/test_journal_disk_refuses.py (a disk refusing writes on and off): a download of the laptop's
`b/file-6.bin` landed, and the journal refused its record. The file was on disk, the journal still said the older
version was synced, so the indexer read the engine's own write as the user's edit; the next version from the
server then met it as a conflict, and a conflicted copy appeared of a file nobody on that device had touched. Now
the executor holds what it wrote and the folder records it before it plans again (engine/held_records.py).
"""

from __future__ import annotations

import os
import sqlite3

import pytest
from exchange_race import download_over_a_file
from lost_records import files
from simdevice import Device
from simworld import Simulation

from ferrysync.daemon.local import fsio


def _journal_full() -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError("database or disk is full")
    exc.sqlite_errorcode = 13  # SQLITE_FULL
    return exc


@pytest.mark.parametrize("user_edits_meanwhile", [False, True])
def test_a_download_the_journal_could_not_record_is_not_mistaken_for_an_edit(
        sim: Simulation, monkeypatch: pytest.MonkeyPatch, user_edits_meanwhile: bool) -> None:
    amy, ben = download_over_a_file(sim)
    target = ben.root / "d" / "e.txt"
    refusing: list[bool] = []

    def landed(op: str, stage: str, paths: tuple[str, ...]) -> None:
        if stage == "after" and str(target) in paths and op in ("exchange", "rename", "link"):
            refusing.append(True)  # the disk fills right after the download lands, before its record

    def commit(device: Device) -> None:
        if device is ben and refusing:
            raise _journal_full()

    monkeypatch.setattr(sim, "journal_commit", commit)
    fsio.set_hook(landed)
    try:
        with sim.acting(ben):
            ben.folder.step()
    finally:
        fsio.set_hook(None)
    assert refusing, "the download landed, and then the journal refused"
    assert target.read_bytes() == b"amy's second version"
    synced, remote = ben.journal.get_synced(ben.cfg.id, "d/e.txt"), ben.journal.get_remote(ben.cfg.id, "d/e.txt")
    assert synced is not None
    assert remote is not None
    assert synced.content_hash != remote.content_hash, "the record was refused: the journal has the first version"
    refusing.clear()  # the disk takes writes again

    if user_edits_meanwhile:  # ben edits the downloaded file: his edit is of amy's second version, a true change
        target.write_bytes(b"ben's edit of amy's second version")
        os.utime(target, ns=(1_700_000_300_000_000_000,) * 2)
        ben.events.append("d/e.txt")
    (amy.root / "d" / "e.txt").write_bytes(b"amy's third version")
    os.utime(amy.root / "d" / "e.txt", ns=(1_700_000_400_000_000_000,) * 2)
    amy.events.append("d/e.txt")
    with sim.acting(amy):
        amy.turn()
    with sim.acting(ben):
        ben.pull()  # the third version is known before ben plans again
    sim.settle()

    seen = files(ben)
    copies = {p: b for p, b in seen.items() if "conflicted copy" in p}
    if user_edits_meanwhile:  # a real conflict: both versions kept
        assert sorted(copies.values()) in ([b"amy's third version"], [b"ben's edit of amy's second version"])
        assert sorted([seen["d/e.txt"], *copies.values()]) == [b"amy's third version",
                                                               b"ben's edit of amy's second version"]
    else:
        assert copies == {}, "nobody edited on ben: the engine's own download is no conflict"
        assert seen["d/e.txt"] == b"amy's third version"
    assert files(amy) == seen
