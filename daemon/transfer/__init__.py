"""Moving file content between this disk and the server: uploads, downloads, a shared bandwidth limit."""

from ferrysync.daemon.transfer.bandwidth import TokenBucket
from ferrysync.daemon.transfer.download import (
    Downloader,
    DownloadResult,
    LocalBlockFinder,
    ResumeState,
    remove_stale_temps,
)
from ferrysync.daemon.transfer.errors import (
    CorruptDownload,
    DiskFull,
    FileChangedWhileReading,
    TargetChanged,
    TransferCancelled,
    TransferError,
)
from ferrysync.daemon.transfer.upload import Uploader, UploadItem, UploadOutcome, UploadStats

__all__ = [
    "CorruptDownload", "DiskFull", "DownloadResult", "Downloader", "FileChangedWhileReading",
    "LocalBlockFinder", "ResumeState", "TargetChanged", "TokenBucket", "TransferCancelled", "TransferError",
    "UploadItem", "UploadOutcome", "UploadStats", "Uploader", "remove_stale_temps",
]
