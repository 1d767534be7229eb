"""Threads with owners: a folder's state is written by its loop thread only; others post commands or read snapshots.

The control channel's threads (`ferry deletions approve|reject`, pause, new name rules) must never change what the
loop is in the middle of using; they post a command that the loop runs at the top of its next turn, and the folder
is not idle while one waits (else `ferry wait` could return between the user's approval and the deletions). Status
readers take `FolderView` snapshots that nobody changes under them.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

import pytest
from simworld import Simulation


def _mass_deletion_held(sim: Simulation, content: bytes) -> None:
    """Eight files synced, then all deleted on ben: held for approval there."""
    amy, ben = sim.devices
    for i in range(8):
        (amy.root / f"f{i}.txt").write_bytes(content * i)
        amy.events.append(f"f{i}.txt")
    sim.settle()
    for i in range(8):
        (ben.root / f"f{i}.txt").unlink()
        ben.events.append(f"f{i}.txt")
    for _ in range(5):
        ben.turn()
        sim._clock += 0.25  # a deletion waits a moment for a rename's other half (engine/rename_hold.py)
    assert len(ben.folder.view.held) == 8


def _from_another_thread(command: Callable[[], None]) -> None:
    t = threading.Thread(target=command)
    t.start()
    t.join()


def test_a_command_from_another_thread_waits_for_the_loop_and_keeps_it_busy(sim: Simulation) -> None:
    amy, ben = sim.devices
    _mass_deletion_held(sim, b"x")
    before = ben.folder.view
    assert ben.idle()

    _from_another_thread(ben.folder.approve_deletions)
    assert ben.folder.view is before, "the control thread changed nothing itself"
    assert not ben.idle(), "an approval waiting for the loop is work: not idle, not 'Up to date'"
    with pytest.raises(TypeError):
        before.held["f0.txt"] = before.held["f1.txt"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        before.last_sync = 0.0  # type: ignore[misc]

    sim.settle()
    assert not ben.folder.view.held
    assert len(before.held) == 8, "a new snapshot; the old one is unchanged"
    assert not any((amy.root / f"f{i}.txt").exists() for i in range(8)), "the approved deletions propagated"


def test_rejected_deletions_come_back_through_the_loop(sim: Simulation) -> None:
    amy, ben = sim.devices
    _mass_deletion_held(sim, b"y")
    _from_another_thread(ben.folder.reject_deletions)
    sim.settle()
    assert all((ben.root / f"f{i}.txt").read_bytes() == b"y" * i for i in range(8)), "kept: downloaded again"
    assert all((amy.root / f"f{i}.txt").exists() for i in range(8))


def test_a_turn_with_nothing_to_do_never_reads_as_busy(sim: Simulation, monkeypatch: pytest.MonkeyPatch) -> None:
    """An up-to-date loop still looks at the journal at every idle tick; that look is not work. It used to mark
    the folder busy for its length, so a status asked then said "Syncing" right after `ferry wait` had said
    everything is synced (CI: test_sync_root_vanishing_writes_nothing_there_and_deletes_nothing)."""
    amy, ben = sim.devices
    (amy.root / "a.txt").write_bytes(b"a")
    amy.events.append("a.txt")
    sim.settle()
    assert ben.idle()
    seen: list[bool] = []
    verify = ben.folder._verify

    def look() -> None:
        seen.append(ben.folder.idle())
        verify()

    monkeypatch.setattr(ben.folder, "_verify", look)
    ben.folder.step()
    assert seen == [True]
    assert ben.idle()
