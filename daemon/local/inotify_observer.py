"""Linux: watchdog's inotify observer, plus the one fact its event handlers never see: the kernel dropped events;
and without watches inside the marker folder.

When an inotify queue overflows, the kernel drops every later event and queues one `IN_Q_OVERFLOW`. watchdog reads
it on the thread of the observer's inotify instance and tells every `WatchCallback` registered on that instance
(`on_queue_overflow`), then rebuilds its recursive watches; no event reaches a `FileSystemEventHandler`. So this
observer is watchdog's `InotifyObserver` built from the same public parts (one `InotifyFD` per observer, the
`InotifyEmitter`), keeping a handle on its inotify instance, and `report_overflows` registers a callback on the
watched root that hands the overflow to the watcher, which answers with a full rescan.

The marker folder (`.ferry/`: the folder's trash and Ferry's own temp files) gets no watch of its own: every
download writes a temp file there, and its create, write, close and attribute events (five a file, each handled in
Python by watchdog's threads) told the engine nothing it did not know: nothing under `.ferry/` is synced, and the
marker's check is a `stat` before each write, not an event. The marker folder itself stays seen from the root's
watch (deleted, moved, created), like any other name in the root.

Imported on Linux only (watchdog's inotify modules load libc's inotify functions at import).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from watchdog.observers.api import DEFAULT_OBSERVER_TIMEOUT, BaseObserver
from watchdog.observers.inotify import InotifyEmitter, InotifyWatchGroup
from watchdog.observers.inotify_c import (
    CallbackId,
    InotifyConstants,
    InotifyEvent,
    InotifyFD,
    Mask,
    WatchCallback,
    WatchDescriptor,
)

from ferrysync.daemon.local.ignore import MARKER_NAME

# Added to the root's existing watch (IN_MASK_ADD), never replacing the emitter's mask; the same link rule as the
# emitter (IN_DONT_FOLLOW), so both name the same inode and share one watch: no extra watch is spent.
_MASK = Mask(InotifyConstants.IN_MASK_ADD | InotifyConstants.IN_DELETE_SELF | InotifyConstants.IN_DONT_FOLLOW)


# watchdog 7.1.1 added `on_events_lost`, called once every callback's `on_queue_overflow` has returned (its emitters
# have repaired their watches by then, so a rescan started from it sees them whole); 7.1.0 calls only the latter.
_TELLS_EVENTS_LOST = hasattr(WatchCallback, "on_events_lost")


class _OverflowListener:
    """A `WatchCallback` that only listens for the queue overflow; the emitter handles the events themselves."""

    def __init__(self, on_overflow: Callable[[], None]) -> None:
        self._on_overflow = on_overflow

    def on_event(self, event: InotifyEvent) -> None:
        pass

    def on_watch_deleted(self, wd: WatchDescriptor) -> None:
        pass  # the root went away: the watcher finds out from the marker check and calls rewatch()

    def on_queue_overflow(self) -> None:
        if not _TELLS_EVENTS_LOST:
            self._on_overflow()

    def on_events_lost(self) -> None:
        self._on_overflow()


class _WatchGroup(InotifyWatchGroup):
    """watchdog's recursive watch of a sync root, with no watch in the root's marker folder (see module doc).

    Every directory watch, at the start and for each directory created or moved in later, is added through
    `_add_callback`."""

    def _add_callback(self, path: bytes) -> None:
        marker = self.path + b"/" + os.fsencode(MARKER_NAME)
        if path == marker or path.startswith(marker + b"/"):
            return
        super()._add_callback(path)


# The hook above is watchdog 7's own name for the one place a watch is added; on a watchdog without it the marker
# folder is simply watched (its events cost time, never correctness).
_SKIPS_MARKER = callable(getattr(InotifyWatchGroup, "_add_callback", None))


class _Emitter(InotifyEmitter):
    """watchdog's inotify emitter, watching through `_WatchGroup` (what its own start does, with that class)."""

    def on_thread_start(self) -> None:
        if not _SKIPS_MARKER:
            super().on_thread_start()
            return
        self._inotify = _WatchGroup(self._inotify_fd, os.fsencode(self.watch.path),
                                    is_recursive=self.watch.is_recursive, event_mask=self.get_event_mask_from_filter(),
                                    follow_symlink=self.watch.follow_symlink)


class InotifyObserver(BaseObserver):
    """watchdog's inotify observer whose queue overflow can be heard (`report_overflows`), with no watch in the
    marker folder."""

    def __init__(self, *, timeout: float = DEFAULT_OBSERVER_TIMEOUT) -> None:
        self.inotify = InotifyFD()
        self.inotify.start()
        super().__init__(_Emitter, timeout=timeout, inotify_fd=self.inotify)

    def report_overflows(self, root: str, on_overflow: Callable[[], None]) -> None:
        """Call `on_overflow` (on watchdog's thread: keep it short) each time the kernel drops events of this
        observer. Call after `start()`, when the root is watched; raises OSError as watching the root would."""
        listener = _OverflowListener(on_overflow)
        self.inotify.add_callback(os.fsencode(root), _MASK, listener, CallbackId(id(listener)))

    def on_thread_stop(self) -> None:
        super().on_thread_stop()
        self.inotify.stop()
        self.inotify.join()
