"""One subscriber's outbox: bounded, coalescing, and never able to block the daemon.

The daemon publishes from its own threads; each subscriber's connection thread drains its outbox. Status
events only mark the outbox dirty (the newest status is what matters), so a burst of changes costs one line
per interval. Other events queue up to a bound; a subscriber that falls that far behind is dropped.
A socketpair wakes the connection thread, which can then sleep in select() on its client socket too and notice
at once when the client hangs up.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import deque
from collections.abc import Collection

STATUS = "status"


class Outbox:
    def __init__(self, events: Collection[str] | None, max_queued: int, status_interval: float) -> None:
        self.events = None if events is None else frozenset(events)
        self._max = max_queued
        self._interval = status_interval
        self._lock = threading.Lock()
        self._queue: deque[bytes] = deque()
        self._status_dirty = False
        self._next_status_at = 0.0
        self.dropped = False
        self.wake_r, self._wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self._wake_w.setblocking(False)

    def wants(self, event: str) -> bool:
        return self.events is None or event in self.events

    # Only the first change after a take() wakes the writer: later ones find a wake-up already on its way.

    def status_changed(self) -> None:
        with self._lock:
            if self._status_dirty:
                return
            self._status_dirty = True
        self._wake()

    def push(self, line: bytes) -> None:
        with self._lock:
            if self.dropped:
                return
            was_empty = not self._queue
            if len(self._queue) >= self._max:
                self.dropped = True
                self._queue.clear()
            else:
                self._queue.append(line)
        if was_empty or self.dropped:
            self._wake()

    def status_sent(self) -> None:
        """Called after the initial status went out: the next one waits a full interval."""
        with self._lock:
            self._status_dirty = False
            self._next_status_at = time.monotonic() + self._interval

    def take(self) -> tuple[list[bytes], bool, float | None]:
        """(queued lines, whether a status is due now, seconds until a pending status is due or None)."""
        with self._lock:
            lines = list(self._queue)
            self._queue.clear()
            if not self._status_dirty:
                return lines, False, None
            now = time.monotonic()
            if now >= self._next_status_at:
                self._status_dirty = False
                self._next_status_at = now + self._interval
                return lines, True, None
            return lines, False, self._next_status_at - now

    def drain_wakeups(self) -> None:
        try:
            while self.wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            pass

    def _wake(self) -> None:
        # a full pipe means a wake-up is already pending; a closed one, that the subscriber is gone
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def close(self) -> None:
        self.wake_r.close()
        self._wake_w.close()
