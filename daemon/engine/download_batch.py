"""Downloading many small files at once: their blocks fetched many per request, their journal rows in one commit.

A small file costs one request of its own otherwise, and one request's handling (~ms) is most of what moving a
4 KiB file costs. So small files are grouped into batches bounded by bytes and blocks (within the server's
`max_fetch_bytes` and `max_hashes_per_fetch`), each batch's blocks come in one POST /v1/blocks/fetch (a few
batches in flight while earlier ones land), and each file then lands as a single download does (guarded, written to
a temp, verified, swapped only if the target is still what the engine last saw), in three rounds over the batch:
every file written to its temp, then ONE flush making all those temps durable (`fsio.sync_files`: a syncfs on
Linux, where an fsync each cost a journal commit each), then every temp renamed into place. A new file's temp is
an unnamed file where the OS has them (Linux `O_TMPFILE`, `fsio.Unnamed`), linked at its name instead of renamed:
one file event instead of six for the watcher to read and pair up (bench/README.md, `download`). What a batch
changes in the journal is written in ONE transaction after its folders are fsynced: a crash before that commit
leaves files on disk the journal does not know yet, which the next scan finds identical to the server's and
records, never a row for bytes that are not durably there; a crash before the renames leaves only named temps,
removed at the next start (unnamed ones vanish with the process).
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from ferrysync.daemon.engine.landing import Landed, Staging, begin, finish, record_batch, stage
from ferrysync.daemon.engine.write_notes import LandingNotes
from ferrysync.daemon.local import fsio
from ferrysync.daemon.model import RemoteEntry
from ferrysync.daemon.planner import Action, Download
from ferrysync.daemon.remote import RemoteError, ServerUnavailable, Unauthorized

if TYPE_CHECKING:
    from ferrysync.daemon.engine.executor import BatchResult, Executor

log = logging.getLogger(__name__)
T = TypeVar("T")

MIB = 1024 * 1024
SMALL_FILE = 1 * MIB  # at most this big: fetched in batches; bigger files fetch their blocks in parallel instead
BATCH_BYTES = 4 * MIB  # ≤ the server's max_fetch_bytes; small enough that several batches overlap
BATCH_BLOCKS = 1024  # ≤ the server's max_hashes_per_fetch
IN_FLIGHT = 3  # batches being fetched while one lands
# RAMP: the first batch is 2**RAMP times smaller than a full one, each next one twice the one before. Nothing lands
# before the first batch is here, and the first IN_FLIGHT batches are asked for at once: three full ones took the
# server ~0.3 s to answer side by side, while the landing threads waited.
RAMP = 3
# LANDERS: a batch's files are written on as many threads as there are CPUs (at most `download_workers`). Landing a
# small file is Python and a few system calls (one flush a batch), and every call lets go of the GIL for the other
# lander to take. When the calls are cheap, the hand-overs cost more than the overlap gains; when making a file is
# costly inside the kernel (measured: this disk after mass deletions; NTFS and network file systems are known for
# it, not measured here), two threads keep both cores making files. 10,000 × 4 KiB to a fresh device on 2 cores
# (`python bench/download_bench.py small`, 2026-12-06, alternating pairs): one lander 11 % faster with cheap
# creates (seven pairs, means 4.46 against 5.02 s), 25 % slower with costly ones (three pairs, 6.66-8.18 against
# 5.14-5.98 s; the daemon's system CPU ~4 s), so two. (In 2026-12-03's code, with an fsync a file: 2 threads 9.4
# and 9.3 s, 4 threads 10.8 and 10.5 s, 1 thread 11.3 and 10.3 s.)


def is_small(remote: RemoteEntry) -> bool:
    return remote.size <= SMALL_FILE and len(remote.blocks) <= BATCH_BLOCKS


def batches(downloads: Sequence[Download]) -> list[list[Download]]:
    """Consecutive groups of at most BATCH_BYTES (by file size, which bounds its distinct blocks) and
    BATCH_BLOCKS blocks, the first ones smaller (see RAMP); a file is never split."""
    out: list[list[Download]] = []
    current: list[Download] = []
    size = count = 0
    for d in downloads:
        shift = max(0, RAMP - len(out))
        if current and (size + d.remote.size > BATCH_BYTES >> shift
                        or count + len(d.remote.blocks) > BATCH_BLOCKS >> shift):
            out.append(current)
            current, size, count = [], 0, 0
        current.append(d)
        size += d.remote.size
        count += len(d.remote.blocks)
    if current:
        out.append(current)
    return out


def _shares(items: Sequence[T], workers: int) -> list[list[T]]:
    """`items` dealt out to `workers` threads: a task a thread, not a task a file (a future, a lock and a queue
    entry each, on the coordinating thread: the stage tasks alone were ~7 % of the daemon's GIL samples)."""
    return [list(items[k::workers]) for k in range(min(workers, len(items)))]


def _settle(futures: list[Future[None]]) -> None:
    """Wait for every future; then raise the first one's error, if any."""
    errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error


def _raise(exc: BaseException) -> Callable[[Action, BatchResult], None]:
    def run(a: Action, r: BatchResult) -> None:
        raise exc
    return run


class SmallDownloads:
    """One run of the executor's small downloads (see the module doc)."""

    def __init__(self, executor: Executor) -> None:
        self.ex = executor
        self.ctx = executor.ctx

    def run(self, downloads: Sequence[Download], result: BatchResult) -> None:
        """Raises ServerUnavailable (the executor's Offline) or Unauthorized, after recording what landed.

        Pipelined: while one batch lands, the next ones are fetched. The batch before is recorded just before it
        lands, not while it lands: a record is thousands of SQLite steps, each handing the GIL to the landing
        threads and waiting to get it back, and each of their system calls the same the other way. Side by side,
        a 1,024-file record took 90-300 ms (25-40 ms alone) and slowed the landing beside it; in turn, 10,000 ×
        4 KiB to a fresh device took 5.27 s against 5.65 s (means of seven alternating pairs; the daemon's system
        CPU 2.21 s against 2.70 s)."""
        groups = batches(downloads)
        workers = max(1, min(self.ctx.download_workers, os.cpu_count() or 1))  # see LANDERS
        unrecorded: list[Landed] = []
        note: str | None = None  # the note of the batch whose files are `unrecorded` (write_notes.py)
        notes = self.ex.notes.landings
        writing = self.ctx.engine_writes  # a batch's paths, from its landing until its record (engine_writes.py)
        registered: list[list[str]] = []  # the paths of the batches landing or landed and not released yet
        recorded: set[str] = set()  # paths recorded, and let go of then (`_record`); `_release` takes the rest
        total = sum(d.remote.size for d in downloads)
        with ThreadPoolExecutor(IN_FLIGHT, thread_name_prefix="ferry-fetch") as fetchers, \
                ThreadPoolExecutor(workers, thread_name_prefix="ferry-dl") as landers, \
                self.ctx.tracker.transfer(f"{len(downloads)} files", "down", total) as progress:
            ahead: deque[Future[dict[str, bytes]]] = deque(
                fetchers.submit(self._prefetch, g) for g in groups[:IN_FLIGHT])
            try:
                for i, group in enumerate(groups):
                    fetched = ahead.popleft()
                    if i + IN_FLIGHT < len(groups):
                        ahead.append(fetchers.submit(self._prefetch, groups[i + IN_FLIGHT]))
                    if self.ctx.cancel.is_set():  # paused or stopping: the rest is planned again later
                        result.retry.update(d.path for g in groups[i:] for d in g)
                        return
                    blocks = fetched.result()
                    landed: list[Landed] = []
                    paths = [d.path for d in group]
                    writing.add(paths)
                    registered.append(paths)
                    staged: list[Staging] = []
                    if len(registered) > 1:  # the batch before, recorded before this one is written
                        if unrecorded:
                            self._record(unrecorded, note, result, recorded)
                            unrecorded = []  # (never recorded twice, whatever fails next)
                        self._release(registered.pop(0), recorded)
                    # noted before its first file reaches its name, so a landing never recorded is settled from
                    # what the indexer finds (write_notes.py)
                    note = notes.note(LandingNotes.files(group))
                    futures = [landers.submit(self._stage_some, part, blocks, result, progress, staged, landed)
                               for part in _shares(group, workers)]
                    unrecorded = landed
                    try:
                        _settle(futures)  # every file of the batch settles first
                    except BaseException:  # Offline or Unauthorized: the run stops (what landed is recorded)
                        for s in staged:
                            s.staged.discard()
                        raise
                    try:
                        self._make_durable(staged, result)
                        _settle([landers.submit(self._finish_some, part, result, landed)
                                 for part in _shares(staged, workers)])
                    finally:  # a file not landed by now lets go of its unnamed file (see Staged.release)
                        for s in staged:
                            s.staged.release()
            finally:
                for pending in ahead:
                    pending.cancel()
                try:
                    if unrecorded:
                        self._record(unrecorded, note, result, recorded)
                finally:
                    for paths in registered:
                        self._release(paths, recorded)

    def _release(self, paths: list[str], recorded: set[str]) -> None:
        """The engine is done with a batch (recorded, or failed where it failed): the indexer may look at its paths
        now, whenever the watcher or the indexer left them (engine_writes.py). The recorded ones were made ready in
        their record's transaction and let go of then (`_record`); this is the rest: files that failed, or landed
        and were not recorded, whose look must not wait for an event that came while they were being written."""
        rest = [p for p in paths if p not in recorded]
        if not rest:
            return
        self.ctx.engine_writes.discard(rest)
        self.ex.j.mark_dirty(self.ex.fid, rest, 0.0, rearm=False)
        self.ctx.wake_indexer()

    def _stage_some(self, part: list[Download], blocks: dict[str, bytes], result: BatchResult,
                    progress: Callable[[int], None], staged: list[Staging], landed: list[Landed]) -> None:
        for d in part:
            self._stage_one(d, blocks, result, progress, staged, landed)

    def _finish_some(self, part: list[Staging], result: BatchResult, landed: list[Landed]) -> None:
        for s in part:
            self._finish_one(s, result, landed)

    def _stage_one(self, d: Download, blocks: dict[str, bytes], result: BatchResult,
                   progress: Callable[[int], None], staged: list[Staging], landed: list[Landed]) -> None:
        def run(a: Action, r: BatchResult) -> None:
            early = begin(self.ex, d, fetched=True)
            if early is not None:
                landed.append(early)
            else:
                staged.append(stage(self.ex, d, progress, blocks))

        self.ex._guarded(d, result, run, settle=False, step="written")

    def _make_durable(self, staged: list[Staging], result: BatchResult) -> None:
        """One flush for all the batch's temps; if it fails, each file's download failed (retried later)."""
        try:
            fsio.sync_files([s.file for s in staged])
        except OSError as exc:
            for s in staged:
                s.staged.discard()
                self.ex._guarded(s.action, result, _raise(exc), settle=False)
            staged.clear()

    def _finish_one(self, s: Staging, result: BatchResult, landed: list[Landed]) -> None:
        self.ex._guarded(s.action, result, lambda a, r: landed.append(finish(self.ex, s, r)), settle=False)

    def _prefetch(self, group: list[Download]) -> dict[str, bytes]:
        """The group's blocks that are not on this disk already, in one request; {} lets each file fetch its own
        (and fail on its own: a block gone from the server, a refused answer)."""
        wanted: dict[str, None] = {}
        for d in group:
            exp = d.expect_local
            if exp is not None and exp.content_hash == d.remote.content_hash:
                continue  # only its executable bit changes
            wanted.update(dict.fromkeys(d.remote.blocks))
        hashes = [h for h in wanted if self.ctx.find_block(h) is None]
        if not hashes or self.ctx.cancel.is_set():
            return {}
        try:
            return self.ctx.downloader.prefetch(hashes)
        except (ServerUnavailable, Unauthorized):
            raise
        except RemoteError as exc:
            log.info("%s: fetching %d blocks at once failed (%s); fetching them file by file", self.ex.fid,
                     len(hashes), exc)
            return {}

    def _record(self, landed: list[Landed], note: str | None, result: BatchResult, recorded: set[str]) -> None:
        """Make the batch's renames durable, then record it in one transaction (which also makes each path ready
        for the indexer's look: `record_batch`); its paths are the engine's no longer (added to `recorded`)."""
        # sorted, not a set's order (which follows the paths' hashes): the same batch flushes its folders in the
        # same order in every run, so a schedule of the simulation replays exactly
        for folder in sorted({self.ex._abs(x.action.path).parent for x in landed}):
            fsio.fsync_dir(folder)  # the renames are durable before the journal says the files are there
        try:
            record_batch(self.ex, landed, note)
        except Exception:
            self.ex.notes.landings.missed()
            self.ex.held.hold(self.ex, landed)  # on disk all the same: recorded before the next plan
            raise
        paths = [x.action.path for x in landed]
        recorded.update(paths)
        self.ctx.engine_writes.discard(paths)
        for x in landed:
            result.done += 1
            result.replan.add(x.action.path)
        self.ctx.wake_indexer()
