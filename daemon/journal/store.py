"""Journal connections, transactions and corruption recovery (the tree and queue operations build on this).

Concurrency discipline (why it cannot deadlock):
- ONE writer connection, guarded by a re-entrant lock. Every write runs inside `transaction()`, which takes
  the lock and then `BEGIN IMMEDIATE`, so the SQLite write lock is always taken in the same order (Python lock
  first, SQLite lock second) and is held only for that short transaction. Nested `transaction()` calls on the
  same thread join the outer one through a SAVEPOINT.
- Readers use one connection per thread (autocommit, WAL): they never take the write lock and never wait for
  the writer; multi-statement reads run in a deferred read transaction (`_snapshot`) to see one consistent
  state. A thread that is inside a write transaction reads through the writer, so it sees its own uncommitted
  rows.
- WAL with synchronous=NORMAL: a killed process (kill -9) loses nothing committed; a power cut may lose the
  last transactions but never corrupts. Every state change is re-derivable from disk and server, so that is
  safe.
 A journal that SQLite reports as corrupt (`PRAGMA quick_check` fails, SQLITE_CORRUPT or SQLITE_NOTADB on
open) is moved aside (kept for inspection, never deleted), a fresh one is created and the persistent
`needs_rebuild` flag is set: the engine then rebuilds the trees from disk and server with an empty synced
tree, which makes the planner treat both sides as new and merge (nothing is deleted).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from ferrysync.daemon.journal import schema

_CORRUPT_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}  # primary result codes
# Primary result codes that say the journal's disk refused a write (not a bug in a statement): what the status
# tells the user, in their words.
_WRITE_REFUSALS = {
    sqlite3.SQLITE_FULL: "is full",  # ENOSPC, or a quota
    sqlite3.SQLITE_IOERR: "cannot be written (a disk error)",  # EIO; EFBIG past a file-size limit
    sqlite3.SQLITE_READONLY: "is read-only",
    sqlite3.SQLITE_CANTOPEN: "cannot be opened",
}
REBUILD_KEY = "needs_rebuild"
PROBE_KEY = "write_probe"  # what `probe_writes` writes: when the disk last took a write after refusing them

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriteTrouble:
    """The journal's disk refuses its writes: every change Ferry sees waits, unrecorded, until it takes them again.

    Nothing is lost meanwhile (the watcher keeps its events, a refused action is tried again, `executor.py`), but
    nothing syncs either; so the status says so instead of "Syncing" for ever (`Engine._folder_state`)."""

    disk: str  # how the disk refused it, in the user's words ("is full")
    detail: str  # SQLite's own message, for the log and `ferry status --json`
    since: float  # wall-clock time of the first refusal in a row

    def message(self, journal: Path) -> str:
        # short enough for the tray's first menu line, which shows it whole
        return (f"The disk holding Ferry's journal ({journal.parent}) {self.disk}: nothing syncs until it takes "
                "writes again; nothing is lost")


def write_refusal(exc: BaseException) -> str | None:
    """How a failed journal write says the disk refused it, or None for any other failure."""
    code = getattr(exc, "sqlite_errorcode", None) if isinstance(exc, sqlite3.Error) else None
    return None if code is None else _WRITE_REFUSALS.get(code & 0xFF)


class JournalError(Exception):
    """The journal cannot be opened or used (and it is not a corruption we can recover from)."""


class _Corrupt(Exception):
    pass


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _CORRUPT_CODES
    msg = str(exc).lower()
    return "malformed" in msg or "not a database" in msg


class JournalBase:
    """Owns the connections; subclasses add typed operations via `_write`, `_read` and `_snapshot`."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.recovered_from: Path | None = None  # where a corrupt journal was moved aside, if it was
        self._lock = threading.RLock()
        self._owner: int | None = None
        self._depth = 0
        self._tls = threading.local()
        # reader connections with the thread that owns each; those of finished threads are closed lazily, so
        # short-lived threads (e.g. one per IPC connection) do not leak file descriptors
        self._readers: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        # Set when the disk refused the last write transaction, cleared by the next one that changes a row: read by
        # the status on another thread (one attribute, replaced whole).
        self.write_trouble: WriteTrouble | None = None
        self._on_writable: list[Callable[[], None]] = []
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._writer = self._open_writer()

    # -- opening ---------------------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if not self.path.exists():
            # Born 0600 whatever the umask; SQLite gives its -wal and -shm files the database file's mode.
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    def _open_checked(self) -> sqlite3.Connection:
        conn = self._connect()
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise _Corrupt(verdict)
            schema.migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_writer(self) -> sqlite3.Connection:
        try:
            return self._open_checked()
        except schema.SchemaTooNew as exc:
            raise JournalError(f"{self.path}: {exc}; upgrade Ferry to use this journal") from exc
        except _Corrupt as exc:
            reason = f"quick_check failed: {exc}"
        except sqlite3.DatabaseError as exc:
            if not _is_corruption(exc):
                raise JournalError(f"{self.path}: cannot open the journal: {exc}") from exc
            reason = str(exc)
        self.recovered_from = self._move_aside()
        conn = self._open_checked()
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            (REBUILD_KEY, f"corrupt journal moved to {self.recovered_from.name}: {reason}"),
        )
        return conn

    def _move_aside(self) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        for suffix in ("-wal", "-shm"):
            companion = Path(str(self.path) + suffix)
            if companion.exists():
                companion.replace(Path(str(target) + suffix))
        if self.path.exists():
            self.path.replace(target)
        return target

    # -- connections -----------------------------------------------------------------------------------------

    def _holds_writer(self) -> bool:
        return self._depth > 0 and self._owner == threading.get_ident()

    def _reader(self) -> sqlite3.Connection:
        if self._closed:
            raise JournalError("journal is closed")
        if self._holds_writer():
            return self._writer
        conn: sqlite3.Connection | None = getattr(self._tls, "conn", None)
        if conn is None:
            conn = self._connect()
            self._tls.conn = conn
            with self._readers_lock:
                alive = []
                for thread, other in self._readers:
                    if thread.is_alive():
                        alive.append((thread, other))
                    else:
                        other.close()
                alive.append((threading.current_thread(), conn))
                self._readers = alive
        return conn

    @contextmanager
    def transaction(self) -> Iterator[Self]:
        """One atomic write transaction; every write method called inside (on this thread) joins it."""
        cleared: list[bool] = []
        with self._write_lock(cleared):
            yield self
        if cleared:  # outside the lock: a callback may write
            log.info("the disk holding the journal takes writes again; syncing goes on")
            for wake in list(self._on_writable):
                wake()

    @contextmanager
    def _write_lock(self, cleared: list[bool]) -> Iterator[None]:
        """The transaction itself; `cleared` gets True when it is the one that found the disk taking writes again."""
        with self._lock:
            if self._closed:
                raise JournalError("journal is closed")
            if self._depth:
                name = f"sp{self._depth}"
                self._writer.execute(f"SAVEPOINT {name}")
                self._depth += 1
                try:
                    yield
                except BaseException:
                    self._writer.execute(f"ROLLBACK TO {name}")
                    self._writer.execute(f"RELEASE {name}")
                    raise
                else:
                    self._writer.execute(f"RELEASE {name}")
                finally:
                    self._depth -= 1
                return
            changes = self._writer.total_changes
            try:
                self._writer.execute("BEGIN IMMEDIATE")
                self._owner, self._depth = threading.get_ident(), 1
                try:
                    yield
                except BaseException:
                    self._writer.execute("ROLLBACK")
                    raise
                else:
                    self._commit()
                finally:
                    self._owner, self._depth = None, 0
            except BaseException as exc:
                self._note_refusal(exc)
                raise
            if self.write_trouble is not None and self._writer.total_changes != changes:
                self.write_trouble = None  # a row written: the disk takes writes again (an empty one proves nothing)
                cleared.append(True)

    def _note_refusal(self, exc: BaseException) -> None:
        disk = write_refusal(exc)
        if disk is None:
            return
        before = self.write_trouble
        if before is None:
            log.error("the disk holding the journal (%s) refuses writes: %s; syncing waits until it takes them",
                      self.path, exc)
        self.write_trouble = WriteTrouble(disk, str(exc), before.since if before else time.time())

    def when_writable_again(self, wake: Callable[[], None]) -> None:
        """Call `wake` (on the writing thread, so it must be quick) when the disk takes writes again after refusing
        them: the threads that back off after a refused write go on at once instead of at their next retry."""
        self._on_writable.append(wake)

    def probe_writes(self) -> bool:
        """One small write, to learn whether the disk takes writes again (the engine asks every few seconds while
        it refuses them): space a user frees is noticed within seconds, not at the end of every thread's backoff."""
        try:
            self.set_meta(PROBE_KEY, repr(time.time()))
        except sqlite3.Error:
            return False
        return True

    def _commit(self) -> None:
        """COMMIT; if it fails, no part of the transaction stays, and the next one can begin.

        SQLite rolls a transaction back by itself after some failed COMMITs (a full disk, mostly) but not all
        (SQLITE_BUSY, or a full disk at another point): one left open would refuse every later BEGIN until the
        daemon restarted. So, as SQLite's documentation asks, a failed COMMIT is followed by a ROLLBACK."""
        try:
            self._writer.execute("COMMIT")
        except BaseException:
            if self._writer.in_transaction:
                self._writer.execute("ROLLBACK")
            raise

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A consistent read view for several statements."""
        conn = self._reader()
        if conn is self._writer or conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def _write(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Cursor:
        with self.transaction():
            return self._writer.execute(sql, params)

    def _write_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            with self.transaction():
                self._writer.executemany(sql, rows)

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return self._reader().execute(sql, params).fetchall()

    def _read_one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return self._reader().execute(sql, params).fetchone()

    # -- meta and lifecycle ----------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._read_one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def delete_meta(self, key: str) -> None:
        self._write("DELETE FROM meta WHERE key = ?", (key,))

    def meta_with_prefix(self, prefix: str) -> dict[str, str]:
        """Every meta entry whose key starts with `prefix` (e.g. one kind of record of one folder)."""
        rows = self._read("SELECT key, value FROM meta WHERE key >= ? AND key < ?", (prefix, prefix + "\U0010ffff"))
        return {str(k): str(v) for k, v in rows}

    @property
    def needs_rebuild(self) -> str | None:
        """Why the trees must be rebuilt from disk + server (set after corruption recovery), or None."""
        return self.get_meta(REBUILD_KEY)

    def clear_rebuild(self) -> None:
        """Call once the rebuild has finished (the flag survives restarts until then)."""
        self.delete_meta(REBUILD_KEY)

    @property
    def schema_version(self) -> int:
        return schema.version(self._reader())

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with self._readers_lock:
                for _, conn in self._readers:
                    conn.close()
                self._readers.clear()
            self._writer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
