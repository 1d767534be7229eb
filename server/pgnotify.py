"""Wake long-polls across server processes with PostgreSQL LISTEN/NOTIFY, behind the Notifier interface.

Each process keeps the in-process LocalNotifier for its own waiters and adds two threads with a dedicated
connection each: a sender that NOTIFYs every published seq (coalesced per user), and a listener that feeds the
seqs other processes announce into the local notifier. A connection lost is re-opened with a back-off; a
notification lost meanwhile only delays an answer, since waiters re-read the database at least every few seconds.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from sqlalchemy.engine import make_url

from ferrysync.server.notifier import LocalNotifier

log = logging.getLogger("ferrysync.server.pgnotify")

CHANNEL = "ferry_seq"
_POLL_S = 0.5
_BACKOFF_MAX_S = 5.0


def libpq_url(sqlalchemy_url: str) -> str:
    """The libpq form of a SQLAlchemy PostgreSQL URL (drops the +driver part)."""
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


def parse_payload(payload: str) -> tuple[int, int] | None:
    """'user_id:seq' → (user_id, seq); anything else (another application's message) → None."""
    uid, sep, seq = payload.partition(":")
    if not sep or not (uid + seq).isascii() or not uid.isdigit() or not seq.isdigit():
        return None
    return int(uid), int(seq)


class PgNotifier:
    def __init__(self, url: str) -> None:
        self._conninfo = libpq_url(url)
        self._local = LocalNotifier()
        self._outbox: queue.Queue[tuple[int, int]] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.listening = threading.Event()  # set while the listener is subscribed (tests and health use it)

    async def start(self) -> None:
        await self._local.start()
        self._stop.clear()
        self._threads = [threading.Thread(target=self._run, args=(self._listen,), name="ferry-pg-listen",
                                          daemon=True),
                         threading.Thread(target=self._run, args=(self._send,), name="ferry-pg-notify",
                                          daemon=True)]
        for thread in self._threads:
            thread.start()

    async def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        await self._local.stop()

    def release(self) -> None:
        self._local.release()

    @property
    def released(self) -> bool:
        return self._local.released

    def publish(self, user_id: int, seq: int) -> None:
        self._local.publish(user_id, seq)
        self._outbox.put((user_id, seq))

    async def wait(self, user_id: int, after: int, timeout: float) -> bool:
        return await self._local.wait(user_id, after, timeout)

    # -- threads -------------------------------------------------------------------------------------------
    def _run(self, body: Any) -> None:
        """Run `body(conn)` on a fresh connection until stopped, reconnecting with a back-off after errors."""
        import psycopg

        backoff = 0.1
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
                    backoff = 0.1
                    body(conn)
            except (psycopg.Error, OSError) as exc:  # the database restarted or is unreachable: retry
                self.listening.clear()
                if self._stop.is_set():
                    return
                log.warning("notification connection lost (%s); retrying in %.1fs", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)

    def _listen(self, conn: Any) -> None:
        conn.execute(f"LISTEN {CHANNEL}")
        self.listening.set()
        while not self._stop.is_set():
            for note in conn.notifies(timeout=_POLL_S):
                parsed = parse_payload(note.payload)
                if parsed is not None:
                    self._local.publish(*parsed)
        self.listening.clear()

    def _send(self, conn: Any) -> None:
        while not self._stop.is_set():
            try:
                first = self._outbox.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            latest = {first[0]: first[1]}
            while True:  # coalesce a burst: only each user's newest seq matters
                try:
                    uid, seq = self._outbox.get_nowait()
                except queue.Empty:
                    break
                latest[uid] = max(seq, latest.get(uid, 0))
            for uid, seq in latest.items():
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{uid}:{seq}"))
