"""The handshake between block uploads and block garbage collection, in the database so it spans processes.

Each block being written or deleted has one `block_marks` row, keyed by its hash:
- an upload upserts ("upload", now) before writing the block to the store, and when it records the user's holding
  it refreshes that mark in the same transaction, failing (BlockRaced: the client retries) if the mark is gone or
  was taken over by a collector;
- a collector takes ("delete", now) only when there is no mark, an upload mark older than the grace period, or a
  delete mark left behind by a crashed collector; it then re-checks that nobody holds the block, deletes the
  object, and drops its mark.
The mark row is the point of exclusion (a primary-key conflict or a row lock on PostgreSQL, the write gate on
SQLite): a block with a live upload mark is never deleted, and an upload never reports a block stored while a
collector is deleting it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ferrysync.server.store.bulk import execute_many
from ferrysync.server.store.schema import block_marks, ns_blocks

UPLOAD = "upload"
DELETE = "delete"
# A delete mark this old was left by a collector that died between taking it and finishing: ignore it.
STALE_DELETE_MS = 10 * 60 * 1000
_IN_CHUNK = 500


class BlockRaced(Exception):
    """A garbage collection took over a block while this upload was writing it: upload it again."""


def upsert(conn: Connection, table: Any) -> Any:
    """INSERT ... ON CONFLICT for the dialect in use (both SQLite and PostgreSQL have it)."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _mark_upload_stmt(dialect: str) -> Any:
    """The upload-mark upsert, built once per dialect and run with one parameter set per block (executemany):
    a multi-row VALUES list is a new statement to compile for every batch, which cost more than running it."""
    stmt = _UPSERT_MARKS.get(dialect)
    if stmt is None:
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(block_marks).values(
            hash=bindparam("m_hash"), state=UPLOAD, at=bindparam("m_at"))
        stmt = ins.on_conflict_do_update(
            index_elements=["hash"], set_={"state": UPLOAD, "at": ins.excluded.at},
            where=or_(block_marks.c.state == UPLOAD, block_marks.c.at < ins.excluded.at - STALE_DELETE_MS))
        _UPSERT_MARKS[dialect] = stmt
    return stmt


_UPSERT_MARKS: dict[str, Any] = {}


def _chunks(items: Sequence[str]) -> list[list[str]]:
    """Sorted, de-duplicated chunks: transactions marking overlapping sets lock rows in one order (no deadlock)."""
    unique = sorted(set(items))
    return [unique[i:i + _IN_CHUNK] for i in range(0, len(unique), _IN_CHUNK)]


def mark_uploading(conn: Connection, hashes: Sequence[str], now: int) -> list[str]:
    """Take or refresh upload marks; returns the hashes a collector is deleting right now (the caller retries)."""
    busy: list[str] = []
    for chunk in _chunks(hashes):
        execute_many(conn, _mark_upload_stmt(conn.dialect.name), [{"m_hash": h, "m_at": now} for h in chunk])
        busy += conn.execute(select(block_marks.c.hash).where(and_(
            block_marks.c.hash.in_(chunk), block_marks.c.state == DELETE))).scalars().all()
    return busy


def confirm_uploaded(conn: Connection, hashes: Sequence[str], now: int) -> None:
    """Refresh the upload marks of blocks about to be recorded as held; raise BlockRaced if one was lost."""
    for chunk in _chunks(hashes):
        kept = conn.execute(update(block_marks).where(and_(
            block_marks.c.hash.in_(chunk), block_marks.c.state == UPLOAD)).values(at=now)).rowcount
        if kept != len(chunk):
            raise BlockRaced("a block was garbage-collected while being uploaded; upload it again")


def claim_for_deletion(conn: Connection, candidates: Sequence[str], grace_cutoff_ms: int, now: int) -> list[str]:
    """Take delete marks on those candidates no upload protects and nobody holds; returns the ones taken."""
    claimed: list[str] = []
    for chunk in _chunks(candidates):
        stmt = upsert(conn, block_marks).values([{"hash": h, "state": DELETE, "at": now} for h in chunk])
        stmt = stmt.on_conflict_do_update(
            index_elements=["hash"], set_={"state": DELETE, "at": now},
            where=or_(and_(block_marks.c.state == UPLOAD, block_marks.c.at < grace_cutoff_ms),
                      and_(block_marks.c.state == DELETE, block_marks.c.at < now - STALE_DELETE_MS)))
        conn.execute(stmt)
        ours = set(conn.execute(select(block_marks.c.hash).where(and_(
            block_marks.c.hash.in_(chunk), block_marks.c.state == DELETE, block_marks.c.at == now))).scalars())
        held = set(conn.execute(select(ns_blocks.c.hash).where(ns_blocks.c.hash.in_(list(ours)))
                                .distinct()).scalars()) if ours else set()
        if held:
            conn.execute(delete(block_marks).where(and_(block_marks.c.hash.in_(list(held)),
                                                        block_marks.c.state == DELETE)))
        claimed += [h for h in chunk if h in ours and h not in held]
    return claimed


def release(conn: Connection, hashes: Sequence[str]) -> None:
    """Drop delete marks once their blocks are gone (or were kept)."""
    for chunk in _chunks(hashes):
        conn.execute(delete(block_marks).where(and_(block_marks.c.hash.in_(chunk), block_marks.c.state == DELETE)))


def expire(conn: Connection, grace_cutoff_ms: int, now: int) -> int:
    """Drop upload marks past the grace period (their upload finished or failed) and stale delete marks."""
    return int(conn.execute(delete(block_marks).where(or_(
        and_(block_marks.c.state == UPLOAD, block_marks.c.at < grace_cutoff_ms),
        and_(block_marks.c.state == DELETE, block_marks.c.at < now - STALE_DELETE_MS)))).rowcount)


def protected(conn: Connection, hashes: Sequence[str], grace_cutoff_ms: int, now: int) -> set[str]:
    """Which of these blocks an upload or a collector has marked recently (what a dry run would spare)."""
    found: set[str] = set()
    for chunk in _chunks(hashes):
        found.update(conn.execute(select(block_marks.c.hash).where(and_(
            block_marks.c.hash.in_(chunk),
            or_(and_(block_marks.c.state == UPLOAD, block_marks.c.at >= grace_cutoff_ms),
                and_(block_marks.c.state == DELETE, block_marks.c.at >= now - STALE_DELETE_MS))))).scalars())
    return found
