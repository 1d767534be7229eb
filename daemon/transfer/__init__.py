"""Moving file content between this disk and the server: uploads, downloads, a shared bandwidth limit."""

from .bandwidth import TokenBucket
from .download import Downloader, DownloadResult, LocalBlockFinder, ResumeState, remove_stale_temps
from .errors import (
    CorruptDownload,
    DiskFull,
    FileChangedWhileReading,
    TargetChanged,
    TransferCancelled,
    TransferError,
)
from .upload import Uploader, UploadItem, UploadOutcome, UploadStats

__all__ = [
    "CorruptDownload", "DiskFull", "DownloadResult", "Downloader", "FileChangedWhileReading",
    "LocalBlockFinder", "ResumeState", "TargetChanged", "TokenBucket", "TransferCancelled", "TransferError",
    "UploadItem", "UploadOutcome", "UploadStats", "Uploader", "remove_stale_temps",
]
