"""The executor never creates the sync root itself, even when it vanishes between the marker check and a mkdir.

A download into `x/y/` used to create missing folders with `makedirs`, which also recreates a root that was
unmounted a moment before: a stand-in folder the real disk then cannot be mounted over (docs/sync-model.md,
invariant 4). Folders are now made one level at a time below the root.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from simworld import Knobs, Simulation

from ferrysync.daemon.engine.local_actions import GuardFailed


def test_a_vanished_root_is_not_recreated_by_a_mkdir(tmp_path: Path) -> None:
    sim = Simulation(3, tmp_path, knobs=Knobs(user=0.0, other_thread=0.0, crash=0.0, network=0.0), devices=1)
    try:
        (device,) = sim.devices
        root = device.root
        os.rename(root, tmp_path / "unmounted")
        with pytest.raises(GuardFailed, match="vanished"):
            device.folder.executor._make_dirs("x/y/z.txt", root / "x" / "y")
        assert not root.exists(), "nothing is created where the root was"
    finally:
        sim.close()


def test_folders_below_the_root_are_made_and_a_file_in_the_way_is_reported(tmp_path: Path) -> None:
    sim = Simulation(4, tmp_path, knobs=Knobs(user=0.0, other_thread=0.0, crash=0.0, network=0.0), devices=1)
    try:
        (device,) = sim.devices
        root = device.root
        device.folder.executor._make_dirs("x/y/z.txt", root / "x" / "y")
        assert (root / "x" / "y").is_dir()
        (root / "f").write_bytes(b"a file")
        with pytest.raises(GuardFailed, match="a file stands where"):
            device.folder.executor._make_dirs("f/g/h.txt", root / "f" / "g")
        assert (root / "f").read_bytes() == b"a file"
    finally:
        sim.close()
