"""A save the user makes while a batch of small downloads lands is uploaded, though its event came too early.

The watcher leaves a path the engine is writing out of the dirty queue (`LocalIndexer.settled`): its event may be
the echo of the engine's own write, and the engine makes every path of a batch ready for the indexer itself once
it is done with it (in the transaction of the batch's record, `record_batch`, or at its release). So the event of
a real save that comes in that window is not queued either, and the engine's own "look again" is all that stands
between the save and its loss. These tests make that save at the worst moments: right after the engine named the
file, and between its record and its release, each with the event going through the real watcher's flush while
the path is still the engine's.
"""

from __future__ import annotations

import pytest
from simdevice import PREFIX, Device
from simworld import Simulation

from ferrysync.daemon.local import fsio


def _two_small_files(sim: Simulation) -> tuple[Device, Device]:
    amy, ben = sim.devices
    for name in ("a.txt", "b.txt"):
        (amy.root / name).write_bytes(b"amy's %s" % name.encode())
        amy.events.append(name)
    amy.turn()
    ben.pull()
    return amy, ben


def _event_now(device: Device, name: str) -> None:
    """The watcher hears of `name` and flushes at once, while the engine still holds the path."""
    watcher = device.folder.observer.watcher
    watcher.on_paths([str(device.root / name)])
    watcher._flush()


@pytest.mark.parametrize("moment", ["named", "recorded"])
def test_a_save_made_while_its_file_lands_is_uploaded(sim: Simulation, moment: str) -> None:
    amy, ben = _two_small_files(sim)
    target = ben.root / "b.txt"
    saved: list[str] = []

    def save() -> None:
        saved.append(moment)
        target.write_bytes(b"ben's save, made as it landed")
        assert "b.txt" in ben.folder.ctx.engine_writes, "the event comes while the engine holds the path"
        _event_now(ben, "b.txt")
        assert not ben.journal.has_dirty(ben.cfg.id), "left to the engine, not queued"

    def meanwhile(op: str, stage: str, paths: tuple[str, ...]) -> None:
        if saved:
            return
        if moment == "named" and (op, stage) == ("link", "after") and paths[1] == str(target):
            save()
        elif moment == "recorded" and (op, stage) == ("fsync", "after") and paths[0] == str(ben.root):
            save()  # the batch's renames are durable, its record comes next

    fsio.set_hook(meanwhile)
    try:
        ben.folder.step()  # a.txt and b.txt land as one batch
    finally:
        fsio.set_hook(None)
    assert saved, "the save was made while the batch landed"
    assert not ben.folder.ctx.engine_writes
    sim.settle()  # raises if a device says it is idle while its disk differs from the server
    cloud = sim.cloud.live_files(PREFIX)
    assert cloud["b.txt"] == b"ben's save, made as it landed", "the save reached the server"
    assert (amy.root / "b.txt").read_bytes() == b"ben's save, made as it landed"
    assert (ben.root / "a.txt").read_bytes() == b"amy's a.txt"
