"""A folder the user renames the instant the engine moved it into place is still one move, not a mass deletion.

The engine's re-check of a folder it just moved is ready at once; the user's rename events come from the OS a
moment later (longer on a loaded machine). Indexed in between, the engine's new name is gone from disk while the
observer has nothing queued yet, so "idle" says the rename has no other half: the old name was planned alone, a
deletion of every file (held for approval), and the new name was uploaded as new files when its events arrived:
the other device kept both folders. Seen as `tests/e2e/test_sync_basic.py::test_renames_and_folder_moves_keep_content`
failing about one run in sixteen under two CPU hogs. A path that has just vanished now waits a moment even when
the observer looks idle (`VANISHED_MIN_S` in engine/rename_hold.py), and the paths waiting for a rename's other half
are released together: the old half's wait ending before the new half's must not send it alone.
"""

from __future__ import annotations

import os
from pathlib import Path

from simworld import Knobs, Simulation, record_actions, write_project

from ferrysync.daemon.planner import DeleteRemote, MoveLocal, MoveRemote, Upload


def test_a_rename_right_after_the_engines_move_is_one_move(tmp_path: Path) -> None:
    sim = Simulation(6, tmp_path, knobs=Knobs(user=0.0, other_thread=0.0, crash=0.0, network=0.0), devices=2)
    try:
        amy, ben = sim.devices
        names = write_project(sim, amy)
        os.rename(amy.root / "project", amy.root / "renamed-project")
        amy.events += ["project", "renamed-project"]
        sim.settle()  # ben's engine moved project -> renamed-project
        assert (ben.root / "renamed-project" / "src" / "m0.py").exists()

        ran = record_actions(ben)

        # The engine's re-check of its move is ready at once; the user renames before the OS tells the observer.
        ben.journal.mark_dirty(ben.cfg.id, ["renamed-project"], 0.0)
        os.rename(ben.root / "renamed-project", ben.root / "Renamed-Project")
        ben.folder.mark(ben.folder.observer.indexer.drain().changed)
        ben.folder.step()  # the observer has nothing queued: it looks idle
        assert not [a for a in ran if isinstance(a, DeleteRemote)], ran
        assert not ben.folder.view.held, "no deletion waits for approval"
        sim._clock += 0.3
        ben.events += ["renamed-project", "Renamed-Project"]  # the user's events arrive; the new half is indexed
        ben.index()
        ben.folder.step()
        sim._clock += 0.3  # the old half's own wait is over, the new half's is not: neither goes alone
        ben.folder.step()
        assert not ran, ran
        assert not ben.folder.view.held, "no deletion waits for approval"
        sim.settle()

        assert not [a for a in ran if isinstance(a, Upload | DeleteRemote)], ran
        assert any(isinstance(a, MoveRemote) and (a.src, a.dst) == ("renamed-project", "Renamed-Project")
                   for a in ran), ran
        assert not (amy.root / "renamed-project").exists()
        assert sorted(p.name for p in (amy.root / "Renamed-Project" / "src").iterdir()) == sorted(names)
        assert not [a for a in ran if isinstance(a, MoveLocal)], ran
    finally:
        sim.close()
