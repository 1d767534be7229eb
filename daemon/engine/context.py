"""What one folder's executor works with: its journal, its place on disk and on the server, its transfer machinery,
and the callbacks that tie it to the folder's other threads (the local observer, the feed)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ferrysync.daemon.engine.progress import TransferTracker
from ferrysync.daemon.journal import Journal
from ferrysync.daemon.local.engine_writes import EngineWrites
from ferrysync.daemon.remote import RemoteClient
from ferrysync.daemon.transfer import Downloader, Uploader
from ferrysync.daemon.transfer.download import LocalBlockFinder


@dataclass
class FolderContext:
    journal: Journal
    folder_id: str
    root: Path
    prefix: str
    client: RemoteClient
    uploader: Uploader
    downloader: Downloader
    cancel: threading.Event  # set while paused or stopping: transfers stop between blocks
    find_block: LocalBlockFinder
    tracker: TransferTracker
    use_os_trash: bool = True
    host: str = "this device"  # names the conflict copies this device makes
    download_workers: int = 4  # files downloaded at once (1: one after the other, on the calling thread)
    now: Callable[[], datetime] = datetime.now  # local wall-clock time, as conflict names show it
    wake_indexer: Callable[[], None] = lambda: None  # a path was marked dirty: let the local observer look now
    # the journal refused to queue paths the engine may have changed: the local observer holds them until it takes
    look_again: Callable[[Iterable[str]], None] = lambda paths: None
    engine_writes: EngineWrites = field(default_factory=EngineWrites)  # landed, not yet recorded: the indexer waits
    # The remote tree's writers take turns: the feed for a page, the executor from a commit request until its result
    # is recorded. Else a page the feed applied in between (a later change by another device, a folder made where
    # one was moved away) would be overwritten by the older result, and the device would say idle beside a server
    # that differs (simulation seed 7431).
    remote_gate: threading.Lock = field(default_factory=threading.Lock)
