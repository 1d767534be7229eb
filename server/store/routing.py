"""A user's tree over their namespaces: ops routed to the namespace each path lives in, the merged change feed,
and history looked up where a path lives (see views.py for how paths route).

Rules a user meets here, each a typed per-op failure (docs/api.md):
- writing into a folder shared with them read-only: `read_only`;
- moving between a shared folder and the rest of their tree (or another shared folder): `cross_namespace` (the
  client copies and deletes instead: the two sides may belong to different people and quotas);
- deleting a shared folder's own folder: `mount_point` (leaving or revoking a share is its own request).
Moving a shared folder's own folder moves the mount (only the mover's view changes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import Connection, delete, insert

from ferrysync.server.store import feed
from ferrysync.server.store.base import (
    ChangePage,
    CursorExpired,
    DeleteOp,
    Entry,
    MoveOp,
    Op,
    OpFail,
    OpOk,
    OpResult,
    RestoreError,
    Revision,
)
from ferrysync.server.store.cursor import Cursor
from ferrysync.server.store.rows import path_key
from ferrysync.server.store.schema import mounts
from ferrysync.server.store.tree import QuotaMeter, TreeTxn
from ferrysync.server.store.views import Mount, Route, View, load_view


@dataclass(frozen=True)
class _Routed:
    ns_id: int
    mount: Mount | None
    op: Op
    moves_mount: Mount | None = None


def _read_only(mount: Mount) -> OpFail:
    return OpFail("read_only", f"the shared folder {mount.path!r} is shared with you read-only")


def plan(view: View, op: Op) -> _Routed | OpFail:
    """Which namespace an op goes to, with its paths made relative to it; or why it is refused. Pure."""
    where = view.route(op.path)
    if isinstance(op, MoveOp):
        dest = view.route(op.to)
        if where.at_mount_point is not None:
            if dest.mount is not None or dest.at_mount_point is not None:
                return OpFail("cross_namespace", "a shared folder cannot be moved into a shared folder")
            return _Routed(view.root_ns, None, op, moves_mount=where.at_mount_point)
        if where.mount is None and view.mounts_below(op.path):
            return OpFail("cross_namespace", "this folder holds a shared folder: move the shared folder out first")
        if where.ns_id != dest.ns_id or dest.at_mount_point is not None:
            return OpFail("cross_namespace", "a move between a shared folder and the rest of the tree is refused: "
                          "copy and delete instead")
        if where.mount is not None and not where.mount.writable:
            return _read_only(where.mount)
        same = where.rel == op.path and dest.rel == op.to  # the user's root: the op as sent (no copy per op)
        return _Routed(where.ns_id, where.mount, op if same else replace(op, path=where.rel, to=dest.rel))
    if isinstance(op, DeleteOp) and where.at_mount_point is not None:
        return OpFail("mount_point", "this is a shared folder: leave it or revoke the share instead of deleting it")
    if where.mount is not None and not where.mount.writable:
        return _read_only(where.mount)
    return _Routed(where.ns_id, where.mount, op if where.rel == op.path else replace(op, path=where.rel))


def _outer(view: View, mount: Mount | None, result: OpResult) -> OpResult:
    """A namespace's result with its paths made the user's again (as it is where they are the same: the root)."""
    if isinstance(result, OpOk):
        path = view.outer_path(mount, result.entry.path)
        return result if path == result.entry.path else OpOk(replace(result.entry, path=path))
    if result.current is not None:
        path = view.outer_path(mount, result.current.path)
        return result if path == result.current.path else replace(result, current=replace(result.current, path=path))
    return result


def commit(conn: Connection, user_id: int, device_name: str, ops: Sequence[Op],
           now: int) -> tuple[list[OpResult], dict[int, int]]:
    """Apply ops in order; returns the results and each changed namespace's new seq.

    The counter rows of every namespace involved (and the user's root, whose block holdings a put may copy) are
    locked in ascending id order, the same order in every transaction, so concurrent commits never deadlock."""
    view = load_view(conn, user_id)
    planned = [plan(view, op) for op in ops]
    involved = sorted({view.root_ns, *(p.ns_id for p in planned if isinstance(p, _Routed)),
                       *(p.moves_mount.ns_id for p in planned if isinstance(p, _Routed) and p.moves_mount)})
    meters: dict[int, QuotaMeter] = {}  # one per owner: namespaces of one owner share their quota
    txns = {ns: TreeTxn(conn, ns, device_name, now, blocks_from=[view.root_ns], meters=meters) for ns in involved}
    for ns, txn in txns.items():
        txn.prefetch([p.op for p in planned if isinstance(p, _Routed) and p.ns_id == ns])
    results: list[OpResult] = []
    moved = False
    for op, routed in zip(ops, planned, strict=True):
        if moved:  # a mount moved earlier in this batch: route by where it is now (same namespaces, all locked)
            routed = plan(view, op)
            if isinstance(routed, _Routed) and routed.ns_id not in txns:
                routed = OpFail("conflict", "a shared folder moved in this request: send this op again")
        if isinstance(routed, OpFail):
            results.append(routed)
            continue
        result = txns[routed.ns_id].apply(routed.op)
        if routed.moves_mount is not None and isinstance(result, OpOk):
            _move_mount(conn, view, routed.moves_mount, result.entry.path, now)
            view = load_view(conn, user_id)
            moved = True
        results.append(_outer(view, routed.mount, result))
    seqs = {ns: txn.seq for ns, txn in txns.items() if txn.finish() != txn.start_seq}
    return results, seqs


def _move_mount(conn: Connection, view: View, mount: Mount, to: str, now: int) -> None:
    """Re-insert the mount at its new path under a new id: cursors naming the old id then list again."""
    conn.execute(delete(mounts).where(mounts.c.id == mount.id))
    conn.execute(insert(mounts).values(user_id=view.user_id, ns_id=mount.ns_id, path=to, path_key=path_key(to),
                                       role=mount.role, created_at=now))


def changes(conn: Connection, user_id: int, cursor: Cursor, limit: int) -> ChangePage:
    """The user's feed: their root namespace, then each mount, from the cursor's position in each.

    Root rows below a mount's folder are hidden (the mount's files are what the user sees there); a mount's rows
    carry the user's paths. A cursor that names other mounts than the user has now raises CursorExpired."""
    view = load_view(conn, user_id)
    if not cursor.is_start and cursor.mount_ids() != tuple(m.id for m in view.mounts):
        raise CursorExpired("the folders shared with you changed since this cursor: list again from cursor 0")
    at = dict(cursor.mounts)
    parts: list[tuple[Mount | None, int, int]] = [(None, view.root_ns, cursor.root)]
    parts += [(m, m.ns_id, at.get(m.id, 0)) for m in view.mounts]
    out: list[Entry] = []
    reached: list[int] = []
    has_more = False
    for mount, ns_id, pos in parts:
        room = limit - len(out)
        if room <= 0:
            reached.append(pos)
            has_more = True
            continue
        page = feed.changes(conn, ns_id, pos, room)
        reached.append(int(page.cursor))
        has_more = has_more or page.has_more
        for entry in page.entries:
            if mount is None and view.shadowed(entry.path):
                continue
            out.append(replace(entry, path=view.outer_path(mount, entry.path)) if mount is not None else entry)
    new = Cursor(reached[0], tuple((m.id, pos) for m, pos in zip(view.mounts, reached[1:], strict=True)))
    return ChangePage(entries=out, cursor=new.encode(), has_more=has_more)


def position(conn: Connection, user_id: int) -> tuple[Cursor, dict[int, int]]:
    """Where the user's feed ends now, and (position key → namespace) for waiting: key 0 is the root, others mount
    ids."""
    view = load_view(conn, user_id)
    cur = Cursor(feed.current_seq(conn, view.root_ns),
                 tuple((m.id, feed.current_seq(conn, m.ns_id)) for m in view.mounts))
    return cur, {0: view.root_ns, **{m.id: m.ns_id for m in view.mounts}}


def _lookup(conn: Connection, user_id: int, path: str) -> tuple[View, Route]:
    view = load_view(conn, user_id)
    return view, view.route(path)


def revisions(conn: Connection, user_id: int, path: str) -> list[Revision]:
    _view, where = _lookup(conn, user_id, path)
    return [replace(r, path=path) for r in feed.list_revisions(conn, where.ns_id, where.rel)]


def deleted(conn: Connection, user_id: int, prefix: str | None, since_ms: int) -> list[Entry]:
    """Tombstones within retention across the user's namespaces (newest first), with the user's paths."""
    view = load_view(conn, user_id)
    found: list[Entry] = []
    if prefix is None or view.route(prefix).mount is None:
        found += [e for e in feed.list_deleted(conn, view.root_ns, prefix, since_ms) if not view.shadowed(e.path)]
    for mount in view.mounts:
        if prefix is None or prefix == "" or mount.path == prefix or mount.path.startswith(prefix + "/"):
            inner = None
        elif prefix.startswith(mount.path + "/"):
            inner = prefix[len(mount.path) + 1:]
        else:
            continue
        found += [replace(e, path=view.outer_path(mount, e.path))
                  for e in feed.list_deleted(conn, mount.ns_id, inner, since_ms)]
    return sorted(found, key=lambda e: (e.changed_at, e.seq), reverse=True)


def restore(conn: Connection, user_id: int, device_name: str, path: str, rev: int,
            now: int) -> tuple[Entry, dict[int, int]]:
    view, where = _lookup(conn, user_id, path)
    if where.mount is not None and not where.mount.writable:
        raise RestoreError("read_only", f"the shared folder {where.mount.path!r} is shared with you read-only")
    revision = feed.get_revision(conn, where.ns_id, where.rel, rev)
    if revision is None:
        raise RestoreError("not_found", f"no revision {rev} of this path")
    if revision.deleted:
        raise RestoreError("bad_request", "that revision is a deletion; restore an earlier one")
    txn = TreeTxn(conn, where.ns_id, device_name, now)
    try:
        entry = txn.restore(revision)
    except RestoreError as exc:
        if exc.current is not None:
            exc.current = replace(exc.current, path=view.outer_path(where.mount, exc.current.path))
        raise
    seq = txn.finish()
    return replace(entry, path=view.outer_path(where.mount, entry.path)), {where.ns_id: seq}
