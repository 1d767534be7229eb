"""Sending a big file's blocks while the indexer still reads it, so the file is read once and its upload overlaps its
hashing instead of following it.

Why: a first upload of a big file was two phases, one after the other. The indexer read, cut and hashed the whole
file (1 GiB: 0.7 s on this project's 2-core machine), and only then did the executor read it again and send what the
server lacked (3.1 s: the server's verify, write and flush set the pace). Blocks are named by their content, and a
block stored without a commit changes nothing anyone sees: the server keeps it through its garbage-collection grace
(hours) and drops it after unless a commit names it. So the indexer may hand each block to this sender as it is cut
(chunker.ChunkSink), and when the executor uploads the file, its missing-call finds the blocks stored: the commit
follows the hashing.

What it never does: commit, change a tree, or decide what syncs; the executor's upload is unchanged and still sends
whatever is missing. A block is sent only after a missing-call says the server lacks it, in the uploader's batches
and through its bandwidth throttle, and counted in its statistics. It gives up on a file (the rest of its blocks go
the usual way, after the hashing) at the first sign that overlapping does not pay or is not wanted: the folder
paused or stopping, any failed request, or no room among the requests in flight within `WAIT_S` (a slow link, where
hashing first costs nothing next to sending). Its back-pressure holds the indexer at the pace of sending only while
sending keeps up. The engine makes no sender for an encrypted folder: its blocks are encrypted by its own uploader.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, ExitStack

from ferrysync.daemon.local.chunker import WHOLE_READ_LIMIT
from ferrysync.daemon.remote import RemoteError
from ferrysync.daemon.transfer.upload import Uploader

log = logging.getLogger(__name__)

# Files the chunker streams; a smaller one is read whole and hashed in milliseconds: nothing to overlap.
MIN_SIZE = WHOLE_READ_LIMIT + 1
IN_FLIGHT = 8  # requests at once: the server flushes one batch while it receives the next
WAIT_S = 0.5  # the longest a block waits for room in flight before the sender gives up on its file
SETTLE_S = 5.0  # how long the end of a file waits for its last requests, so the executor does not send them again

Track = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]


class EarlySender:
    """One folder's early sends (see the module doc). Thread-safe: the hash pool's threads offer blocks at once."""

    def __init__(self, uploader: Uploader, cancel: threading.Event, *, track: Track | None = None,
                 min_size: int = MIN_SIZE, in_flight: int = IN_FLIGHT, wait_s: float = WAIT_S,
                 settle_s: float = SETTLE_S) -> None:
        self.uploader = uploader
        self.cancel = cancel  # set while the folder is paused or stopping
        self.track = track
        self.min_size = min_size
        self.wait_s = wait_s
        self.settle_s = settle_s
        self._slots = threading.BoundedSemaphore(in_flight)
        self._pool = ThreadPoolExecutor(in_flight, thread_name_prefix="ferry-early")
        self._closed = False

    def sink_for(self, path: str, size: int) -> FileSend | None:
        """A sink for `path`'s blocks as the indexer cuts them, or None when the file is too small to gain."""
        if size < self.min_size or self.cancel.is_set() or self._closed:
            return None
        return FileSend(self, path, size)

    def close(self) -> None:
        """No more sends: what is queued is dropped, what is in flight ends on its own."""
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)


class FileSend:
    """The early sends of one file (a chunker.ChunkSink)."""

    def __init__(self, owner: EarlySender, path: str, size: int) -> None:
        self.owner = owner
        self.path = path
        self._batch: list[tuple[str, bytes]] = []
        self._batch_bytes = 0
        self._futures: list[Future[None]] = []
        self._stopped: str | None = None  # why this file's early sends stopped
        self._stack = ExitStack()
        self._progress: Callable[[int], None] = lambda n: None
        if owner.track is not None:  # the user sees the upload move while the file is read
            self._progress = self._stack.enter_context(owner.track(path, size))

    @property
    def stopped(self) -> str | None:
        return self._stopped

    def offer(self, block_hash: str, data: bytes) -> None:
        if self._stopped is not None:
            return
        if self.owner.cancel.is_set() or self.owner._closed:
            self._stop("the folder is paused or stopping")
            return
        up = self.owner.uploader  # its batches: within the server's limits, as its own sends are
        if self._batch and (self._batch_bytes + len(data) > up.batch_bytes or len(self._batch) >= up.batch_blocks):
            self._submit()
            if self._stopped is not None:
                return
        self._batch.append((block_hash, data))
        self._batch_bytes += len(data)

    def close(self, whole: bool) -> None:
        try:
            if whole and self._stopped is None and self._batch:
                self._submit()
            self._batch = []
            if self._futures:  # so the upload's missing-call finds them stored, not in flight
                wait(self._futures, timeout=self.owner.settle_s)
        finally:
            self._stack.close()

    def _submit(self) -> None:
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        if not self.owner._slots.acquire(timeout=self.owner.wait_s):
            self._stop(f"sending did not keep up with reading ({self.owner.wait_s:g} s without room)")
            return
        try:
            self._futures.append(self.owner._pool.submit(self._send, batch))
        except RuntimeError:  # the pool was shut down: the folder is stopping
            self.owner._slots.release()
            self._stop("the folder is stopping")

    def _send(self, batch: list[tuple[str, bytes]]) -> None:
        try:
            if self._stopped is not None or self.owner.cancel.is_set():
                return
            up = self.owner.uploader
            lacking = set(up.client.missing(h for h, _ in batch))
            blocks = [(h, data) for h, data in batch if h in lacking]
            if blocks:
                up.send_blocks(blocks)
            self._progress(sum(len(d) for _, d in batch))
        except RemoteError as exc:  # the executor's upload sends these blocks, and says why if it fails too
            self._stop(f"a request failed: {exc}")
        except Exception:  # a bug of ours: the upload goes the usual way all the same
            log.exception("%s: sending blocks early failed", self.path)
            self._stop("an unexpected error")
        finally:
            self.owner._slots.release()

    def _stop(self, why: str) -> None:
        if self._stopped is None:
            self._stopped = why
            log.debug("%s: early sending stopped: %s; the rest goes with its upload", self.path, why)
