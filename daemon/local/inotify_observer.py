"""Linux: watchdog's inotify observer, plus the one fact its event handlers never see: the kernel dropped events;
and without a watch on the folder where downloads make their unnamed files.

When an inotify queue overflows, the kernel drops every later event and queues one `IN_Q_OVERFLOW`. watchdog reads
it on the thread of the observer's inotify instance and tells every `WatchCallback` registered on that instance
(`on_queue_overflow`), then rebuilds its recursive watches; no event reaches a `FileSystemEventHandler`. So this
observer is watchdog's `InotifyObserver` built from the same public parts (one `InotifyFD` per observer, the
`InotifyEmitter`), keeping a handle on its inotify instance, and `report_overflows` registers a callback on the
watched root that hands the overflow to the watcher, which answers with a full rescan.

Every small download writes its bytes to an unnamed file (`fsio.Unnamed`, in `.ferry/tmp/unnamed`) and then
links it at its name. The kernel reports the unnamed file's write, its mode and times, and its close on the watch
of the folder it was made in, under a made-up name (`#<inode>`): three events a landed file, each read, decoded
and queued by watchdog's threads on the daemon's one GIL, only for the watcher to ignore them (`.ferry` is always
ignored). So the emitter drops the watch on that one folder once it has set up the root's, and again after an
overflow made it rebuild them all. Nothing else is left unwatched: a file there never has a name, so no move
into or out of it is ever split (the trash and the named temps stay watched, and a move between them and the
folder is still one event, not a half held back by watchdog to wait for its pair).

Imported on Linux only (watchdog's inotify modules load libc's inotify functions at import).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchdog.observers.api import DEFAULT_OBSERVER_TIMEOUT, BaseObserver, EventQueue, ObservedWatch
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

from ferrysync.daemon.local.marker import unnamed_dir

# Added to the root's existing watch (IN_MASK_ADD), never replacing the emitter's mask; the same link rule as the
# emitter (IN_DONT_FOLLOW), so both name the same inode and share one watch: no extra watch is spent.
_MASK = Mask(InotifyConstants.IN_MASK_ADD | InotifyConstants.IN_DELETE_SELF | InotifyConstants.IN_DONT_FOLLOW)


# watchdog 7.1.1 added `on_events_lost`, called once every callback's `on_queue_overflow` has returned (its emitters
# have repaired their watches by then, so a rescan started from it sees them whole); 7.1.0 calls only the latter.
_TELLS_EVENTS_LOST = hasattr(WatchCallback, "on_events_lost")


class _Emitter(InotifyEmitter):
    """watchdog's inotify emitter, without a watch on the root's folder of unnamed files (see the module's doc)."""

    def __init__(self, event_queue: EventQueue, watch: ObservedWatch, **kw: Any) -> None:
        super().__init__(event_queue, watch, **kw)
        self.unwatched = os.fsencode(unnamed_dir(Path(watch.path)))

    def on_thread_start(self) -> None:
        super().on_thread_start()
        self.unwatch()

    def unwatch(self) -> None:
        """Drop the watch on the folder of unnamed files. A watchdog without the call (or a group not set up yet)
        leaves it: the watcher then ignores those events, as it did before this existed."""
        remove = getattr(getattr(self, "_inotify", None), "remove_watched_directory", None)
        if remove is not None:
            remove(self.unwatched)


class _OverflowListener:
    """A `WatchCallback` that only listens for the queue overflow; the emitter handles the events themselves."""

    def __init__(self, on_overflow: Callable[[], None], rebuilt: Callable[[], None]) -> None:
        self._on_overflow = on_overflow
        self._rebuilt = rebuilt

    def on_event(self, event: InotifyEvent) -> None:
        pass

    def on_watch_deleted(self, wd: WatchDescriptor) -> None:
        pass  # the root went away: the watcher finds out from the marker check and calls rewatch()

    def on_queue_overflow(self) -> None:
        if not _TELLS_EVENTS_LOST:
            self._on_overflow()

    def on_events_lost(self) -> None:
        self._rebuilt()  # every emitter has rebuilt its watches by now, that folder's too
        self._on_overflow()


class InotifyObserver(BaseObserver):
    """watchdog's inotify observer whose queue overflow can be heard (`report_overflows`)."""

    def __init__(self, *, timeout: float = DEFAULT_OBSERVER_TIMEOUT) -> None:
        self.inotify = InotifyFD()
        self.inotify.start()
        super().__init__(_Emitter, timeout=timeout, inotify_fd=self.inotify)

    def report_overflows(self, root: str, on_overflow: Callable[[], None]) -> None:
        """Call `on_overflow` (on watchdog's thread: keep it short) each time the kernel drops events of this
        observer. Call after `start()`, when the root is watched; raises OSError as watching the root would."""
        listener = _OverflowListener(on_overflow, self._unwatch)
        self.inotify.add_callback(os.fsencode(root), _MASK, listener, CallbackId(id(listener)))

    def _unwatch(self) -> None:
        for emitter in self.emitters:
            if isinstance(emitter, _Emitter):
                emitter.unwatch()

    def on_thread_stop(self) -> None:
        super().on_thread_stop()
        self.inotify.stop()
        self.inotify.join()
