"""Engine creation: the only place that knows about SQLite specifics (pragmas, transaction begin)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event

from ferrysync.server.store.migrate import upgrade_schema
from ferrysync.server.store.rows import path_key


def default_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'ferry.db').resolve()}"


def normalise_url(url: str) -> str:
    """`postgresql://` (and `postgres://`) mean psycopg 3 here; SQLAlchemy alone would pick psycopg2."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str, migrate: bool = True) -> Engine:
    """Create the engine and bring the schema to the newest revision (Alembic; see store/migrate.py)."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        # Enough connections for the request threadpool (40 threads by default), so no request waits for one.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=10,
                               max_overflow=40)
        _configure_sqlite(engine)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=40)
    if migrate:
        upgrade_schema(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout, foreign keys, and SQLAlchemy's recipe for real transactions on pysqlite."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below open transactions, also for SELECTs
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()
        # Migration 0002 computes path keys in SQL; PostgreSQL has sha256() built in, SQLite gets ours.
        dbapi_conn.create_function("ferry_path_key", 1, path_key, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")


class WriteGate:
    """Serialises write transactions inside one process when the database is SQLite.

    SQLite has a single writer; taking a process lock first avoids SQLITE_BUSY on a read-to-write upgrade.
    On PostgreSQL the per-user counter row lock does this job, across processes, so the gate is a no-op.
    """

    def __init__(self, engine: Engine) -> None:
        self._lock: threading.Lock | None = threading.Lock() if engine.dialect.name == "sqlite" else None

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        if self._lock is None:
            yield
            return
        with self._lock:
            yield
