"""What a sync round tells the user: one desktop notification per conflict copy, failure, kept save and refusal;
and how the status counts what a round is about to do.

Pure: the folder loop hands each (title, body, kind) to its notifier; the tray and `ferry` show them as they come.
"""

from __future__ import annotations

from ferrysync.daemon.engine.executor import BatchResult
from ferrysync.daemon.planner import Action, DeleteLocal, DeleteRemote, Download, Upload

Notice = tuple[str, str, str]  # title, body, kind ("conflict" or "error")


def notices(result: BatchResult) -> list[Notice]:
    out: list[Notice] = [("Conflicting edits", f"Both copies kept: {copy}", "conflict") for copy in result.conflicts]
    out += [("Ferry could not sync a file", f"{path}: {message}", "error") for path, message in result.failed.items()]
    out += [("A save was kept in the trash", f"{path} was saved as it was updated, and its folder was deleted "
             "meanwhile: your save is in the folder's trash (`ferry trash list`)", "conflict")
            for path in result.trashed]
    out += [("Read-only shared folder", f"{path}: your change was refused and the shared version restored; your "
             "version is in the folder's trash", "error") for path in result.refused]
    return out

def pending_transfers(actions: list[Action]) -> dict[str, tuple[int, int]]:
    """Transfers a round is about to run, as the status counts them: (files, bytes) each way."""
    ups = [a for a in actions if isinstance(a, Upload)]
    downs = [a for a in actions if isinstance(a, Download)]
    return {"pending_up": (len(ups), sum(a.local.size for a in ups)),
            "pending_down": (len(downs), sum(a.remote.size for a in downs))}


def held_side(action: Action) -> str:
    """Which side a held deletion would delete on (for `ferry deletions`)."""
    if isinstance(action, DeleteLocal):
        return "local"
    assert isinstance(action, DeleteRemote)
    return "remote"
