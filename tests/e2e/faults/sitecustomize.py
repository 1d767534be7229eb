"""Faults injected into a test's real `ferryd` (this directory is put on its PYTHONPATH by the test).

Python imports `sitecustomize` at start-up, so the daemon under test is the installed one, started as users start
it, with one thing broken the way a bug would break it: an exception nobody expected, in a sync loop or while the
engine starts. `FERRY_TEST_FAULT` names the fault; other processes (the `ferry` CLI) are left alone.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

FAULT = os.environ.get("FERRY_TEST_FAULT", "")

if FAULT and Path(sys.argv[0]).name == "ferryd":
    if FAULT == "sync-loop":
        # Armed by a file, so the daemon first starts and syncs normally, as the vanished daemons of issue 11 did.
        from ferrysync.daemon.engine.folder import FolderSync

        _take = FolderSync._take
        _armed = Path(os.environ["FERRY_HOME"]) / "break-sync-loop"

        def _broken_take(self: FolderSync, observer_idle: bool) -> set[str] | None:
            if _armed.exists():
                raise RuntimeError("injected fault: the sync loop met an exception it did not expect")
            return _take(self, observer_idle)

        FolderSync._take = _broken_take  # type: ignore[method-assign]
    elif FAULT == "engine-start":
        from ferrysync.daemon.engine.engine import Engine

        def _broken_start(self: Engine) -> None:
            raise RuntimeError("injected fault: the engine could not start")

        Engine.start = _broken_start  # type: ignore[method-assign]
