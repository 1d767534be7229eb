"""Sending files' blocks while the indexer reads them, so each file is read once and its upload overlaps its hashing
instead of following it.

Why: a first upload was two phases, one after the other. The indexer read, cut and hashed the files (a 1 GiB file:
0.7 s on this project's 2-core machine), and only then did the executor read them again and send what the server
lacked (3.1 s: the server's verify, write and flush set the pace). Blocks are named by their content, and a block
stored without a commit changes nothing anyone sees: the server keeps it through its garbage-collection grace
(hours) and drops it after unless a commit names it. So the indexer may hand each block to this sender
(chunker.ChunkSink), and when the executor uploads the file, its missing-call finds the blocks stored: the commit
follows the hashing.

Two kinds of files gain. A big one (`FileSend`, from `MIN_SIZE`): each block as it is cut, while the file is read.
A small one (`SmallSends`, one block, read whole on the indexer's thread in microseconds): its block joins those
of the other small files of the indexer's batch, sent in the uploader's batches as they fill, the rest when the
batch is hashed (`EarlySender.flush`, before the indexer records it), and the executor reads none of them again.
10,000 files of 4 KiB up, three alternating pairs: the daemon's CPU 3.95 -> 3.27 s, the time 5.18 -> 4.44 s (means;
`python bench/sync_bench.py --only small`, whose time swings more, six pairs: 4.79 -> 4.61 s). Files in between
are read whole and hashed in milliseconds, then uploaded as before.

What it never does: commit, change a tree, or decide what syncs; the executor's upload is unchanged and still sends
whatever is missing. A block is sent only after a missing-call says the server lacks it, in the uploader's batches
and through its bandwidth throttle, and counted in its statistics. It gives up (the rest goes the usual way, after
the hashing) at the first sign that overlapping does not pay or is not wanted: the folder paused or stopping, any
failed request, or no room among the requests in flight within `WAIT_S` (a slow link, where hashing first costs
nothing next to sending): on a big file for the rest of that file, on small files until the indexer's next batch.
Its back-pressure holds the indexer at the pace of sending only while sending keeps up. The engine makes no sender
for an encrypted folder: its blocks are encrypted by its own uploader.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, ExitStack

from ferrysync.daemon.local.chunker import WHOLE_READ_LIMIT
from ferrysync.daemon.local.hasher import SMALL_FILE
from ferrysync.daemon.local.names import check_server_path
from ferrysync.daemon.remote import RemoteError
from ferrysync.daemon.transfer.upload import Uploader

log = logging.getLogger(__name__)

# Big files: those the chunker streams. One between a block and this is read whole and hashed in milliseconds.
MIN_SIZE = WHOLE_READ_LIMIT + 1
IN_FLIGHT = 8  # requests at once: the server flushes one batch while it receives the next
WAIT_S = 0.5  # the longest a block waits for room in flight before the sender gives up on its file
SETTLE_S = 5.0  # how long the end of a file or batch waits for its last requests, so the executor does not resend them

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
        self.pool: Executor = ThreadPoolExecutor(in_flight, thread_name_prefix="ferry-early")  # who runs the sends
        self._closed = False
        self._small = SmallSends(self)

    def sink_for(self, path: str, size: int) -> FileSend | SmallSends | None:
        """A sink for `path`'s blocks as the indexer reads them, or None when early sends would not gain: a small
        file's one block joins the blocks of the other small files read in the same batch (`SmallSends`). A big
        file under a name the server refuses gets none (a small one's block is not worth the check a file)."""
        if self.cancel.is_set() or self._closed:
            return None
        if size <= SMALL_FILE:
            return self._small
        if size < self.min_size:
            return None
        if check_server_path(path) is not None:
            return None  # the planner keeps it local (`Skip`): its blocks would go up for nothing, on every change
        return FileSend(self, path, size)

    def flush(self) -> None:
        """The indexer hashed a batch and records it next: the small files' blocks go now, and are stored (or
        given up on) before it records them, so the upload's missing-call finds them stored."""
        self._small.flush()

    def close(self) -> None:
        """No more sends: what is queued is dropped, what is in flight ends on its own."""
        self._closed = True
        self.pool.shutdown(wait=False, cancel_futures=True)


class _Sends:
    """What both kinds of early sends share: a batch goes to the owner's pool when there is room in flight, is
    asked about and sent there, and the first failure stops what follows (`stopped` says why)."""

    def __init__(self, owner: EarlySender, label: str) -> None:
        self.owner = owner
        self.label = label  # who they are, in the log
        self._lock = threading.Lock()
        self._futures: list[Future[None]] = []
        self._stopped: str | None = None

    @property
    def stopped(self) -> str | None:
        return self._stopped

    def _paused(self) -> bool:
        if self.owner.cancel.is_set() or self.owner._closed:
            self._stop("the folder is paused or stopping")
        return self._stopped is not None

    def _full(self, batch_bytes: int, batch_blocks: int, more: int) -> bool:
        """Whether a batch this big takes no block of `more` bytes: the uploader's batches, within the server's
        limits as its own sends are."""
        up = self.owner.uploader
        return batch_blocks > 0 and (batch_bytes + more > up.batch_bytes or batch_blocks >= up.batch_blocks)

    def _submit(self, batch: list[tuple[str, bytes]]) -> None:
        if not self.owner._slots.acquire(timeout=self.owner.wait_s):
            self._stop(f"sending did not keep up with reading ({self.owner.wait_s:g} s without room)")
            return
        try:
            future = self.owner.pool.submit(self._send, batch)
        except RuntimeError:  # the pool was shut down: the folder is stopping
            self.owner._slots.release()
            self._stop("the folder is stopping")
            return
        with self._lock:
            self._futures.append(future)

    def _settle(self) -> None:
        """Wait (a while) for what is in flight, so the upload's missing-call finds it stored, not in flight."""
        with self._lock:
            futures, self._futures = self._futures, []
        if futures:
            wait(futures, timeout=self.owner.settle_s)

    def _send(self, batch: list[tuple[str, bytes]]) -> None:
        try:
            if self._stopped is not None or self.owner.cancel.is_set():
                return
            up = self.owner.uploader
            lacking = set(up.client.missing(h for h, _ in batch))
            blocks = [(h, data) for h, data in batch if h in lacking]
            if blocks:
                up.send_blocks(blocks)
            self._sent(sum(len(d) for _, d in batch))
        except RemoteError as exc:  # the executor's upload sends these blocks, and says why if it fails too
            self._stop(f"a request failed: {exc}")
        except Exception:  # a bug of ours: the upload goes the usual way all the same
            log.exception("%s: sending blocks early failed", self.label)
            self._stop("an unexpected error")
        finally:
            self.owner._slots.release()

    def _sent(self, nbytes: int) -> None:
        """A batch of `nbytes` is on the server."""

    def _stop(self, why: str) -> None:
        if self._stopped is None:
            self._stopped = why
            log.debug("%s: early sending stopped: %s; the rest goes with the upload", self.label, why)


class FileSend(_Sends):
    """The early sends of one big file (a chunker.ChunkSink)."""

    def __init__(self, owner: EarlySender, path: str, size: int) -> None:
        super().__init__(owner, path)
        self._batch: list[tuple[str, bytes]] = []
        self._batch_bytes = 0
        self._stack = ExitStack()
        self._progress: Callable[[int], None] = lambda n: None
        if owner.track is not None:  # the user sees the upload move while the file is read
            self._progress = self._stack.enter_context(owner.track(path, size))

    def offer(self, block_hash: str, data: bytes) -> None:
        if self._paused():
            return
        if self._full(self._batch_bytes, len(self._batch), len(data)):
            self._take_batch()
            if self._stopped is not None:
                return
        self._batch.append((block_hash, data))
        self._batch_bytes += len(data)

    def close(self, whole: bool) -> None:
        try:
            if whole and self._stopped is None and self._batch:
                self._take_batch()
            self._batch = []
            self._settle()
        finally:
            self._stack.close()

    def _take_batch(self) -> None:
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        self._submit(batch)

    def _sent(self, nbytes: int) -> None:
        self._progress(nbytes)


class SmallSends(_Sends):
    """The blocks of small files, sent in the uploader's batches across files (one shared chunker.ChunkSink).

    A small file is read whole and hashed in microseconds, so its block is not sent while it is read but with the
    blocks of the files read after it: a batch goes when it is full, and the rest when the indexer has hashed its
    batch (`EarlySender.flush`). The executor's upload then reads none of these files again. A failure stops the
    sends until the indexer's next batch. Thread-safe: the hash pool's threads may offer blocks at once."""

    def __init__(self, owner: EarlySender) -> None:
        super().__init__(owner, "small files")
        self._batch: dict[str, bytes] = {}
        self._batch_bytes = 0

    def offer(self, block_hash: str, data: bytes) -> None:
        if self._paused():
            return
        full: dict[str, bytes] = {}
        with self._lock:
            if block_hash in self._batch:
                return
            if self._full(self._batch_bytes, len(self._batch), len(data)):
                full, self._batch, self._batch_bytes = self._batch, {}, 0
            self._batch[block_hash] = data
            self._batch_bytes += len(data)
        if full:
            self._submit(list(full.items()))

    def close(self, whole: bool) -> None:
        """One file's read ended: its block waits in the batch (see the class doc)."""

    def flush(self) -> None:
        with self._lock:
            batch, self._batch, self._batch_bytes = self._batch, {}, 0
        if batch and not self._paused():
            self._submit(list(batch.items()))
        self._settle()
        self._stopped = None  # the next batch tries again
