"""A save a download displaced survives its folder being deleted before Ferry keeps it (found by the simulation).

Seed 2403 of the race-and-crash simulation (its later threads made it fail one run in three): the user saved
`d/e.txt` in the instant before a download's exchange, so their bytes went to the engine's temp file; then, before
the engine renamed that temp to a conflicted copy beside `d/e.txt`, the user deleted the folder `d`. The rename
failed ("No such file or directory"), the download was re-planned, and the user's bytes were left in the temp
folder, which nobody looks in and a restart clears (and the restart's recovery of the swap failed the same way).
They are now kept in the folder's trash under `d/e.txt`, as if deleted with the folder, where `ferry trash` lists
and restores them.
"""

from __future__ import annotations

import shutil

import pytest
from exchange_race import BEN_SAVE, download_over_a_file, saves_at_exchange
from simworld import Simulation

from ferrysync.daemon.local import fsio
from ferrysync.daemon.local.trash import list_folder_trash


@pytest.mark.parametrize("moment", [
    ("exchange", "after", "d/e.txt"),  # before the folder is made durable (what the simulation found)
    ("fsync", "after", "d"),  # after that, before the save is renamed to a conflicted copy beside the file
])
def test_a_displaced_save_whose_folder_was_deleted_meanwhile_goes_to_the_folder_trash(
        sim: Simulation, moment: tuple[str, str, str]) -> None:
    amy, ben = download_over_a_file(sim)
    op_gone, stage_gone, at = moment
    acted: list[str] = []

    def meanwhile(op: str, stage: str, paths: tuple[str, ...]) -> None:
        if saves_at_exchange(ben, op, stage, paths, acted):
            return
        if (op, stage) == (op_gone, stage_gone) and str(ben.root / at) in paths and acted == ["saved"]:
            acted.append("deleted")
            shutil.rmtree(ben.root / "d")  # the user deletes the folder before Ferry keeps the displaced save
            ben.events += ["d", "d/e.txt"]

    fsio.set_hook(meanwhile)
    try:
        ben.folder.step()
    finally:
        fsio.set_hook(None)
    assert acted == ["saved", "deleted"], "the download's exchange ran"

    kept = [i for i in list_folder_trash(ben.root) if i.relpath == "d/e.txt"]
    assert len(kept) == 1, "the save is in the folder's trash under its own path"
    assert kept[0].stored_at is not None
    assert kept[0].stored_at.read_bytes() == BEN_SAVE
    assert not [p for p in (ben.root / ".ferry" / "tmp").iterdir() if p.is_file()], "nothing left in the temps"
    sim.settle()  # the folder's deletion reaches amy; both devices end alike
    assert not (amy.root / "d").exists()
    assert not (ben.root / "d").exists()
