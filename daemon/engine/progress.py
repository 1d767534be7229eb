"""Transfers in flight and transfer speeds, for the status the tray and `ferry status` show."""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

SPEED_WINDOW_S = 3.0


@dataclass
class Transfer:
    path: str
    direction: str  # "up" | "down"
    bytes_total: int
    bytes_done: int = 0
    started: float = 0.0


class TransferTracker:
    """Thread-safe registry of running transfers plus a sliding-window speed meter per direction."""

    def __init__(self, on_change: Callable[[], None] = lambda: None, clock: Callable[[], float] = time.monotonic):
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._running: dict[int, Transfer] = {}
        self._samples: dict[str, deque[tuple[float, int]]] = {"up": deque(), "down": deque()}
        self._clock = clock
        self._on_change = on_change

    @contextmanager
    def transfer(self, path: str, direction: str, total: int) -> Iterator[Callable[[int], None]]:
        """Register a transfer; the yielded callable takes byte counts as they move."""
        tid = next(self._ids)
        t = Transfer(path, direction, total, 0, self._clock())
        with self._lock:
            self._running[tid] = t

        def progress(n: int) -> None:
            now = self._clock()
            with self._lock:
                t.bytes_done += n
                samples = self._samples[direction]
                samples.append((now, n))
                while samples and samples[0][0] < now - SPEED_WINDOW_S:
                    samples.popleft()

        self._on_change()
        try:
            yield progress
        finally:
            with self._lock:
                del self._running[tid]
            self._on_change()

    def speed(self, direction: str) -> float:
        now = self._clock()
        with self._lock:
            samples = self._samples[direction]
            while samples and samples[0][0] < now - SPEED_WINDOW_S:
                samples.popleft()
            return sum(n for _, n in samples) / SPEED_WINDOW_S

    def running(self) -> list[dict[str, object]]:
        with self._lock:
            items = list(self._running.values())
        out: list[dict[str, object]] = []
        for t in items:
            elapsed = max(self._clock() - t.started, 1e-3)
            out.append({"path": t.path, "direction": t.direction, "bytes_done": t.bytes_done,
                        "bytes_total": t.bytes_total, "speed": t.bytes_done / elapsed})
        return out
