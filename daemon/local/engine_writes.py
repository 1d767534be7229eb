"""Paths the engine is writing right now and has not recorded in the journal yet.

A batch of small downloads lands its files first and records them all in one transaction afterwards (engine/
download_batch.py); the watcher's events for those files can be ready (their quiet period over) in between.
Indexed then, each file would be read and hashed as if the user had made it, only for the engine's record to
replace that row a moment later: a second read of every downloaded file, on the CPU the landing needs. So the
watcher does not queue such a path (`LocalIndexer.settled`) and the indexer leaves it queued when something else
did. Nothing is lost by waiting: when the engine is done with a batch it makes every one of its paths ready
itself (the recorded ones in their record's transaction, the rest at the batch's release: `SmallDownloads`), and
a save the user made meanwhile is then seen as a change against what the engine recorded (what it wrote, not
what it finds afterwards). Queued by the watcher as well, each downloaded file's dirty row was written twice
more for nothing.

In memory only: after a crash nothing is being written, and the start-up scan looks at every path anyway.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable


class EngineWrites:
    """A thread-safe multiset of paths (a path written by two overlapping batches stays until both are done)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: Counter[str] = Counter()

    def add(self, paths: Iterable[str]) -> None:
        with self._lock:
            self._paths.update(paths)

    def discard(self, paths: Iterable[str]) -> None:
        with self._lock:
            for p in paths:
                n = self._paths[p] - 1
                if n > 0:
                    self._paths[p] = n
                else:
                    del self._paths[p]

    def __contains__(self, path: object) -> bool:
        with self._lock:
            return path in self._paths

    def among(self, paths: Iterable[str]) -> set[str]:
        """Those of `paths` being written (one lock for many: a watcher's flush holds thousands)."""
        with self._lock:
            return {p for p in paths if p in self._paths} if self._paths else set()

    def __len__(self) -> int:
        with self._lock:
            return len(self._paths)
