"""Wake long-polls when a namespace's seq moves: a small interface, and its in-process implementation.

The key is a namespace id (a user's root, or a folder shared between users: server/store/views.py); the
parameters keep their historical name `user_id`. A long-poll waits on every namespace its user sees.

The interface is what the change-feed route uses; a later issue adds a PostgreSQL LISTEN/NOTIFY implementation so
several server processes wake each other. Callers always re-check the database after a wake-up or timeout, so a
lost notification only delays an answer, never makes it wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol


class Notifier(Protocol):
    async def start(self) -> None:
        """Bind to the running event loop (called at app start-up)."""
        ...

    async def stop(self) -> None:
        """Release every waiter (called at shutdown)."""
        ...

    @property
    def released(self) -> bool:
        """True once `release` was called: a waiting request answers now instead of waiting again."""
        ...

    def release(self) -> None:
        """The server is going down: wake every waiter now and answer later ones at once (on the event loop's
        thread). Without it, each parked long-poll held the shutdown for its whole grace period and was then
        cancelled with an ERROR and a traceback in the log: at every restart of a server with a device online."""
        ...

    def publish(self, user_id: int, seq: int) -> None:
        """Announce that `user_id`'s seq is now `seq`. Thread-safe; callable from worker threads."""
        ...

    async def wait(self, user_id: int, after: int, timeout: float) -> bool:
        """Return True once a seq > `after` was published for the user, False after `timeout` seconds."""
        ...


class LocalNotifier:
    """In-process notifier: futures per user on the event loop, woken via call_soon_threadsafe."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[int, set[asyncio.Future[None]]] = {}
        self._latest: dict[int, int] = {}
        self._stopping = False

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        self.release()

    @property
    def released(self) -> bool:
        return self._stopping

    def release(self) -> None:
        self._stopping = True
        for waiters in self._waiters.values():
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)
        self._waiters.clear()

    def publish(self, user_id: int, seq: int) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed between the check and the call
            loop.call_soon_threadsafe(self._wake, user_id, seq)

    def _wake(self, user_id: int, seq: int) -> None:
        if seq > self._latest.get(user_id, 0):
            self._latest[user_id] = seq
        for fut in self._waiters.pop(user_id, set()):
            if not fut.done():
                fut.set_result(None)

    async def wait(self, user_id: int, after: int, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._latest.get(user_id, 0) <= after:
            if self._stopping:
                return False
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            fut: asyncio.Future[None] = loop.create_future()
            waiters = self._waiters.setdefault(user_id, set())
            waiters.add(fut)
            try:
                await asyncio.wait_for(fut, remaining)
            except TimeoutError:
                return False
            finally:
                waiters.discard(fut)
                if not waiters and self._waiters.get(user_id) is waiters:
                    del self._waiters[user_id]
            if self._stopping:
                return False
        return True
