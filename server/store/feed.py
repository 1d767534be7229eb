"""Read side of a namespace's tree: its change feed, revisions, deleted files, usage; and retention pruning.

Everything here speaks one namespace's own paths; server/store/routing.py merges a user's namespaces into the
tree the user sees.
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, delete, exists, func, select, update

from ferrysync.server.paths import is_within
from ferrysync.server.store.base import ChangePage, CursorExpired, Entry, PruneReport, Revision, Usage
from ferrysync.server.store.rows import entry_from_row, path_key, revision_from_row
from ferrysync.server.store.schema import entries, namespaces, ns_blocks, revisions, users


def current_seq(conn: Connection, ns_id: int) -> int:
    return int(conn.execute(select(namespaces.c.seq).where(namespaces.c.id == ns_id)).scalar_one())


def changes(conn: Connection, ns_id: int, cursor: int, limit: int, *, live_only: bool | None = None) -> ChangePage:
    """Rows with seq in (cursor, S], S being the namespace's seq read first.

    Reading S before the rows keeps the page consistent even without a snapshot: a row changed after S got a
    seq > S, so the client sees it on its next call from the cursor we return. `live_only` (default: cursor 0)
    leaves tombstones out: a listing from the start needs no deletions.
    """
    seq, pruned = conn.execute(select(namespaces.c.seq, namespaces.c.pruned_seq)
                               .where(namespaces.c.id == ns_id)).one()
    seq, pruned = int(seq), int(pruned)
    if 0 < cursor < pruned:
        raise CursorExpired(f"cursor {cursor} predates deletions removed by retention (seq {pruned})")
    query = select(entries).where(and_(entries.c.ns_id == ns_id, entries.c.seq > cursor, entries.c.seq <= seq))
    if cursor == 0 if live_only is None else live_only:
        query = query.where(entries.c.deleted.is_(False))
    rows = [entry_from_row(r) for r in conn.execute(query.order_by(entries.c.seq).limit(limit + 1))]
    if len(rows) > limit:
        return ChangePage(entries=rows[:limit], cursor=rows[limit - 1].seq, has_more=True)
    return ChangePage(entries=rows, cursor=seq, has_more=False)


def list_revisions(conn: Connection, ns_id: int, path: str) -> list[Revision]:
    query = select(revisions).where(and_(revisions.c.ns_id == ns_id, revisions.c.path_key == path_key(path)))
    return [revision_from_row(r) for r in conn.execute(query.order_by(revisions.c.rev.desc()))]


def get_revision(conn: Connection, ns_id: int, path: str, rev: int) -> Revision | None:
    query = select(revisions).where(and_(
        revisions.c.ns_id == ns_id, revisions.c.path_key == path_key(path), revisions.c.rev == rev))
    row = conn.execute(query).first()
    return revision_from_row(row) if row is not None else None


def list_deleted(conn: Connection, ns_id: int, prefix: str | None, since_ms: int) -> list[Entry]:
    """Tombstones within retention, newest first; the old paths of moved entries (file_id live) are not deleted."""
    live = entries.alias("live")
    moved_away = exists().where(and_(
        live.c.ns_id == ns_id, live.c.file_id == entries.c.file_id, live.c.deleted.is_(False)))
    query = select(entries).where(and_(
        entries.c.ns_id == ns_id, entries.c.deleted.is_(True), entries.c.changed_at >= since_ms,
        ~moved_away))
    if prefix:
        query = query.where(entries.c.path.startswith(prefix, autoescape=True))
    found = [entry_from_row(r) for r in conn.execute(query.order_by(entries.c.seq.desc()))]
    return [e for e in found if prefix is None or prefix == "" or is_within(e.path, prefix)]


def usage(conn: Connection, user_id: int) -> Usage:
    """What `user_id` is charged for: every namespace they own (their root and the folders they shared), not the
    folders others shared with them. The one definition a quota check uses."""
    owned = select(namespaces.c.id).where(namespaces.c.owner_id == user_id).scalar_subquery()
    live_files = and_(entries.c.ns_id.in_(owned), entries.c.deleted.is_(False), entries.c.kind == "file")
    size, count = conn.execute(select(func.coalesce(func.sum(entries.c.size), 0), func.count())
                               .where(live_files)).one()
    blocks = conn.execute(select(func.coalesce(func.sum(ns_blocks.c.size), 0))
                          .where(ns_blocks.c.ns_id.in_(owned))).scalar_one()
    return Usage(bytes=int(size), files=int(count), blocks_bytes=int(blocks))


def prune(conn: Connection, cutoff_ms: int) -> PruneReport:
    """Drop revisions superseded before the cutoff and tombstones older than it.

    A current revision (never superseded) of a live entry is never dropped; a dropped tombstone raises the
    namespace's `pruned_seq` so a client whose cursor is older learns it must re-list instead of silently missing
    a deletion.
    """
    old_tombs = and_(entries.c.deleted.is_(True), entries.c.changed_at < cutoff_ms)
    # Ascending namespace ids: the order commits lock counter rows in (several per commit), so no deadlock.
    per_ns = conn.execute(select(entries.c.ns_id, func.max(entries.c.seq)).where(old_tombs)
                          .group_by(entries.c.ns_id).order_by(entries.c.ns_id)).all()
    for ns_id, max_seq in per_ns:
        conn.execute(update(namespaces).where(and_(namespaces.c.id == ns_id, namespaces.c.pruned_seq < max_seq))
                     .values(pruned_seq=max_seq))
    tombstones = conn.execute(delete(entries).where(old_tombs)).rowcount
    # A tombstone's own revision row is current until overwritten; drop it with the tombstone.
    has_row = exists().where(and_(entries.c.ns_id == revisions.c.ns_id, entries.c.path_key == revisions.c.path_key))
    old_revs = delete(revisions).where(
        (revisions.c.superseded_at < cutoff_ms)
        | (revisions.c.superseded_at.is_(None) & revisions.c.deleted.is_(True)
           & (revisions.c.created_at < cutoff_ms) & ~has_row))
    revs = conn.execute(old_revs).rowcount
    owners = select(namespaces.c.owner_id).where(namespaces.c.id.in_([n for n, _ in per_ns]))
    names = conn.execute(select(users.c.name).where(users.c.id.in_(owners))).scalars().all()
    return PruneReport(revisions=int(revs), tombstones=int(tombstones), users=sorted(names))
