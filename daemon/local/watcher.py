"""Local change detection for one sync folder: native events, safety-net rescans, and the indexing loop.

`FolderWatcher` turns watchdog's native events (inotify, FSEvents, ReadDirectoryChangesW) into dirty-queue rows:
each event re-arms the path's quiet period, so a file still being written is indexed once, after it settles. Events
are buffered in memory and written in one transaction every ~20 ms (a burst of 20,000 creates costs a few commits).
A stat-only rescan runs at start (after the observer is live, so nothing falls in between), after an inotify queue
overflow (reported by the observer itself: see `inotify_observer.py`), when `.ferryignore` changes, and periodically
(about hourly, jittered). If the OS refuses more watches
(ENOSPC/EMFILE), the folder falls back to polling with rescans and says how to raise the limit.

`LocalObserver` is what the engine starts per folder: a FolderWatcher plus a thread that drains ready paths through
the LocalIndexer and hands the changed paths to the engine (`on_changes`). If the root or its marker disappears it
reports the error (`on_error`), records no deletion, and resumes by itself once the marker is back.
"""

from __future__ import annotations

import errno
import logging
import os
import random
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from watchdog.events import (
    DirModifiedEvent,
    FileClosedNoWriteEvent,
    FileOpenedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from ferrysync.daemon import threads
from ferrysync.daemon.journal import Journal
from ferrysync.daemon.local.chunker import ChunkSink
from ferrysync.daemon.local.engine_writes import EngineWrites
from ferrysync.daemon.local.hasher import HashPool
from ferrysync.daemon.local.ignore import IGNORE_FILE
from ferrysync.daemon.local.indexer import LocalIndexer
from ferrysync.daemon.local.marker import RootUnavailable, check_marker
from ferrysync.daemon.local.names import nfc
from ferrysync.daemon.local.ondisk import twins_in
from ferrysync.daemon.local.scanner import RulesCache, scan_folder, valid_name

log = logging.getLogger(__name__)

Mode = Literal["stopped", "native", "polling"]
WATCH_LIMIT_HELP = (
    "the OS limit on file watches is reached, so this folder is polled (changes show up with a delay). "
    "On Linux raise it: `sudo sysctl fs.inotify.max_user_watches=524288` (persist it in /etc/sysctl.d/)."
)
_SKIP_EVENTS = {"opened", "closed_no_write"}


def _events_that_tell_a_change() -> list[type[FileSystemEvent]]:
    """Every kind of event watchdog has but three, asked of the OS by kind (watchdog turns the list into the inotify
    mask): a file opened, a file closed unwritten (each read, by the indexer's hashing, the uploader or any other
    program) and a folder's "modified" (its listing changed: the child's own event says which) tell nothing, so
    they are never asked for, never handled. Derived, not listed: a kind a later watchdog adds is kept."""
    never = (FileOpenedEvent, FileClosedNoWriteEvent, DirModifiedEvent)
    kinds: list[type[FileSystemEvent]] = []
    todo = [FileSystemEvent]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub not in never and sub not in kinds:
                kinds.append(sub)
    return kinds


_EVENTS = _events_that_tell_a_change()
_COALESCE_S = 0.02
_RETRY_MIN_S, _RETRY_MAX_S = 1.0, 60.0  # after a failed flush or scan: the first retry's delay, doubled up to this


@runtime_checkable
class ReportsOverflow(Protocol):
    """An observer that says when the OS dropped events (Linux: `inotify_observer.InotifyObserver`)."""

    def report_overflows(self, root: str, on_overflow: Callable[[], None]) -> None: ...


def native_observer() -> BaseObserver:
    """watchdog's native observer for this OS; on Linux, the inotify one that reports a queue overflow.

    Elsewhere an overflow is not reported to event handlers (ReadDirectoryChangesW returns an empty buffer, FSEvents
    flags a path to rescan), so the periodic rescan is what catches events lost there; so too on Linux with a
    watchdog older than the inotify API `inotify_observer` builds on (one InotifyFD per observer, in watchdog 7)."""
    if sys.platform.startswith("linux"):
        try:
            from ferrysync.daemon.local.inotify_observer import InotifyObserver
        except ImportError:
            log.warning("this watchdog does not report inotify queue overflows; lost events wait for a rescan")
        else:
            return InotifyObserver()
    return Observer()


def _quiet_watchdog() -> None:
    # watchdog warns (harmlessly) each time a moved directory's existing watch is re-registered
    warnings.filterwarnings("ignore", message="Callback with id .* already exists", category=RuntimeWarning)


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: FolderWatcher) -> None:
        self._watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in _SKIP_EVENTS or (event.is_directory and event.event_type == "modified"):
            return
        self._watcher.on_paths([event.src_path, event.dest_path])


class FolderWatcher:
    """Feeds one folder's dirty queue from native events and rescans. Call start() once, stop() at the end."""

    def __init__(
        self,
        journal: Journal,
        folder_id: str,
        root: Path,
        *,
        quiet_period: float = 1.0,
        rescan_interval: float = 3600.0,
        poll_interval: float = 10.0,
        on_dirty: Callable[[], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
        observer_factory: Callable[[], BaseObserver] = native_observer,
        rules: RulesCache | None = None,
        settled: Callable[[list[str]], list[str]] = lambda paths: [],
    ) -> None:
        """`settled(paths)` names those of them the journal already describes as they are on disk (echoes of
        changes already recorded: LocalIndexer.settled); they are not queued."""
        self.journal = journal
        self.folder_id = folder_id
        self.root = root
        self.quiet_period = quiet_period
        self.rescan_interval = rescan_interval
        self.poll_interval = poll_interval
        self.rules = rules or RulesCache(root)
        self.mode: Mode = "stopped"
        self.status_message: str | None = None
        self.scans = 0
        self._on_dirty = on_dirty or (lambda: None)
        self._on_error = on_error or (lambda exc: None)
        self._settled = settled
        self._observer_factory = observer_factory
        self._observer: BaseObserver | None = None
        self._root_str = str(root)
        self._pending: dict[str, None] = {}
        # NFC/NFD twins left out of the sync (path on disk -> the NFC path), from the last scan and from the
        # folders that events touched since; replaced whole, never mutated, so readers need no lock.
        self.twins: dict[str, str] = {}
        self._twin_dirs: set[str] = set()  # folders (as on disk) to look at again for twins
        self._scan_reason: str | None = None
        self._in_flight = 0  # events taken from _pending but not yet committed, or 1 while scanning
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def start(self, initial_scan: bool = True) -> None:
        """Start watching; the start-up scan runs right after the observer is live (catches offline changes)."""
        _quiet_watchdog()
        self._watch()
        if initial_scan:
            self.request_rescan("start-up")
        self._thread = threads.start(self._run, f"ferry-watch-{self.folder_id}")

    def _watch(self) -> None:
        observer: BaseObserver | None = None
        try:
            observer = self._observer_factory()
            observer.schedule(_Handler(self), self._root_str, recursive=True, event_filter=_EVENTS)
            observer.start()
            if isinstance(observer, ReportsOverflow):  # events were lost: only a full rescan finds what they said
                observer.report_overflows(self._root_str, lambda: self.request_rescan("event queue overflow"))
            self._observer, self.mode = observer, "native"
        except OSError as exc:
            if observer is not None:
                self._stop_observer(observer)
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                # the root is missing: the start-up scan reports RootUnavailable; rewatch() once it is back
                log.warning("%s: cannot watch: %s", self.root, exc)
                self.mode = "native"
                return
            if exc.errno not in (errno.ENOSPC, errno.EMFILE):
                raise
            log.warning("%s: cannot watch natively (%s); polling instead", self.root, exc)
            self.mode, self.status_message = "polling", WATCH_LIMIT_HELP

    def rewatch(self) -> None:
        """Re-create the native watch (after the root came back: a remounted disk is a new inode to watch)."""
        old, self._observer = self._observer, None
        if old is not None:
            self._stop_observer(old)
        if self.mode != "polling":
            self._watch()
        self.request_rescan("sync root is back")

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._observer is not None:
            self._stop_observer(self._observer)
            self._observer = None
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self.mode = "stopped"

    @staticmethod
    def _stop_observer(observer: BaseObserver) -> None:
        try:
            observer.stop()
            if observer.is_alive():
                observer.join()
        except Exception:  # a half-started observer may fail to stop; nothing to keep from it
            log.debug("observer stop failed", exc_info=True)

    # -- inputs --------------------------------------------------------------------------------------------------

    def on_paths(self, abs_paths: list[str | bytes]) -> None:
        """Called from watchdog's thread for each event (a move brings two paths)."""
        prefix = self._root_str + "/"
        with self._lock:
            for p in abs_paths:
                s = p.decode(errors="surrogateescape") if isinstance(p, bytes) else p
                if s.startswith(prefix):
                    rel = s[len(prefix) :]
                    if not valid_name(rel):
                        log.warning("ignoring %r: name is not valid UTF-8", rel)
                        continue
                    if not rel.isascii():  # the journal path is NFC, whatever the disk's spelling
                        self._twin_dirs.add(rel.rpartition("/")[0])
                        rel = nfc(rel)
                    self._pending[rel] = None
                    if rel == IGNORE_FILE:
                        self._scan_reason = "ignore rules changed"
                elif s == self._root_str:
                    self._scan_reason = "sync root changed"
        self._wake.set()

    def request_rescan(self, reason: str) -> None:
        with self._lock:
            self._scan_reason = reason
        self._wake.set()

    def retry_now(self) -> None:
        """Flush the kept events now rather than at the end of the retry's backoff (the journal takes writes
        again)."""
        self._wake.set()

    def pending(self) -> int:
        """Events received but not yet in the journal, plus 1 if a scan is waiting."""
        with self._lock:
            return len(self._pending) + (self._scan_reason is not None) + self._in_flight

    # -- worker --------------------------------------------------------------------------------------------------

    def _next_periodic(self) -> float:
        interval = self.poll_interval if self.mode == "polling" else self.rescan_interval
        return time.monotonic() + interval * random.uniform(0.9, 1.1)

    def _run(self) -> None:
        due = self._next_periodic()
        retry_at: float | None = None  # after a failure: when to try again (its events are kept meanwhile)
        delay = _RETRY_MIN_S
        while not self._stop.is_set():
            self._wake.wait(max(0.0, (due if retry_at is None else min(due, retry_at)) - time.monotonic()))
            if self._stop.is_set():
                break
            self._wake.clear()
            self._stop.wait(_COALESCE_S)  # let a burst gather into one transaction
            retry_at = None
            reason: str | None = None
            try:
                self._flush()
                self._check_twins()
                with self._lock:
                    reason, self._scan_reason = self._scan_reason, None
                    if reason is None and time.monotonic() >= due:
                        reason = "polling" if self.mode == "polling" else "periodic"
                    self._in_flight = int(reason is not None)
                if reason is not None:
                    self._scan(reason)
                    due = self._next_periodic()
                delay = _RETRY_MIN_S
            except Exception as exc:  # keep watching: the engine decides what an error means
                log.exception("%s: watcher error", self.root)
                self._on_error(exc)
                if reason is not None:  # the scan is owed still: a start-up scan the journal refused (a full disk)
                    with self._lock:  # is the only look at what changed while the daemon was down
                        self._scan_reason = self._scan_reason or reason
                # Tried again soon, not when the next event or the periodic scan comes (a flush the journal
                # refused, on a full disk, kept its events: the user's change would wait an hour); nor at once,
                # over and over, while the journal keeps refusing (a failed scan left `due` behind).
                retry_at = time.monotonic() + delay
                delay = min(_RETRY_MAX_S, delay * 2)
                due = max(due, retry_at) if due <= time.monotonic() else due
            finally:
                with self._lock:
                    self._in_flight = 0

    def _flush(self) -> None:
        with self._lock:
            paths, self._pending = list(self._pending), {}
            self._in_flight = len(paths)
        if not paths:
            return
        rules = self.rules.get()
        keep = [p for p in paths if p and not (rules.is_ignored(p, False) and rules.is_ignored(p, True))]
        if not keep:
            return
        try:
            echoes = set(self._settled(keep))
            queued = [p for p in keep if p not in echoes]
            if queued:
                self.journal.mark_dirty(self.folder_id, queued, time.time() + self.quiet_period)
        except BaseException:
            with self._lock:  # keep the events for the next attempt rather than losing them
                self._pending = dict.fromkeys(keep) | self._pending
            raise
        if queued:
            self._on_dirty()

    def _check_twins(self) -> None:
        """Look again at the folders where a non-ASCII name came or went: twins appear and disappear with them."""
        with self._lock:
            dirs, self._twin_dirs = self._twin_dirs, set()
        if not dirs:
            return
        twins = {p: k for p, k in self.twins.items() if p.rpartition("/")[0] not in dirs}
        for d in dirs:
            for name, key in twins_in(self.root / d if d else self.root).items():
                parent = nfc(d)
                twins[f"{d}/{name}" if d else name] = f"{parent}/{key}" if parent else key
        self.twins = twins

    def _scan(self, reason: str) -> None:
        log.info("%s: scanning (%s)", self.root, reason)
        try:
            # not kept: its list of queued paths would hold a whole first scan's names in memory while idle
            scan = scan_folder(self.journal, self.folder_id, self.root, self.rules.get())
        except RootUnavailable as exc:
            self.status_message = str(exc)
            self._on_error(exc)
            return
        self.scans += 1
        self.twins = dict(scan.twins)
        if self.mode == "native":
            self.status_message = None
        if scan.queued:
            self._on_dirty()


@dataclass(frozen=True)
class ObserverStatus:
    mode: Mode
    message: str | None  # e.g. the watch-limit advice, or why the folder is stopped
    error: RootUnavailable | None  # set while the root or marker is missing (nothing is recorded meanwhile)


class LocalObserver:
    """Per-folder local change detection for the engine: watcher + indexing loop -> `on_changes(paths)`."""

    RETRY_S = 5.0

    def __init__(
        self,
        journal: Journal,
        folder_id: str,
        root: Path,
        pool: HashPool,
        *,
        quiet_period: float = 1.0,
        rescan_interval: float = 3600.0,
        poll_interval: float = 10.0,
        on_changes: Callable[[list[str]], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
        observer_factory: Callable[[], BaseObserver] = native_observer,
        engine_writes: EngineWrites | None = None,
        sink_for: Callable[[str, int], ChunkSink | None] = lambda path, size: None,
        sinks_done: Callable[[], None] = lambda: None,
    ) -> None:
        self.journal = journal
        self.folder_id = folder_id
        self.root = root
        self._on_changes = on_changes or (lambda paths: None)
        self._on_error = on_error or (lambda exc: None)
        self.rules = RulesCache(root)
        self.indexer = LocalIndexer(journal, folder_id, root, pool, rules=self.rules.get, quiet_period=quiet_period,
                                    engine_writes=engine_writes, sink_for=sink_for, sinks_done=sinks_done)
        self.watcher = FolderWatcher(
            journal,
            folder_id,
            root,
            quiet_period=quiet_period,
            rescan_interval=rescan_interval,
            poll_interval=poll_interval,
            on_dirty=self.wake,
            on_error=self._watch_error,
            observer_factory=observer_factory,
            rules=self.rules,
            settled=self.indexer.settled,
        )
        self.error: RootUnavailable | None = None
        self._busy = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threads.start(self._run, f"ferry-index-{self.folder_id}")
        self.watcher.start()

    def stop(self) -> None:
        self.watcher.stop()
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()

    def wake(self) -> None:
        self._wake.set()

    def retry_now(self) -> None:
        """The journal takes writes again: the watcher's kept events and the indexer's queue go on now."""
        self.watcher.retry_now()
        self.wake()

    def look_again(self, paths: Iterable[str]) -> None:
        """Have the indexer look at `paths` (relative) as if the OS had reported them: held in memory until the
        journal takes them, so they outlive a journal that refuses writes (a full disk) for a while."""
        self.watcher.on_paths([os.path.join(self.root, p) for p in paths])

    @property
    def twins(self) -> dict[str, str]:
        """NFC/NFD twins left out of the sync: path on disk -> the NFC path the other spelling holds."""
        return self.watcher.twins

    def failure(self) -> str | None:
        """Why local changes are no longer picked up although nobody stopped this observer, or None."""
        if self._stop.is_set():
            return None
        for what, thread in (("indexer", self._thread), ("watcher", self.watcher._thread)):
            reason = threads.death(thread)
            if reason is not None:
                return f"its {what} stopped ({reason})"
        return None

    @property
    def status(self) -> ObserverStatus:
        message = str(self.error) if self.error else self.watcher.status_message
        return ObserverStatus(self.watcher.mode, message, self.error)

    def idle(self) -> bool:
        """Nothing buffered, queued or being indexed (what tests and `ferry wait` poll for).

        Asked in the order a change travels (watcher buffer, dirty queue, indexing): a change that moves on while
        we look is then seen at the later stage it moved to, never missed between two."""
        # "any queued path", not a count: the status asks every second, and a first scan queues every file
        return self.watcher.pending() == 0 and not self.journal.has_dirty(self.folder_id) and not self._busy

    def _taken(self) -> None:
        self._busy = True  # until the indexed paths are handed on (`_on_changes`), in the loop's `finally`

    def _watch_error(self, exc: Exception) -> None:
        if isinstance(exc, RootUnavailable):
            self.error = exc
        self._on_error(exc)

    def _run(self) -> None:
        while not self._stop.is_set():
            timeout = self.RETRY_S
            try:
                # Every round, not only after an error: a root that is moved away or unmounted sends no event
                # (the native watch follows the moved inode), so the folder would otherwise say "Up to date".
                check_marker(self.root, self.folder_id)
                if self.error is not None:
                    log.info("%s: sync root is back; resuming", self.root)
                    self.error = None
                    self.watcher.rewatch()
                result = self.indexer.run_once(on_taken=self._taken)
                if result.changed:
                    self._on_changes(result.changed)
                if result.changed or result.requeued or result.errors or result.hashed:
                    continue  # more may be ready right away
                nxt = self.journal.next_dirty_at(self.folder_id)
                if nxt is not None:
                    timeout = min(timeout, max(0.0, nxt - time.time()))
            except RootUnavailable as exc:
                if self.error is None:
                    log.error("%s", exc)
                    self._on_error(exc)
                self.error = exc
            except Exception as exc:
                log.exception("%s: indexing failed", self.root)
                self._on_error(exc)
            finally:
                self._busy = False
            self._wake.wait(timeout)
            self._wake.clear()
