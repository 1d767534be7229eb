"""A save a download displaced survives the folder's flush failing right after the exchange (found by the
simulation's extended schedules: seed 3000508, on a loaded machine, where a full disk failed that flush).

The user saved `d/e.txt` in the instant before a download's exchange, so their bytes went to the engine's temp file;
then making `d` durable (fsync) failed with ENOSPC. The error propagated out of the install before the displaced
save was handed back: it stayed in the temp folder, which nobody looks in, and the device went on to say idle. Now
the save comes first: it is kept as a conflicted copy whatever the flush said (the folder's next flush makes both
names durable, and a crash before it is what the journal's swap record recovers).
"""

from __future__ import annotations

import errno

from exchange_race import BEN_SAVE, download_over_a_file, saves_at_exchange
from simworld import Simulation

from ferrysync.daemon.local import fsio


def test_a_displaced_save_is_kept_when_the_folder_flush_after_the_exchange_fails(sim: Simulation) -> None:
    amy, ben = download_over_a_file(sim)
    acted: list[str] = []

    def meanwhile(op: str, stage: str, paths: tuple[str, ...]) -> None:
        if saves_at_exchange(ben, op, stage, paths, acted):
            return
        if (op, stage) == ("fsync", "before") and str(ben.root / "d") in paths and acted == ["saved"]:
            acted.append("refused")
            raise OSError(errno.ENOSPC, "No space left on device", str(ben.root / "d"))

    fsio.set_hook(meanwhile)
    try:
        ben.folder.step()
    finally:
        fsio.set_hook(None)
    assert acted == ["saved", "refused"], "the download's exchange ran, then the folder's flush failed"

    on_disk = {p.name: p.read_bytes() for p in (ben.root / "d").iterdir()}
    copies = [b for name, b in on_disk.items() if "conflicted copy" in name]
    assert copies == [BEN_SAVE], on_disk
    assert on_disk["e.txt"] == b"amy's second version"
    assert not [p for p in (ben.root / ".ferry" / "tmp").iterdir() if p.is_file()], "nothing left in the temps"
    sim.settle()  # the conflicted copy travels; both devices end alike
    assert {p.name for p in (amy.root / "d").iterdir()} == set(on_disk)
