"""A folder rename whose two halves are indexed apart is still one move, however the observer's state flips.

The planning step holds a vanished path while the local observer is busy, so that the new name it has yet to
index is planned together with the old one. It used to ask the observer twice per step: "busy" when taking the
paths (the waiting old half stayed out) and "idle" a moment later when holding (the new half went alone). The
new half was then uploaded as new files and the old half became a mass deletion held for approval: one device
kept both folders while the other had only the new one (seen in CI as `test_renames_and_folder_moves_keep_content`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from simworld import Knobs, Simulation, record_actions, write_project

from ferrysync.daemon.planner import DeleteRemote, MoveRemote, Upload


def _flipping(answers: Iterable[bool]) -> Iterator[bool]:
    yield from answers
    while True:
        yield True


def test_a_folder_rename_indexed_in_two_halves_is_one_move(tmp_path: Path) -> None:
    sim = Simulation(5, tmp_path, knobs=Knobs(user=0.0, other_thread=0.0, crash=0.0, network=0.0), devices=2)
    try:
        amy, ben = sim.devices
        names = write_project(sim, amy)
        assert sorted(p.name for p in (ben.root / "project" / "src").iterdir()) == sorted(names)
        ran = record_actions(amy)

        os.rename(amy.root / "project", amy.root / "renamed")
        # The old half is indexed first, while the observer still has the new half to do: it waits.
        amy.journal.mark_dirty(amy.cfg.id, ["project"], 0.0)
        amy.folder.mark(amy.folder.observer.indexer.drain().changed)
        answers = _flipping([False, False])
        amy.folder.observer.idle = lambda: next(answers)  # type: ignore[method-assign]
        amy.folder.step()
        assert not ran, "the vanished half waits for the observer"
        # The new half is indexed; the observer reads "busy" for the first question of the next step only.
        amy.journal.mark_dirty(amy.cfg.id, ["renamed"], 0.0)
        amy.folder.mark(amy.folder.observer.indexer.drain().changed)
        answers = _flipping([False])
        amy.folder.step()  # at once: the old half's retry is not due yet
        sim.settle()

        assert [a for a in ran if isinstance(a, Upload | DeleteRemote)] == [], ran
        assert any(isinstance(a, MoveRemote) and (a.src, a.dst) == ("project", "renamed") for a in ran), ran
        assert not (ben.root / "project").exists()
        assert sorted(p.name for p in (ben.root / "renamed" / "src").iterdir()) == sorted(names)
    finally:
        sim.close()
