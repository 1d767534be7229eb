"""Resumable downloads: a big download's temp file and its verified prefix survive a restart.

The journal keeps, per path, the download's resume state (meta) and a transfer row naming its temp file, so the
start-up clean-up of the temp folder spares it (`resumable_temps`) and the next attempt continues where it was.
"""

from __future__ import annotations

import json

from ferrysync.daemon.journal import Journal, TransferState
from ferrysync.daemon.model import RemoteEntry
from ferrysync.daemon.transfer.download import ResumeState


def _key(folder_id: str, path: str) -> str:
    return f"download-resume:{folder_id}:{path}"


def resume_state(journal: Journal, folder_id: str, path: str, remote: RemoteEntry) -> ResumeState | None:
    """Where an earlier download of this very content stopped, if it did."""
    raw = journal.get_meta(_key(folder_id, path))
    if raw is None:
        return None
    state = ResumeState.from_json(json.loads(raw))
    return state if state.content_hash == remote.content_hash else None


def save_resume(journal: Journal, folder_id: str, path: str, state: ResumeState) -> None:
    with journal.transaction():
        journal.set_meta(_key(folder_id, path), json.dumps(state.to_json()))
        journal.save_transfer(TransferState(folder_id, path, "download", state.content_hash or "",
                                            temp_path=state.temp_path))


def forget_resume(journal: Journal, folder_id: str, path: str) -> None:
    with journal.transaction():
        journal.delete_meta(_key(folder_id, path))
        journal.delete_transfer(folder_id, path, "download")


def resumable_temps(journal: Journal, folder_id: str) -> set[str]:
    """Temp files of unfinished downloads that a restart will resume (everything else in tmp is stale)."""
    return {t.temp_path for t in journal.list_transfers(folder_id) if t.direction == "download" and t.temp_path}
