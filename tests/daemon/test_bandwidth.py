"""The shared token bucket: average rate holds, bursts are bounded, limits change live, 0 means unlimited."""

from __future__ import annotations

import threading
import time

import pytest

from ferrysync.daemon.transfer.bandwidth import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_unlimited_never_waits() -> None:
    bucket = TokenBucket(0)
    assert all(bucket.try_acquire(8 * 1024 * 1024) == 0 for _ in range(100))


def test_rate_is_held_on_average_with_fake_clock() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100_000, burst=10_000, clock=clock)
    assert bucket.try_acquire(10_000) == 0  # the bucket starts empty, but not in debt: the first piece passes
    wait = bucket.try_acquire(10_000)
    assert wait == pytest.approx(0.1)  # 10 kB of debt at 100 kB/s
    clock.now += wait
    assert bucket.try_acquire(10_000) == 0
    # Over a simulated second, no more than rate + one burst passes.
    sent, start = 0, clock.now
    while clock.now - start < 1.0:
        wait = bucket.try_acquire(1000)
        if wait:
            clock.now += wait
        else:
            sent += 1000
    assert 100_000 - 10_000 <= sent <= 100_000 + 1000  # minus the debt it started with


def test_idle_time_refills_only_up_to_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1000, burst=500, clock=clock)
    clock.now += 3600  # an hour idle must not allow an hour's worth of bytes at once
    assert bucket.try_acquire(500) == 0
    assert bucket.try_acquire(1) == 0  # tokens exactly 0: not in debt yet
    assert bucket.try_acquire(1) > 0


def test_negative_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="≥ 0"):
        TokenBucket(-1)


def test_consume_paces_real_transfers() -> None:
    bucket = TokenBucket(1_000_000, burst=50_000)
    start = time.monotonic()
    for _ in range(20):
        bucket.consume(25_000)  # 500 kB at 1 MB/s: about 0.45 s after the first piece
    elapsed = time.monotonic() - start
    assert 0.35 <= elapsed <= 2.0


def test_bucket_is_shared_between_threads() -> None:
    bucket = TokenBucket(2_000_000, burst=50_000)
    start = time.monotonic()

    def worker() -> None:
        for _ in range(10):
            bucket.consume(25_000)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start  # 1 MB in total at 2 MB/s
    assert 0.4 <= elapsed <= 2.5


def test_raising_the_limit_wakes_waiting_transfers_at_once() -> None:
    bucket = TokenBucket(1000, burst=1000)
    bucket.consume(1_000_000)  # deep debt: the next caller would wait ~1000 s
    done = threading.Event()

    def worker() -> None:
        bucket.consume(10)
        done.set()

    t = threading.Thread(target=worker)
    t.start()
    assert not done.wait(0.2)
    bucket.set_rate(0)  # unlimited now
    assert done.wait(5)
    t.join()
    assert bucket.rate == 0


def test_cancel_interrupts_a_wait() -> None:
    bucket = TokenBucket(1000, burst=1000)
    bucket.consume(1_000_000)
    cancel = threading.Event()
    result: list[bool] = []
    t = threading.Thread(target=lambda: result.append(bucket.consume(10, cancel)))
    t.start()
    cancel.set()
    t.join(5)
    assert result == [False]
