"""One folder's mass-deletion hold: deletions waiting for the user's approval, and those made lately.

The planner holds a batch's deletions when they would remove more than the user's threshold allows
(planner/batch.py, `DeletionThreshold`). A wipe often reaches the journal in pieces (a script removing a tree, a
disk emptied folder by folder), so the deletions made in the last DELETION_WINDOW_S, and those already waiting,
count together with each new batch's: one wipe is one decision for the user, however it arrives. What the user
approved runs at once and does not count against what comes next; what they rejected comes back (its merge base is
forgotten, so the planner sees the files as new on the side that still has them).

Owned by the folder's loop thread (folder.py), which publishes `held` through its view.
"""

from __future__ import annotations

from collections.abc import Container, Iterable

from ferrysync.daemon.config import Settings
from ferrysync.daemon.planner import NO_THRESHOLD, Action, DeletionThreshold, deletes_file

DELETION_WINDOW_S = 120.0  # deletions this recent count together against the mass-deletion hold


class DeletionHold:
    def __init__(self) -> None:
        self.held: dict[str, Action] = {}  # path -> the deletion waiting for the user's approval
        self._deleted: list[tuple[float, int]] = []  # (when, files) deleted lately without approval
        self._approved = False

    def approve(self) -> list[str]:
        """The user approved: the next round runs the held deletions, whatever their number; the paths to plan."""
        self._approved = True
        return list(self.held)

    def reject(self) -> dict[str, Action]:
        """The user rejected: what was held (the caller forgets the merge bases, so the files come back)."""
        held, self.held = self.held, {}
        return held

    def threshold(self, settings: Settings, rows: Container[str], now: float) -> tuple[DeletionThreshold, bool]:
        """The threshold for a round planning `rows`, and whether it runs an approval (no threshold then)."""
        self._deleted = [(t, n) for t, n in self._deleted if now - t < DELETION_WINDOW_S]
        if self._approved:
            self._approved = False
            self._deleted = []
            return NO_THRESHOLD, True
        waiting = sum(1 for a in self.held.values() if deletes_file(a) and a.path not in rows)
        return DeletionThreshold(max_files=settings.delete_threshold_count, max_ratio=settings.delete_threshold_ratio,
                                 recently_deleted=sum(n for _, n in self._deleted), waiting=waiting), False

    def planned(self, held_deletions: Iterable[Action], rows: Iterable[str]) -> bool:
        """A round's plan: the deletions it held (added) or, holding none, the paths it planned (no longer held).
        True when a deletion is newly held (the user is told)."""
        newly = False
        holding = False
        for a in held_deletions:
            holding = True
            newly = newly or a.path not in self.held
            self.held[a.path] = a
        if not holding:
            for path in rows:
                self.held.pop(path, None)
        return newly

    def done(self, now: float, deleted: int, approved: bool) -> None:
        """A round deleted `deleted` files; unless the user approved them, they count against the next rounds."""
        if deleted and not approved:
            self._deleted.append((now, deleted))
