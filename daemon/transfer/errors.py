"""Why a transfer stopped, as types the engine can act on (retry later, re-plan, tell the user)."""

from __future__ import annotations

from ferrysync.daemon.local.chunker import FileChangedWhileReading


class TransferError(Exception):
    """Base of the transfer failures that are not plain network errors (those are remote.RemoteError)."""


class TransferCancelled(TransferError):
    """The cancel/pause event was set: nothing committed or replaced; progress is kept for a resume."""


class TargetChanged(TransferError):
    """The local file changed while its download ran: nothing was replaced (the engine re-plans the path)."""


class DiskFull(TransferError):
    """No space left for a download; the temp file was removed and the target left as it was."""


class CorruptDownload(TransferError):
    """The remote entry's blocks do not add up to its size or content hash: refused rather than written."""


__all__ = ["CorruptDownload", "DiskFull", "FileChangedWhileReading", "TargetChanged", "TransferCancelled",
           "TransferError"]
