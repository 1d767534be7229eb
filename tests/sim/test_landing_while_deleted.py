"""A batch of small downloads whose record fails still has every file it landed looked at.

Small downloads land a batch, then record it (`engine/download_batch.py`). When the record fails (here the user
deletes a folder of the batch, so making its renames durable fails), the files already landed stay on disk with
no row; the engine then makes every path of the batch ready for the indexer (`SmallDownloads._release`), which
finds them as the files they are. If the feed meanwhile took away the server's row of one of them (another
device deleted it), that look is the only thing that still knows the file is there. A version that made ready
only the paths an event had named (a speed-up, reverted) left such a file with no row at all while the device
said "Up to date" and differed from the server: the random schedules found it (seed 722); this replays it.
The second test is the same failure with a batch behind it: that batch must not have begun (it once had, and its
files were left holding descriptors).
"""

from __future__ import annotations

import os
import shutil
import threading

import pytest
from simdevice import PREFIX
from simworld import Simulation

from ferrysync.daemon.local import fsio
from ferrysync.daemon.remote.types import DeleteOp


def test_a_file_landed_by_a_batch_whose_record_failed_is_still_found(sim: Simulation) -> None:
    amy, ben = sim.devices
    (amy.root / "d").mkdir()
    for name in ("b.txt", "d/e.txt", "d/f.txt"):  # three small files: one batch on the way down
        (amy.root / name).write_bytes(b"amy's %s" % name.encode())
        amy.events.append(name)
    amy.events.append("d")
    amy.turn()
    ben.pull()
    stale = ben.journal.get_remote(ben.cfg.id, "b.txt")
    assert stale is not None
    # Another device deletes b.txt on the server (straight through the API); ben's feed has not heard yet.
    assert amy.folder.ctx.client.commit([DeleteOp(f"{PREFIX}/b.txt", stale.rev)])[0].ok

    acted: list[str] = []

    def meanwhile(op: str, stage: str, paths: tuple[str, ...]) -> None:
        if (op, stage) == ("fsync", "before") and paths[0] == str(ben.root / "d") and not acted:
            acted.append(paths[0])
            ben.pull()  # the feed's turn: the server's row of b.txt goes
            shutil.rmtree(ben.root / "d")  # the user deletes the folder: the batch's record fails
            ben.events.append("d")

    fsio.set_hook(meanwhile)
    try:
        ben.folder.step()  # folder d made, then b.txt, d/e.txt and d/f.txt landed as one batch
    finally:
        fsio.set_hook(None)
    assert acted, "the batch got as far as its record"
    assert (ben.root / "b.txt").read_bytes() == b"amy's b.txt", "landed, not recorded"
    sim.settle()  # raises if a device says it is idle while its disk differs from the server
    assert (ben.root / "b.txt").exists() == ("b.txt" in sim.cloud.live_files(PREFIX))


def test_a_batch_whose_record_fails_leaves_the_next_one_unstarted_and_no_file_held_open(
    sim: Simulation, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch is recorded before the next one lands (`SmallDownloads.run`). So when its record fails, the next
    batch has not begun: none of its files was written unnamed and left holding a descriptor the run never lets go
    of (each counts against the budget of open unnamed files until the process ends). What did land is found, and
    both devices end alike."""
    from ferrysync.daemon.engine import download_batch

    monkeypatch.setattr(download_batch, "BATCH_BLOCKS", 2)  # two files a batch: 1 and 2, then 3 and 4
    monkeypatch.setattr(download_batch, "RAMP", 0)  # from the first batch on
    amy, ben = sim.devices
    names = ("d/1.txt", "d/2.txt", "d/3.txt", "d/4.txt")
    (amy.root / "d").mkdir()
    amy.events.append("d")
    for name in names:
        (amy.root / name).write_bytes(b"amy's %s" % name.encode())
        amy.events.append(name)
    amy.turn()
    ben.pull()
    held_before = fsio._unnamed_open
    opened: list[str] = []  # unnamed files written during ben's round
    third = threading.Event()  # a file of the next batch was opened
    failed: list[str] = []

    def meanwhile(op: str, stage: str, paths: tuple[str, ...]) -> None:
        if (op, stage) == ("open", "after"):
            opened.append(os.fspath(paths[0]))
            if len(opened) >= 3:
                third.set()
        elif (op, stage) == ("fsync", "before") and paths[0] == str(ben.root / "d") and not failed:
            failed.append(paths[0])
            shutil.rmtree(ben.root / "d")  # the user deletes the folder: the first batch's record fails
            ben.events.append("d")
            # Were the next batch already handed to the landing threads, it would be written now: give it the
            # chance (a deadline: the wait ends as soon as a third file is opened).
            third.wait(0.5)

    fsio.set_hook(meanwhile)
    try:
        ben.folder.step()
    finally:
        fsio.set_hook(None)
    assert failed, "the first batch got as far as its record"
    assert len(opened) == 2, "the next batch was written although the one before failed to record"
    assert fsio._unnamed_open == held_before, "an unnamed file is still held open"
    sim.settle()  # raises if a device says it is idle while its disk differs from the server
    cloud = sim.cloud.live_files(PREFIX)
    assert {n: (ben.root / n).read_bytes() for n in names if (ben.root / n).exists()} == {
        n: cloud[n] for n in names if n in cloud}
    assert set(names) <= set(cloud), "ben's deletion of a folder it had not recorded yet deletes nothing there"
