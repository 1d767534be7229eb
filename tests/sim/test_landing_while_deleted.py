"""A batch of small downloads whose record fails still has every file it landed looked at.

Small downloads land a batch, then record it (`engine/download_batch.py`). When the record fails (here the user
deletes a folder of the batch, so making its renames durable fails), the files already landed stay on disk with
no row; the engine then makes every path of the batch ready for the indexer (`SmallDownloads._release`), which
finds them as the files they are. If the feed meanwhile took away the server's row of one of them (another
device deleted it), that look is the only thing that still knows the file is there. A version that made ready
only the paths an event had named (a speed-up, reverted) left such a file with no row at all while the device
said "Up to date" and differed from the server: the random schedules found it (seed 722); this replays it.
"""

from __future__ import annotations

import shutil

from simworld import PREFIX, Simulation

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
