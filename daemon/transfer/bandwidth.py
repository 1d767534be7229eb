"""A token bucket shared by all transfers of one direction, so "limit uploads to 1 MB/s" holds in total.

The rate can change while transfers run (waiters wake up and re-plan at once); 0 means unlimited. The clock is
injectable so the arithmetic is tested without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Bytes per second with a burst allowance. A caller may take more than the burst at once (one block);
    the bucket then goes into debt and later callers wait until it is paid back, so the average holds."""

    def __init__(self, rate: float = 0, *, burst: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._cond = threading.Condition()
        self._clock = clock
        self._rate = 0.0
        self._burst = 0.0
        self._burst_override = burst
        self._tokens = 0.0
        self._last = clock()
        self.set_rate(rate)

    @property
    def rate(self) -> float:
        return self._rate

    def set_rate(self, rate: float) -> None:
        """Change the limit (bytes/s; 0 = unlimited) now, also for transfers already waiting."""
        if rate < 0:
            raise ValueError(f"bandwidth limit must be ≥ 0 bytes/s, got {rate}")
        with self._cond:
            self._refill()
            self._rate = float(rate)
            default_burst = max(rate / 4, 64 * 1024)
            self._burst = self._burst_override if self._burst_override is not None else default_burst
            self._tokens = min(self._tokens, self._burst) if rate else 0.0
            self._cond.notify_all()

    def _refill(self) -> None:
        now = self._clock()
        if self._rate:
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now

    def try_acquire(self, n: int) -> float:
        """Take `n` bytes if the bucket is not in debt and return 0; else take nothing and return how many
        seconds to wait before asking again."""
        with self._cond:
            return self._try_acquire_locked(n)

    def _try_acquire_locked(self, n: int) -> float:
        if not self._rate:
            return 0.0
        self._refill()
        if self._tokens > -1.0:  # under a byte of debt is paid (float rounding must not stall anyone)
            self._tokens -= n
            return 0.0
        return -self._tokens / self._rate

    def consume(self, n: int, cancel: threading.Event | None = None) -> bool:
        """Block until `n` bytes may pass. Returns False if `cancel` was set while waiting."""
        with self._cond:
            while True:
                if cancel is not None and cancel.is_set():
                    return False
                wait = self._try_acquire_locked(n)
                if wait <= 0:
                    return True
                # Short slices, so a cancel is noticed promptly; set_rate() wakes us at once.
                self._cond.wait(min(wait, 0.25))
