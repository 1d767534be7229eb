"""The login throttle's counters in the metadata database (table `login_failures`), so that every server process
on one PostgreSQL database sees the same failures: an attacker spreading attempts over processes gains nothing.

One row per key ("user:NAME" or "addr:ADDRESS"). Counting is one upsert (the row lock on PostgreSQL, the write
gate on SQLite, serialise concurrent failures), so parallel wrong logins cannot each see a stale count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, case, delete, func, select, update

from ferrysync.server.store.blockmarks import upsert
from ferrysync.server.store.schema import login_failures as lf


@dataclass(frozen=True)
class LoginLock:
    key: str
    failures: int
    last_failure: int
    locked_until: int


def locked_until(conn: Connection, keys: Sequence[str]) -> int:
    """The latest time (ms) until which any of `keys` is locked; 0 when none is."""
    value = conn.execute(select(func.max(lf.c.locked_until)).where(lf.c.key.in_(list(keys)))).scalar()
    return int(value or 0)


def record_failure(conn: Connection, key: str, now: int, forget_before: int,
                   delay_ms: Callable[[int], int]) -> int:
    """Count one failure (restarting from 1 when the last one is older than `forget_before`) and lock the key for
    `delay_ms(failures)` from now; returns the time the key is locked until (now or earlier: not locked)."""
    stmt = upsert(conn, lf).values(key=key, failures=1, last_failure=now, locked_until=0)
    stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={
        "failures": case((lf.c.last_failure < forget_before, 1), else_=lf.c.failures + 1),
        "last_failure": now,
    })
    conn.execute(stmt)
    failures = int(conn.execute(select(lf.c.failures).where(lf.c.key == key)).scalar_one())
    until = now + delay_ms(failures)
    conn.execute(update(lf).where(lf.c.key == key).values(locked_until=until))
    return until


def clear(conn: Connection, keys: Sequence[str]) -> int:
    return int(conn.execute(delete(lf).where(lf.c.key.in_(list(keys)))).rowcount)


def listing(conn: Connection) -> list[LoginLock]:
    rows = conn.execute(select(lf).order_by(lf.c.locked_until.desc(), lf.c.key)).all()
    return [LoginLock(r.key, int(r.failures), int(r.last_failure), int(r.locked_until)) for r in rows]


def prune(conn: Connection, forget_before: int) -> int:
    """Forget keys whose last failure is older than the cutoff and that are no longer locked."""
    return int(conn.execute(delete(lf).where(lf.c.last_failure < forget_before)
                            .where(lf.c.locked_until < forget_before)).rowcount)
