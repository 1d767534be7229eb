"""Desktop notifications (conflicts, errors, deletions waiting) through desktop-notifier.

desktop-notifier is asyncio-based; the engine is threaded. So the Notifier owns a small private event loop on
its own thread, started at the first notification, and `notify` only hands the message over: it never blocks
the engine and never raises into it. Where no notification service exists (no D-Bus session, a bare server),
it says so once in the log and then stays quiet.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

log = logging.getLogger(__name__)

MAX_PENDING = 16  # beyond this, new notifications are dropped: a burst would only bury the user anyway


class Notifier:
    """`Notifier(enabled=lambda: settings.notifications).notify("Conflict", "report.txt …", "conflict")`."""

    def __init__(self, app_name: str = "Ferry", enabled: Callable[[], bool] = lambda: True) -> None:
        self.app_name = app_name
        self.enabled = enabled
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._backend: Any = None  # desktop_notifier.DesktopNotifier, created on the loop thread
        self._unavailable = False
        self._pending = 0
        self.sent = 0  # notifications handed to the OS (for tests and diagnostics)

    @property
    def available(self) -> bool:
        """False once we learnt that this session has no notification service."""
        return not self._unavailable

    def notify(self, title: str, body: str, kind: str = "info") -> Future[bool] | None:
        """Queue a notification; returns a future of whether it was handed to the OS, or None if skipped.

        `kind` is "info" (shown with low urgency) or "conflict", "error", "attention" (normal urgency).
        """
        try:
            if self._unavailable or not self.enabled():
                return None
            with self._lock:
                if self._pending >= MAX_PENDING:
                    log.debug("notification dropped (too many pending): %s", title)
                    return None
                self._pending += 1
                loop = self._ensure_loop()
            future = asyncio.run_coroutine_threadsafe(self._send(title, body, kind), loop)
            future.add_done_callback(self._done)
            return future
        except Exception:  # a notification is never worth an engine failure
            log.exception("could not queue a desktop notification")
            return None

    def close(self, timeout: float = 2.0) -> None:
        """Stop the loop thread (pending notifications are abandoned)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=loop.run_forever, name="ferry-notify", daemon=True)
            self._thread.start()
            self._loop = loop
        return self._loop

    def _done(self, future: Future[bool]) -> None:
        with self._lock:
            self._pending -= 1

    async def _send(self, title: str, body: str, kind: str) -> bool:
        try:
            if self._backend is None and not await self._connect():
                return False
            from desktop_notifier import Urgency

            urgency = Urgency.Low if kind == "info" else Urgency.Normal
            await self._backend.send(title=title, message=body, urgency=urgency)
            self.sent += 1
            return True
        except Exception:
            log.warning("desktop notification failed", exc_info=True)
            return False

    async def _connect(self) -> bool:
        """Create the backend and ask it for its capabilities: that is where a missing service shows up."""
        if self._unavailable:
            return False
        try:
            from desktop_notifier import DesktopNotifier

            backend = DesktopNotifier(app_name=self.app_name)
            await backend.get_capabilities()
        except Exception as exc:  # noqa: BLE001 - each backend (D-Bus, macOS, Windows) fails its own way; optional
            self._unavailable = True
            log.info("desktop notifications are unavailable here (%s); continuing without them", exc)
            return False
        self._backend = backend
        return True
