"""Upload local files' blocks so that their commit ops can succeed: only what the server lacks is sent.

The server is asked which blocks it is missing (shared across all files of one call), so a renamed file
or a second copy costs no upload, a one-byte edit in a big file costs about one block, and a crash
mid-upload resumes where it stopped. Blocks travel packed in batch requests (≤ 256 blocks, ≤ 8 MiB: what makes
10,000 small files fast, and a big file's 1.25 MiB chunks six or so to a request, so the server makes them durable
with one flush and records them in one transaction per request instead of per block: 1 GiB up went from 101-123 to
163-194 MB/s on this project's 2-core machine); up to 8 requests in flight (the server flushes one batch while it
receives the next). Each missing block is read from the file once, just before it leaves, hashed, checked against
the digest the local tree recorded, and sent from that same buffer: a file that changed since it was hashed fails
alone with FileChangedWhileReading and gets no commit op (nor does one whose size or mtime moved by the end).
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from ferrysync.daemon.local import fsio
from ferrysync.daemon.local.chunker import FileChangedWhileReading, FileDigest, block_hash, hash_file
from ferrysync.daemon.model import Chunk
from ferrysync.daemon.remote.client import RemoteClient
from ferrysync.daemon.remote.limits import MAX_BATCH_BODY, MAX_BLOCK
from ferrysync.daemon.remote.types import PutOp
from ferrysync.daemon.transfer.bandwidth import TokenBucket
from ferrysync.daemon.transfer.errors import TransferCancelled

BATCH_BYTES = 8 * 1024 * 1024
BATCH_BLOCKS = 256
SMALL_BLOCK = MAX_BLOCK  # blocks up to this size travel in batches (by default every block); a bigger one by PUT
PARALLEL = 8  # requests in flight: enough to keep the server flushing one batch while receiving the next ones

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class UploadItem:
    """One local file to upload. `digest`, `mtime_ns` and `executable` default to what the disk says now;
    when given (from the local tree), a file whose mtime or size no longer matches fails as changed."""

    local_path: str | os.PathLike[str]
    remote_path: str
    base_rev: int | None
    digest: FileDigest | None = None
    mtime_ns: int | None = None
    executable: bool | None = None


@dataclass(frozen=True, slots=True)
class UploadOutcome:
    item: UploadItem
    op: PutOp | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.op is not None


@dataclass
class UploadStats:
    """Counters over an Uploader's life (what was actually sent, what dedup saved)."""

    blocks_sent: int = 0
    bytes_sent: int = 0
    blocks_skipped: int = 0
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, blocks: int, nbytes: int) -> None:
        with self._lock:
            self.blocks_sent += blocks
            self.bytes_sent += nbytes
            self.requests += 1


@dataclass
class _Prepared:
    item: UploadItem
    digest: FileDigest
    mtime_ns: int
    size: int
    executable: bool
    error: Exception | None = None


class Uploader:
    """Sends blocks for many files through one RemoteClient. Thread-safe; shares `throttle` if given."""

    def __init__(self, client: RemoteClient, *, throttle: TokenBucket | None = None, parallel: int = PARALLEL,
                 batch_bytes: int = BATCH_BYTES, batch_blocks: int = BATCH_BLOCKS,
                 small_block: int = SMALL_BLOCK) -> None:
        self.client = client
        self.throttle = throttle
        self.parallel = max(1, parallel)
        self.batch_blocks = max(1, batch_blocks)
        self.batch_bytes = min(batch_bytes, MAX_BATCH_BODY - 72 * self.batch_blocks)  # 72 = record header
        self.small_block = min(small_block, MAX_BLOCK)
        self.stats = UploadStats()

    def upload_file(self, local_path: str | os.PathLike[str], remote_path: str, *, base_rev: int | None,
                    digest: FileDigest | None = None, mtime_ns: int | None = None,
                    executable: bool | None = None, progress: Progress | None = None,
                    cancel: threading.Event | None = None) -> PutOp:
        """Upload one file; return its put op for the caller to commit. Raises FileChangedWhileReading,
        OSError (file gone/unreadable), TransferCancelled or a RemoteError."""
        item = UploadItem(local_path, remote_path, base_rev, digest, mtime_ns, executable)
        outcome = self.upload_many([item], progress=progress, cancel=cancel)[0]
        if outcome.op is None:
            assert outcome.error is not None
            raise outcome.error
        return outcome.op

    def upload_many(self, items: Sequence[UploadItem], *, progress: Progress | None = None,
                    cancel: threading.Event | None = None) -> list[UploadOutcome]:
        """Upload many files with shared missing-calls and batch requests. A file that vanished or changed
        fails alone (its outcome carries the error); network errors and cancellation raise for the call."""
        prepared = [self._prepare(item) for item in items]
        sources: dict[str, list[tuple[_Prepared, Chunk]]] = {}
        for p in prepared:
            if p.error is None:
                for c in p.digest.chunks:
                    sources.setdefault(c.hash, []).append((p, c))
        missing = set(self.client.missing(sources)) if sources else set()
        self.stats.blocks_skipped += len(sources) - len(missing)
        self._send(missing, sources, progress, cancel)
        return [self._finish(p) for p in prepared]

    # -- steps ------------------------------------------------------------------------------------------

    def _prepare(self, item: UploadItem) -> _Prepared:
        empty = FileDigest("", (), 0)
        try:
            st = fsio.stat(item.local_path)
            if not stat.S_ISREG(st.st_mode):
                raise IsADirectoryError(f"not a regular file: {item.local_path}")
            if item.mtime_ns is not None and item.mtime_ns != st.st_mtime_ns:
                raise FileChangedWhileReading(str(item.local_path))
            digest = item.digest or hash_file(item.local_path)
            if digest.size != st.st_size:
                raise FileChangedWhileReading(str(item.local_path))
        except (OSError, FileChangedWhileReading) as exc:
            return _Prepared(item, empty, 0, 0, False, error=exc)
        executable = item.executable if item.executable is not None else bool(st.st_mode & stat.S_IXUSR)
        return _Prepared(item, digest, st.st_mtime_ns, st.st_size, executable)

    def _finish(self, p: _Prepared) -> UploadOutcome:
        if p.error is None:
            try:
                st = fsio.stat(p.item.local_path)
                if (st.st_size, st.st_mtime_ns) != (p.size, p.mtime_ns):
                    p.error = FileChangedWhileReading(str(p.item.local_path))
            except OSError as exc:
                p.error = exc
        if p.error is not None:
            return UploadOutcome(p.item, error=p.error)
        op = PutOp(path=p.item.remote_path, blocks=p.digest.block_hashes, size=p.digest.size,
                   mtime_ns=p.mtime_ns, executable=p.executable, base_rev=p.item.base_rev)
        return UploadOutcome(p.item, op=op)

    def _plan(self, missing: set[str], sources: dict[str, list[tuple[_Prepared, Chunk]]]) -> list[list[str]]:
        """Group missing blocks into requests: batches, and a block bigger than `small_block` alone."""
        jobs: list[list[str]] = []
        batch: list[str] = []
        batch_size = 0
        for h in sources:  # insertion order: file order, then block order
            if h not in missing:
                continue
            length = sources[h][0][1].length
            if length > self.small_block:
                jobs.append([h])
                continue
            if batch and (batch_size + length > self.batch_bytes or len(batch) >= self.batch_blocks):
                jobs.append(batch)
                batch, batch_size = [], 0
            batch.append(h)
            batch_size += length
        if batch:
            jobs.append(batch)
        return jobs

    def _read(self, h: str, sources: dict[str, list[tuple[_Prepared, Chunk]]]) -> bytes | None:
        """The block's bytes from the first file that still holds them; files that do not are failed."""
        for p, c in sources[h]:
            if p.error is not None:
                continue
            try:
                with fsio.open_file(p.item.local_path, "rb", buffering=0) as f:  # pread: no buffer to set up
                    data = fsio.pread(f, c.length, c.offset, p.item.local_path)
            except OSError as exc:
                p.error = exc
                continue
            if len(data) == c.length and block_hash(data) == h:
                return data
            p.error = FileChangedWhileReading(str(p.item.local_path))
        return None

    def send_blocks(self, blocks: list[tuple[str, bytes]]) -> int:
        """Post blocks already read (a batch, or a block bigger than `small_block` alone), through the throttle,
        counted in the statistics; the bytes sent. Also the early sender's way up (transfer/early.py)."""
        if len(blocks) == 1 and len(blocks[0][1]) > self.small_block:
            self.client.put_block(blocks[0][0], blocks[0][1], throttle=self.throttle)
        else:
            self.client.put_blocks_batch(blocks, throttle=self.throttle)
        nbytes = sum(len(d) for _, d in blocks)
        self.stats.add(len(blocks), nbytes)
        return nbytes

    def _run_job(self, job: list[str], sources: dict[str, list[tuple[_Prepared, Chunk]]]) -> int:
        blocks = [(h, data) for h in job if (data := self._read(h, sources)) is not None]
        return self.send_blocks(blocks) if blocks else 0

    def _send(self, missing: set[str], sources: dict[str, list[tuple[_Prepared, Chunk]]],
              progress: Progress | None, cancel: threading.Event | None) -> None:
        jobs = self._plan(missing, sources)
        if not jobs:
            return
        pending: set[Future[int]] = set()
        queue = iter(jobs)
        with ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="ferry-upload") as pool:
            try:
                while True:
                    while len(pending) < self.parallel and (job := next(queue, None)) is not None:
                        if cancel is not None and cancel.is_set():
                            raise TransferCancelled("upload paused or cancelled")
                        pending.add(pool.submit(self._run_job, job, sources))
                    if not pending:
                        return
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        sent = fut.result()
                        if progress is not None and sent:
                            progress(sent)
            finally:
                for fut in pending:
                    fut.cancel()

