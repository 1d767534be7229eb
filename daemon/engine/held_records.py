"""Downloads that landed while the journal refused to record them: held in memory, recorded before the next plan.

The engine records what it wrote, never what it finds afterwards. A download whose record the journal refused (a
full disk) is on the disk all the same. Forgotten, its bytes would read to the indexer as the user's edit of the
older synced row; a later change on the server would then make a conflicted copy of the engine's own write, which
nobody edited (found by tests/e2e/test_journal_disk_refuses.py, a disk refusing writes on and off). So the executor
holds what it wrote, and the folder records it once the journal takes writes, before it plans again. Only where
nothing was recorded for the path meanwhile: its synced row must still be the one seen when the record failed
(else a later download, or the user's change and its upload, already moved the path on, and the hold is dropped).

A daemon that stops with records held loses only this memory: the indexer then finds the files, as after a crash
between landing and recording (docs/sync-model.md).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ferrysync.daemon.engine.landing import Landed, record_batch
from ferrysync.daemon.model import SyncedEntry

if TYPE_CHECKING:
    from ferrysync.daemon.engine.executor import Executor

log = logging.getLogger(__name__)


class HeldRecords:
    """Landed downloads whose record the journal refused, by path, each with the synced row it saw then."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # landers of a batch of big files hold from several threads
        self._held: dict[str, tuple[Landed, SyncedEntry | None]] = {}

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, ex: Executor, landed: Sequence[Landed]) -> None:
        """Keep `landed` to record later (the journal just refused to). Reads still work on a refusing disk."""
        if not landed:
            return
        try:
            seen = {p: rows[2] for p, rows in ex.j.rows_for_paths(ex.fid, [x.action.path for x in landed]).items()}
        except Exception:  # cannot even read: the indexer finds the files later, as after a crash
            log.exception("%s: %d downloads landed and could not be recorded, nor held", ex.fid, len(landed))
            return
        with self._lock:
            for x in landed:
                self._held[x.action.path] = (x, seen.get(x.action.path))
        log.warning("%s: the journal refused to record %d downloads that landed; they are recorded once it takes "
                    "writes again", ex.fid, len(landed))

    def record(self, ex: Executor) -> None:
        """Record what is held and still applies, in one transaction; raises (keeping them) if the journal refuses."""
        with self._lock:
            held = dict(self._held)
        if not held:
            return
        now = ex.j.rows_for_paths(ex.fid, held)
        due = [x for p, (x, seen) in held.items() if now.get(p, (None, None, None))[2] == seen]
        if due:
            record_batch(ex, due)
            log.info("%s: recorded %d downloads the journal had refused", ex.fid, len(due))
        moved = len(held) - len(due)
        if moved:
            log.debug("%s: %d held downloads dropped: their paths moved on meanwhile", ex.fid, moved)
        with self._lock:
            for p, item in held.items():
                if self._held.get(p) is item:
                    del self._held[p]
