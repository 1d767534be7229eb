"""Linux: watchdog's inotify observer, plus the one fact its event handlers never see: the kernel dropped events.

When an inotify queue overflows, the kernel drops every later event and queues one `IN_Q_OVERFLOW`. watchdog reads
it on the thread of the observer's inotify instance and tells every `WatchCallback` registered on that instance
(`on_queue_overflow`), then rebuilds its recursive watches; no event reaches a `FileSystemEventHandler`. So this
observer is watchdog's `InotifyObserver` built from the same public parts (one `InotifyFD` per observer, the
`InotifyEmitter`), keeping a handle on its inotify instance, and `report_overflows` registers a callback on the
watched root that hands the overflow to the watcher, which answers with a full rescan.

Imported on Linux only (watchdog's inotify modules load libc's inotify functions at import).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from watchdog.observers.api import DEFAULT_OBSERVER_TIMEOUT, BaseObserver
from watchdog.observers.inotify import InotifyEmitter
from watchdog.observers.inotify_c import (
    CallbackId,
    InotifyConstants,
    InotifyEvent,
    InotifyFD,
    Mask,
    WatchCallback,
    WatchDescriptor,
)

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


class InotifyObserver(BaseObserver):
    """watchdog's inotify observer whose queue overflow can be heard (`report_overflows`)."""

    def __init__(self, *, timeout: float = DEFAULT_OBSERVER_TIMEOUT) -> None:
        self.inotify = InotifyFD()
        self.inotify.start()
        super().__init__(InotifyEmitter, timeout=timeout, inotify_fd=self.inotify)

    def report_overflows(self, root: str, on_overflow: Callable[[], None]) -> None:
        """Call `on_overflow` (on watchdog's thread: keep it short) each time the kernel drops events of this
        observer. Call after `start()`, when the root is watched; raises OSError as watching the root would."""
        listener = _OverflowListener(on_overflow)
        self.inotify.add_callback(os.fsencode(root), _MASK, listener, CallbackId(id(listener)))

    def on_thread_stop(self) -> None:
        super().on_thread_stop()
        self.inotify.stop()
        self.inotify.join()
