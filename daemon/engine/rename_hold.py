"""Holding a rename's two halves until both can be planned together.

A rename reaches the journal in two halves (the old name gone, the new one there), and the halves can be indexed
apart: the engine's own re-check of a path it just wrote is ready at once, the user's events after their quiet
period. Planned alone, the old half is a deletion (held for approval if the folder was big) and the new half an
upload: correct in the end, but a rename becomes a delete, and a folder rename a mass deletion. So a path that
vanished from disk waits while the local observer still has paths to index, and a new path waits with it (it may
be the other half); the wait is bounded, so a folder that never stops changing still propagates its deletions.

"Idle" cannot know of events still on their way from the OS (a few ms; longer on a loaded machine): a user
renaming a folder the instant the engine moved it into place had its old name indexed as gone and planned while
the new name's events were not yet delivered. So the waiting paths also wait until the last of them has waited
VANISHED_MIN_S, and they wait as ONE group, released together: each half alone is the mistake this avoids.

Owned by the folder's loop thread (no lock): the folder plans what `hold` leaves in the rows, retries what it
holds, and takes every held path together once `released` says so.
"""

from __future__ import annotations

from collections.abc import Container

from ferrysync.daemon.planner import PathRows

VANISHED_WAIT_S = 10.0  # longest the paths wait for the local observer to catch up
VANISHED_MIN_S = 0.5  # least they wait, for events still on their way (as long as watchdog pairs a move's halves)


class RenameHold:
    """The paths waiting for a rename's other half, each with when it began to wait."""

    def __init__(self) -> None:
        self._since: dict[str, float] = {}

    def __contains__(self, path: object) -> bool:
        return path in self._since

    def released(self, now: float, observer_idle: bool) -> bool:
        """True when paths wait and may all go now (with whatever the observer found meanwhile)."""
        return bool(self._since) and not self._waits(now, observer_idle)

    def hold(self, rows: dict[str, PathRows], now: float, observer_idle: bool, held: Container[str]) -> list[str]:
        """Take out of `rows` the paths that must wait, and return them (the caller plans them again later).

        `held`: deletions already waiting for the user's approval; they waited for their other half then."""
        for p, r in rows.items():
            if r.local is None and r.synced is not None and p not in held:
                self._since.setdefault(p, now)
        if not self._waits(now, observer_idle):
            self._since.clear()
            return []
        waiting: list[str] = []
        for p, r in list(rows.items()):
            if p in held:
                continue
            vanished = r.local is None and r.synced is not None
            appeared = r.local is not None and r.synced is None and r.remote is None  # maybe the other half
            if vanished or appeared:
                self._since.setdefault(p, now)
                del rows[p]
                waiting.append(p)
        return waiting

    def _waits(self, now: float, observer_idle: bool) -> bool:
        if not self._since:
            return False
        first, last = min(self._since.values()), max(self._since.values())
        return now - first < VANISHED_WAIT_S and (not observer_idle or now - last < VANISHED_MIN_S)
