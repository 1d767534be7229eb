"""The set-up the displaced-save tests share: a download about to replace a file the user saves in that instant.

`amy` and `ben` hold `d/e.txt` alike; amy saves a second version, which ben's next step downloads over his copy;
`saves_at_exchange` then has ben save his own bytes in the instant before that download's exchange, so they are
what the exchange displaces into the engine's temp file.
"""

from __future__ import annotations

import os

from simdevice import Device
from simworld import Simulation

BEN_SAVE = b"ben's save, made as the download landed"


def download_over_a_file(sim: Simulation) -> tuple[Device, Device]:
    """amy's second version of `d/e.txt`, committed, and ben's feed pulled: his next step downloads it."""
    amy, ben = sim.devices
    (amy.root / "d").mkdir()
    (amy.root / "d" / "e.txt").write_bytes(b"first version")
    amy.events += ["d", "d/e.txt"]
    sim.settle()
    assert (ben.root / "d" / "e.txt").read_bytes() == b"first version"
    (amy.root / "d" / "e.txt").write_bytes(b"amy's second version")
    os.utime(amy.root / "d" / "e.txt", ns=(1_700_000_100_000_000_000,) * 2)
    amy.events.append("d/e.txt")
    amy.turn()
    ben.pull()
    return amy, ben


def saves_at_exchange(ben: Device, op: str, stage: str, paths: tuple[str, ...], acted: list[str]) -> bool:
    """As an fsio hook's first step: ben saves `d/e.txt` just before the download's exchange (once; True then)."""
    if op == "exchange" and stage == "before" and str(ben.root / "d" / "e.txt") in paths and not acted:
        acted.append("saved")
        (ben.root / "d" / "e.txt").write_bytes(BEN_SAVE)
        os.utime(ben.root / "d" / "e.txt", ns=(1_700_000_200_000_000_000,) * 2)
        return True
    return False
