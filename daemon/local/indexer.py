"""The local indexer: drains ready dirty paths into the local tree and reports which paths changed.

For each ready path: lstat it; a file whose stat key (size, mtime, inode, executable) still matches its row is left
alone; a file that appears with the inode, size and mtime of a known row (a move, a hard link) inherits that row's
digest without being read; any other file is hashed once in the pool. A directory that is new or has a new inode
(moved in from elsewhere) has its subtree scanned, because inotify reports only the directory itself. Paths that are
gone are deleted from the local tree (with their subtree) only after the root's marker is checked, so an unmounted
disk records nothing. All rows of a batch are written in one transaction together with the queue acks: a kill at
any point either keeps the whole batch queued or records it completely.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ferrysync.daemon.journal import DirtyPath, Journal, StatKey
from ferrysync.daemon.local.chunker import ChunkSink
from ferrysync.daemon.local.engine_writes import EngineWrites
from ferrysync.daemon.local.hasher import HashPool
from ferrysync.daemon.local.ignore import BUILTIN_ONLY, IgnoreRules
from ferrysync.daemon.local.marker import check_marker
from ferrysync.daemon.local.ondisk import disk_path
from ferrysync.daemon.local.scanner import DiskEntry, stat_entry, unchanged, walk
from ferrysync.daemon.model import Chunk, Kind, LocalEntry

log = logging.getLogger(__name__)

BATCH = 2000
DEFER_S = 0.25  # the least a path the engine is writing waits before it is looked at again (engine_writes.py)
VANISHED_KEEP = 100_000
# File systems stamp mtimes from a coarse clock (a jiffy on Linux, ~16 ms on Windows): two writes of the same size
# inside one tick leave the same stat. A digest of a file modified this recently is recorded, but the file is read
# again once its mtime is older than this, whatever its stat says ("racily clean", as git calls it).
RACY_NS = 100_000_000


@dataclass
class IndexResult:
    changed: list[str] = field(default_factory=list)  # paths whose local row was written or deleted
    requeued: list[str] = field(default_factory=list)  # changed while being read: queued again for later
    errors: dict[str, str] = field(default_factory=dict)  # unreadable: recorded in the journal's backoff table
    hashed: int = 0  # files actually read


@dataclass
class _Batch:
    rows: dict[str, LocalEntry]  # local rows of the batch's paths, read once
    puts: list[tuple[LocalEntry, list[Chunk] | None]] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    to_hash: list[DiskEntry] = field(default_factory=list)
    scan_marks: list[str] = field(default_factory=list)
    requeue: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)  # being written by the engine: see engine_writes.py
    racy: list[tuple[str, float]] = field(default_factory=list)  # (path, when to look again): see RACY_NS
    handled: set[str] = field(default_factory=set)  # covered by a subtree scan in this batch


class LocalIndexer:
    """Turns the folder's dirty queue into local-tree rows. Thread-safe: one `run_once` at a time."""

    def __init__(
        self,
        journal: Journal,
        folder_id: str,
        root: Path,
        pool: HashPool,
        *,
        rules: Callable[[], IgnoreRules] = lambda: BUILTIN_ONLY,
        quiet_period: float = 1.0,
        clock: Callable[[], float] = time.time,
        engine_writes: EngineWrites | None = None,
        sink_for: Callable[[str, int], ChunkSink | None] = lambda path, size: None,
        sinks_done: Callable[[], None] = lambda: None,
    ) -> None:
        self.journal = journal
        self.engine_writes = engine_writes if engine_writes is not None else EngineWrites()
        # who takes a file's blocks as they are cut, by its path and size (transfer/early.py: sent while read)
        self.sink_for = sink_for
        # called once a batch is hashed, before it is recorded: the sinks finish what they hold (transfer/early.py)
        self.sinks_done = sinks_done
        self.folder_id = folder_id
        self.root = root
        self.pool = pool
        self.rules = rules
        self.quiet_period = quiet_period
        self.clock = clock
        self._lock = threading.Lock()
        # Files hashed within their mtime's clock tick (see RACY_NS): read again at their next look. In memory
        # only: a restart within that tenth of a second is the one window left.
        self._racy: set[str] = set()
        # inode -> (row, chunks) of files that vanished lately: their new path may be indexed in a later batch
        self._vanished: OrderedDict[int, tuple[LocalEntry, list[Chunk]]] = OrderedDict()

    def run_once(self, limit: int = BATCH, on_taken: Callable[[], None] = lambda: None) -> IndexResult:
        """Index up to `limit` ready paths. Raises marker.RootUnavailable (recording nothing) if the root is gone.

        `on_taken` is called once there are paths to index, before any leaves the dirty queue: the caller marks
        itself busy there, so a look at its work never finds a path in neither place (and an idle look, which
        takes nothing, never flickers busy)."""
        with self._lock:
            items = self.journal.ready_dirty(self.clock(), limit, self.folder_id)
            if not items:
                return IndexResult()
            on_taken()
            return self._index(items)

    def settled(self, paths: Sequence[str]) -> list[str]:
        """Of `paths` the watcher just heard of, those the local tree already describes as they are on disk.

        Such an event is the echo of a change already recorded: the engine's own download or deletion, reported
        after the engine recorded it (watchdog holds a move out of the folder back for half a second, to pair
        it with a move in). Queued, it would index nothing, and the folder would say "Syncing" after `ferry
        wait` had said everything is synced. The judgement is the one a look makes (`_index`, `_describes`): gone
        with no row, or a file or link its row describes.

        A path the engine is writing is named too, whatever is on disk: the engine makes every path of a batch
        ready itself once it is done with it (`SmallDownloads`: in the transaction of its record, or at its
        release), so that look also sees any save the user made before it. Queued here as well, each downloaded
        file's row in the dirty queue was written twice more (the watcher's mark, then the indexer deferring it:
        engine_writes.py)."""
        writing = self.engine_writes.among(paths)
        paths = [p for p in paths if p not in writing] if writing else paths
        try:
            rows = self.journal.get_locals(self.folder_id, paths)
        except Exception:  # the events are then queued, as they would have been
            log.exception("%s: looking up the rows of %d changed paths failed", self.folder_id, len(paths))
            return list(writing)
        out = list(writing)
        for path in paths:
            try:
                disk = stat_entry(self.root, path)
            except OSError:
                continue
            row = rows.get(path)
            if (disk is None and row is None) or (disk is not None and self._describes(row, disk)):
                out.append(path)
        return out

    def drain(self, max_rounds: int = 1_000_000) -> IndexResult:
        """Run until no path is ready now (paths still in their quiet period stay queued)."""
        total = IndexResult()
        for _ in range(max_rounds):
            r = self.run_once()
            if not (r.changed or r.requeued or r.errors or r.hashed) and not self.journal.ready_dirty(
                self.clock(), 1, self.folder_id
            ):
                break
            total.changed += r.changed
            total.requeued += r.requeued
            total.errors.update(r.errors)
            total.hashed += r.hashed
        return total

    # -- one batch -----------------------------------------------------------------------------------------------

    def _index(self, items: list[DirtyPath]) -> IndexResult:
        rules = self.rules()
        rows = self.journal.get_locals(self.folder_id, (i.path for i in items))
        b = _Batch(rows=rows)
        result = IndexResult()
        for item in items:
            path = item.path
            if not path or path in b.handled or (rules.is_ignored(path, False) and rules.is_ignored(path, True)):
                continue  # ignored paths keep whatever row they had: never synced, never deleted
            if path in self.engine_writes:
                b.deferred.append(path)  # the engine records it in a moment, then makes it ready again
                continue
            try:
                disk = stat_entry(self.root, path)
            except OSError as exc:
                result.errors[path] = exc.strerror or str(exc)
                continue
            if disk is None:
                b.gone.append(path)
            elif not rules.is_ignored(path, disk.kind == Kind.DIR):
                self._present(disk, b, rules)
        self._hash(b, result)
        if b.gone:
            check_marker(self.root, self.folder_id)  # raises: nothing of this batch is recorded or acked
        self._commit(items, b, result)
        return result

    def _commit(self, items: list[DirtyPath], b: _Batch, result: IndexResult) -> None:
        now = self.clock()
        failures = self.journal.list_failures(self.folder_id)
        writes = [(e, c) for e, c in b.puts if b.rows.get(e.path) != e]
        # A path looked at without error no longer fails: at once if the look found it changed (the user fixed
        # it, or a failed action had left something there), else once its backoff has run out. A look that finds
        # nothing new (the executor asking about what its failed action left) leaves the failure, its backoff and
        # the error shown alone. And whether its row changed or not: a file that turned into a folder while it was
        # hashed failed once, and the folder's row may be unchanged.
        changed = {e.path for e, _ in writes}.union(b.gone)
        failing = {f.path for f in failures if f.next_try <= now or f.path in changed}
        with self.journal.transaction():
            for entry, _ in writes:
                old = b.rows.get(entry.path)
                if old is not None and old.kind == Kind.DIR and entry.kind != Kind.DIR:
                    result.changed += self.journal.delete_subtree(self.folder_id, "local", entry.path)
            self.journal.put_locals(self.folder_id, writes)
            result.changed += [e.path for e, _ in writes]
            for path in b.gone:
                self._remember_vanished(path)
                result.changed += self.journal.delete_subtree(self.folder_id, "local", path)
            looked_at = {i.path for i in items}.union(e.path for e, _ in b.puts).union(b.gone)
            for path in failing.intersection(looked_at).difference(result.errors, b.requeue, b.deferred):
                self.journal.clear_failure(self.folder_id, path)
            retry = [self.journal.record_failure(self.folder_id, p, m, now) for p, m in result.errors.items()]
            self.journal.ack_dirty(items)
            # after the ack: these must stay queued (a re-mark changes ready_at, which the ack compares)
            for f in retry:
                self.journal.mark_dirty(self.folder_id, [f.path], f.next_try)
            self.journal.mark_dirty(self.folder_id, b.scan_marks, now, rearm=False)
            self.journal.mark_dirty(self.folder_id, b.requeue, now + self.quiet_period)
            # Not before the engine releases it (rearm: a release that came meanwhile was not acked, its
            # time changed, and waits this long); never at once, or a zero quiet period would spin on it.
            self.journal.mark_dirty(self.folder_id, b.deferred, now + max(self.quiet_period, DEFER_S))
            for path, when in b.racy:
                self.journal.mark_dirty(self.folder_id, [path], when)
        result.requeued = b.requeue
        if log.isEnabledFor(logging.DEBUG) and (writes or b.gone):
            log.debug("%s: indexed %d changed, %d gone (e.g. %s)", self.folder_id, len(writes), len(b.gone),
                      [e.path for e, _ in writes[:3]] + b.gone[:3])
        result.changed = sorted(set(result.changed))

    def _present(self, disk: DiskEntry, b: _Batch, rules: IgnoreRules) -> None:
        row = b.rows.get(disk.path)
        if self._describes(row, disk):
            return
        if disk.path in self._racy and disk.kind == Kind.FILE:
            b.to_hash.append(disk)  # recorded within its mtime's tick: read it again (see RACY_NS)
            return
        if disk.kind == Kind.DIR:
            # A folder's own event means it came, went or moved in (changes inside it have events of their own):
            # its content is looked at even when its row seems unchanged, because a freed inode number is handed
            # out again at once — a folder deleted and another moved in at its place can carry the same inode.
            if not unchanged(None if row is None else stat_key(row), disk):
                b.puts.append((disk.to_local(), None))
            self._scan_subtree(disk.path, b, rules)
            return
        if disk.kind == Kind.SYMLINK:
            b.puts.append((disk.to_local(), None))
        elif not self._reuse(disk, b):
            b.to_hash.append(disk)

    def _describes(self, row: LocalEntry | None, disk: DiskEntry) -> bool:
        """Whether a look at `disk` has nothing to do: its row describes it. Never a folder (its content is looked
        at whatever its row says) nor a file hashed within its mtime's tick (read again, see RACY_NS)."""
        if disk.kind == Kind.DIR or (disk.kind == Kind.FILE and disk.path in self._racy):
            return False
        return unchanged(None if row is None else stat_key(row), disk)

    def _reuse(self, disk: DiskEntry, b: _Batch) -> bool:
        """A file with the inode, size and mtime of a known row is that file moved (or a hard link to it)."""
        candidates: list[tuple[LocalEntry, list[Chunk] | None]] = [
            (c, None) for c in self.journal.find_local_by_inode(self.folder_id, disk.inode)
        ]
        if disk.inode in self._vanished:
            candidates.append(self._vanished[disk.inode])
        for cand, chunks in candidates:
            if (
                cand.kind == Kind.FILE
                and cand.content_hash is not None
                and cand.size == disk.size
                and cand.mtime_ns == disk.mtime_ns
            ):
                entry = LocalEntry(
                    disk.path,
                    Kind.FILE,
                    disk.size,
                    disk.mtime_ns,
                    disk.inode,
                    disk.executable,
                    cand.content_hash,
                    cand.blocks,
                )
                if chunks is None:
                    chunks = self.journal.local_chunks(self.folder_id, cand.path)
                b.puts.append((entry, chunks))
                return True
        return False

    def _remember_vanished(self, path: str) -> None:
        for row in self.journal.iter_tree(self.folder_id, "local", path):
            if isinstance(row, LocalEntry) and row.kind == Kind.FILE and row.content_hash is not None:
                self._vanished[row.inode] = (row, self.journal.local_chunks(self.folder_id, row.path))
                self._vanished.move_to_end(row.inode)
        while len(self._vanished) > VANISHED_KEEP:
            self._vanished.popitem(last=False)

    def _scan_subtree(self, prefix: str, b: _Batch, rules: IgnoreRules) -> None:
        """A directory moved or created in one go: inotify said nothing about its contents."""
        known = self.journal.local_stats(self.folder_id, prefix)
        known.pop(prefix, None)
        for disk in walk(self.root, rules, prefix):
            b.handled.add(disk.path)
            if unchanged(known.pop(disk.path, None), disk):
                continue
            if disk.kind != Kind.FILE:
                b.puts.append((disk.to_local(), None))
            elif len(b.to_hash) >= BATCH:
                b.scan_marks.append(disk.path)  # bounded work per batch: later batches take the rest
            elif not self._reuse(disk, b):
                b.to_hash.append(disk)
        # rows under it that are no longer on disk (deleted after the marker check; ignored rows stay)
        b.gone.extend(p for p, k in known.items() if not rules.is_ignored(p, k.kind == Kind.DIR))

    def _hash(self, b: _Batch, result: IndexResult) -> None:
        by_path = {disk_path(self.root, d.path): d for d in b.to_hash}  # read under its on-disk spelling
        for r in self.pool.hash_many(by_path, lambda p: self.sink_for(by_path[p].path, by_path[p].size),
                                     lambda p: by_path[p].size):
            disk = by_path[r.path]
            if r.changed:
                b.requeue.append(disk.path)
                continue
            if r.error is not None or r.digest is None:
                if isinstance(r.error, FileNotFoundError | NotADirectoryError):
                    b.gone.append(disk.path)
                else:
                    result.errors[disk.path] = (r.error.strerror if r.error else None) or str(r.error)
                continue
            result.hashed += 1
            after = stat_entry(self.root, disk.path)
            if after is None or not unchanged(after.key(True), disk):
                b.requeue.append(disk.path)  # replaced or touched between our stat and the read
                continue
            now_ns = int(self.clock() * 1e9)
            if now_ns - RACY_NS < after.mtime_ns <= now_ns + RACY_NS:
                b.racy.append((disk.path, (after.mtime_ns + RACY_NS) / 1e9))  # see RACY_NS
                self._racy.add(disk.path)
            else:
                self._racy.discard(disk.path)
            d = r.digest
            entry = LocalEntry(
                disk.path, Kind.FILE, d.size, disk.mtime_ns, disk.inode, disk.executable, d.content_hash, d.block_hashes
            )
            b.puts.append((entry, list(d.chunks)))
        if b.to_hash:
            self.sinks_done()


def stat_key(row: LocalEntry) -> StatKey:
    """What of a local row the disk is compared with (`scanner.unchanged`)."""
    return StatKey(
        row.kind, row.size, row.mtime_ns, row.inode, row.executable, row.content_hash is not None, row.link_target
    )
