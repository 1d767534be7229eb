"""Login throttling per account and per client address, and the bounded pool that computes password hashes.

A key (an account name, or a client address: IPv6 by its /64, which one subscriber usually holds whole) may fail
a few times freely; after that each failure locks the key for twice as long as the one before (1 s, 2 s, 4 s…),
for a few steps, and the failure after those locks it for the whole lockout window (15 minutes by default). A
login on a locked key is answered 429 before any password is checked (so a locked account
is no oracle for the right password). The counters live in the metadata database (store/logins.py): every server
process on one PostgreSQL database throttles together. A success clears the account's counter; an address's
counter only fades, so an attacker cannot reset it by logging in to an account of their own.

Loopback clients are not throttled by address: behind a reverse proxy on the same host that does not pass the
client's address (X-Forwarded-For, trusted from 127.0.0.1 by default: uvicorn's FORWARDED_ALLOW_IPS), every
client would share one address and one attacker could lock everyone out. The account throttle still applies.

Argon2id takes 64 MiB per hash: `HashPool` runs at most `slots` at once and lets at most `queue` more logins wait
(without holding a thread) for up to HASH_WAIT_S; beyond that a login is answered 503 with Retry-After, so a
flood of logins costs a bounded amount of memory instead of 64 MiB each.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from ferrysync.server.config import ServerConfig
from ferrysync.server.errors import ApiError
from ferrysync.server.limits import DEFAULT_HASH_QUEUE, DEFAULT_HASH_SLOTS, HASH_WAIT_S, LOGIN_FORGET_S
from ferrysync.server.store.base import MetaStore
from ferrysync.server.store.rows import now_ms

T = TypeVar("T")
BASE_DELAY_MS = 1000
BUSY_RETRY_S = 2


def account_key(user: str) -> str:
    return f"user:{user}"


def address_key(host: str | None) -> str | None:
    """The throttle key of a client address; None when it is not throttled by address (loopback, unknown)."""
    if not host:
        return None
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return f"addr:{host}"  # e.g. a Unix socket peer: a key of its own
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.is_loopback:
        return None
    if isinstance(addr, ipaddress.IPv6Address):
        return f"addr:{ipaddress.IPv6Network((addr, 64), strict=False)}"
    return f"addr:{addr}"


def normalize_address(text: str) -> str:
    """What an operator types (an address, or an IPv6 /64) as the key `address_key` stores, for unlocking."""
    key = address_key(text.split("/")[0] if ":" in text else text)
    if key is None:
        raise ValueError(f"{text!r} is a loopback address: loopback clients are not throttled by address")
    return key


@dataclass(frozen=True)
class LoginThrottle:
    meta: MetaStore
    user_free: int
    address_free: int
    delay_steps: int
    lockout_s: float

    @classmethod
    def of(cls, meta: MetaStore, config: ServerConfig) -> LoginThrottle:
        return cls(meta, config.login_free_failures, config.address_free_failures, config.login_delay_steps,
                   config.login_lockout_s)

    def _keys(self, user: str, host: str | None) -> list[tuple[str, int]]:
        keys = [(account_key(user), self.user_free)]
        addr = address_key(host)
        if addr is not None:
            keys.append((addr, self.address_free))
        return keys

    def _delay(self, free: int) -> Callable[[int], int]:
        cap = int(self.lockout_s * 1000)

        def delay_ms(failures: int) -> int:
            over = failures - free
            if over <= 0:
                return 0
            return cap if over > self.delay_steps else min(BASE_DELAY_MS << (over - 1), cap)
        return delay_ms

    def retry_after(self, user: str, host: str | None) -> int:
        """Seconds until this login may be tried (0: now)."""
        until = self.meta.login_locked_until([k for k, _ in self._keys(user, host)])
        return _seconds(until - now_ms())

    def failed(self, user: str, host: str | None) -> int:
        """Count a failed login; seconds until the next attempt may be made (0: at once)."""
        now = now_ms()
        forget = now - int(max(LOGIN_FORGET_S, 2 * self.lockout_s) * 1000)
        until = max(self.meta.login_failed(k, now, forget, self._delay(free)) for k, free in self._keys(user, host))
        return _seconds(until - now)

    def succeeded(self, user: str) -> None:
        self.meta.clear_login_failures([account_key(user)])


def _seconds(ms: int) -> int:
    return max(0, math.ceil(ms / 1000))


def too_many(wait_s: int) -> ApiError:
    return ApiError(429, "too_many_attempts", f"too many failed logins: try again in {wait_s} s",
                    headers={"Retry-After": str(wait_s)}, retry_after=wait_s)


class HashPool:
    def __init__(self, slots: int = DEFAULT_HASH_SLOTS, queue: int = DEFAULT_HASH_QUEUE,
                 wait_s: float = HASH_WAIT_S) -> None:
        if slots < 1 or queue < 0:
            raise ValueError("the hashing pool needs at least one slot and a queue of zero or more")
        self.slots, self.queue, self.wait_s = slots, queue, wait_s
        self._sem = asyncio.Semaphore(slots)
        self._waiting = 0

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run `fn` in a worker thread once a slot is free; 503 (ApiError) when too many wait already or the wait
        is too long."""
        if self._sem.locked() and self._waiting >= self.queue:
            raise self._busy()
        self._waiting += 1
        try:
            await asyncio.wait_for(self._sem.acquire(), self.wait_s)
        except TimeoutError:
            raise self._busy() from None
        finally:
            self._waiting -= 1
        try:
            return await run_in_threadpool(fn, *args)
        finally:
            self._sem.release()

    @staticmethod
    def _busy() -> ApiError:
        return ApiError(503, "busy", "too many logins at once: try again shortly",
                        headers={"Retry-After": str(BUSY_RETRY_S)}, retry_after=BUSY_RETRY_S)
