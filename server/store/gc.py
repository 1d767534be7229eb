"""Garbage collection of block holdings: which blocks a namespace still needs, and which blocks anyone holds."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, and_, delete, select, update

from ferrysync.server.store.rows import decode_blocks
from ferrysync.server.store.schema import entries, namespaces, ns_blocks, revisions

_IN_CHUNK = 500


def holding_owners(conn: Connection, cutoff_ms: int) -> list[int]:
    """Namespaces holding blocks recorded before the cutoff (the only ones whose holdings may be dropped)."""
    return [int(n) for n in conn.execute(select(ns_blocks.c.ns_id).where(ns_blocks.c.created_at < cutoff_ms)
                                         .distinct()).scalars()]


def drop_unreferenced_user_blocks(conn: Connection, ns_id: int, cutoff_ms: int) -> int:
    """Forget blocks the namespace recorded before the cutoff that none of its entries or kept revisions use.

    Such blocks were uploaded and never committed, or belonged only to revisions retention has dropped. The
    namespace's counter row is locked first, as commits do (a commit also locks the committer's root namespace,
    whose holdings it may copy), so no commit can start using a block while its holding is being dropped (across
    processes on PostgreSQL; SQLite also has the write gate).
    """
    conn.execute(update(namespaces).where(namespaces.c.id == ns_id).values(seq=namespaces.c.seq))
    used: set[str] = set()
    for table in (entries, revisions):
        for text in conn.execute(select(table.c.blocks).where(
                and_(table.c.ns_id == ns_id, table.c.kind == "file"))).scalars():
            used.update(decode_blocks(text))
    old = conn.execute(select(ns_blocks.c.hash).where(and_(
        ns_blocks.c.ns_id == ns_id, ns_blocks.c.created_at < cutoff_ms))).scalars().all()
    stale = [h for h in old if h not in used]
    dropped = 0
    for i in range(0, len(stale), _IN_CHUNK):
        dropped += conn.execute(delete(ns_blocks).where(and_(
            ns_blocks.c.ns_id == ns_id, ns_blocks.c.hash.in_(stale[i:i + _IN_CHUNK])))).rowcount
    return dropped


def blocks_held(conn: Connection, hashes: Sequence[str]) -> set[str]:
    held: set[str] = set()
    wanted = list(dict.fromkeys(hashes))
    for i in range(0, len(wanted), _IN_CHUNK):
        held.update(conn.execute(select(ns_blocks.c.hash).where(
            ns_blocks.c.hash.in_(wanted[i:i + _IN_CHUNK])).distinct()).scalars())
    return held
