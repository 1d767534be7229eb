"""Reading a user's live tree over their namespaces: one entry, a folder's children, everything below a path, and
where a file id is now. The web app and share links read through here, so a user browsing sees the folders shared
with them at their mounts, with the user's own paths (views.py says how paths route)."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Connection, and_, select

from ferrysync.server.store import feed
from ferrysync.server.store.base import Entry
from ferrysync.server.store.rows import entry_from_row
from ferrysync.server.store.schema import entries
from ferrysync.server.store.views import Mount, View, load_view


def _outer(view: View, mount: Mount | None, found: list[Entry]) -> list[Entry]:
    return found if mount is None else [replace(e, path=view.outer_path(mount, e.path)) for e in found]


def entry(conn: Connection, user_id: int, path: str) -> Entry | None:
    """The live entry at the user's `path` (a mount's folder is the root namespace's folder entry), or None."""
    view = load_view(conn, user_id)
    where = view.route(path)
    found = feed.entry(conn, where.ns_id, where.rel)
    return None if found is None else _outer(view, where.mount, [found])[0]


def children(conn: Connection, user_id: int, folder: str) -> list[Entry]:
    """Live entries directly inside the user's `folder` ("" for the top): a mount's folder lists the shared
    folder's top level."""
    view = load_view(conn, user_id)
    where = view.route(folder)
    if where.at_mount_point is not None:
        return _outer(view, where.at_mount_point, feed.children(conn, where.at_mount_point.ns_id, ""))
    found = feed.children(conn, where.ns_id, where.rel)
    return _outer(view, where.mount, found) if where.mount is not None else [
        e for e in found if not view.shadowed(e.path)]


def live_below(conn: Connection, user_id: int, path: str) -> list[Entry]:
    """Live entries strictly below the user's `path` ("" for the whole tree), mounts included, sorted by path
    (parents before their children)."""
    view = load_view(conn, user_id)
    where = view.route(path)
    if where.mount is not None:
        return _outer(view, where.mount, feed.live_below(conn, where.ns_id, where.rel))
    if where.at_mount_point is not None:
        return _outer(view, where.at_mount_point, feed.live_below(conn, where.at_mount_point.ns_id, ""))
    found = [e for e in feed.live_below(conn, view.root_ns, path) if not view.shadowed(e.path)]
    for mount in view.mounts if not path else view.mounts_below(path):
        if mount.path != path:
            found += _outer(view, mount, feed.live_below(conn, mount.ns_id, ""))
    return sorted(found, key=lambda e: e.path)


def by_file_id(conn: Connection, user_id: int, file_id: str) -> Entry | None:
    """Where the live file or folder with this id is now in the user's tree, or None (deleted, or in a folder no
    longer shared with the user). Moves keep a file id, and sharing a folder moves its rows into the new namespace
    with their ids, so a share link made before or after a folder was shared still finds its target."""
    view = load_view(conn, user_id)
    spaces = [view.root_ns, *(m.ns_id for m in view.mounts)]
    rows = conn.execute(select(entries).where(and_(
        entries.c.ns_id.in_(spaces), entries.c.file_id == file_id, entries.c.deleted.is_(False)))).all()
    for row in sorted(rows, key=lambda r: spaces.index(int(r.ns_id))):
        found = entry_from_row(row)
        mount = view.mount_of(int(row.ns_id)) if int(row.ns_id) != view.root_ns else None
        if mount is None and view.shadowed(found.path):
            continue
        return _outer(view, mount, [found])[0]
    return None
