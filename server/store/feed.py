"""Read side of a namespace's tree: its change feed, revisions, deleted files, usage; and retention pruning.

Everything here speaks one namespace's own paths; server/store/routing.py merges a user's namespaces into the
tree the user sees.
"""

from __future__ import annotations

from sqlalchemy import Connection, ScalarSelect, and_, delete, exists, func, select, update

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


def _owned(user_id: int) -> ScalarSelect[int]:
    """The namespaces `user_id` owns: their root and the folders they shared."""
    return select(namespaces.c.id).where(namespaces.c.owner_id == user_id).scalar_subquery()


def _live_files(conn: Connection, user_id: int) -> tuple[int, int]:
    """Bytes and count of the live files in every namespace `user_id` owns (their root and the folders they
    shared), not the folders others shared with them: the one definition usage and quota checks use."""
    live_files = and_(entries.c.ns_id.in_(_owned(user_id)), entries.c.deleted.is_(False), entries.c.kind == "file")
    size, count = conn.execute(select(func.coalesce(func.sum(entries.c.size), 0), func.count())
                               .where(live_files)).one()
    return int(size), int(count)


def live_bytes(conn: Connection, user_id: int) -> int:
    """The bytes of the user's live files: what their quota counts (old revisions and trash are not counted)."""
    return _live_files(conn, user_id)[0]


def quota_use(conn: Connection, user_id: int) -> tuple[int | None, int]:
    """(quota, live bytes) of the user; the sum is skipped (0) when there is no quota: uploads ask this each time."""
    quota = conn.execute(select(users.c.quota_bytes).where(users.c.id == user_id)).scalar()
    if quota is None:
        return None, 0
    return int(quota), live_bytes(conn, user_id)


def usage(conn: Connection, user_id: int) -> Usage:
    """What `user_id` is charged for: every namespace they own, shared folders included (see _live_files)."""
    size, count = _live_files(conn, user_id)
    blocks = conn.execute(select(func.coalesce(func.sum(ns_blocks.c.size), 0))
                          .where(ns_blocks.c.ns_id.in_(_owned(user_id)))).scalar_one()
    quota = conn.execute(select(users.c.quota_bytes).where(users.c.id == user_id)).scalar()
    return Usage(bytes=size, files=count, blocks_bytes=int(blocks), quota_bytes=None if quota is None else int(quota))


def live_below(conn: Connection, ns_id: int, root: str) -> list[Entry]:
    """Live rows of the namespace strictly below `root` ("" for the whole tree), sorted by path: parents before
    their children."""
    query = select(entries).where(and_(entries.c.ns_id == ns_id, entries.c.deleted.is_(False)))
    if root:
        query = query.where(entries.c.path.startswith(root + "/", autoescape=True))
    # LIKE may be case-insensitive (SQLite): re-check segment-wise and case-sensitively here.
    found = [entry_from_row(r) for r in conn.execute(query)]
    return sorted((e for e in found if not root or (is_within(e.path, root) and e.path != root)),
                  key=lambda e: e.path)


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def children(conn: Connection, ns_id: int, folder: str) -> list[Entry]:
    """Live rows directly inside the namespace's `folder` ("" for its root): one query that leaves the deeper rows
    in the database (`NOT LIKE 'folder/%/%'`), so a folder page costs its own size, not the size of the tree below."""
    query = select(entries).where(and_(entries.c.ns_id == ns_id, entries.c.deleted.is_(False)))
    if folder:
        prefix = _like_escaped(folder + "/")
        query = query.where(entries.c.path.like(prefix + "%", escape="\\"))
        query = query.where(entries.c.path.not_like(prefix + "%/%", escape="\\"))
    else:
        query = query.where(entries.c.path.not_like("%/%"))
    found = [entry_from_row(r) for r in conn.execute(query)]
    # LIKE may be case-insensitive (SQLite): re-check the parent case-sensitively here.
    return [e for e in found if e.path.rpartition("/")[0] == folder]


def entry(conn: Connection, ns_id: int, path: str) -> Entry | None:
    """The live entry of the namespace at `path`, or None."""
    row = conn.execute(select(entries).where(and_(entries.c.ns_id == ns_id, entries.c.path_key == path_key(path),
                                                  entries.c.deleted.is_(False)))).first()
    return entry_from_row(row) if row is not None else None


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
