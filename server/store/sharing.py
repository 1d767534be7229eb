"""Sharing a folder between users: turning a folder into a namespace of its own, mounting it for members,
changing their role, revoking; and the listings of members and mounts.

Sharing a folder of the owner's root for the first time moves its subtree (entries with their seqs, revisions,
the block holdings they use) into a new namespace, and mounts that namespace where the folder was, so the owner
sees no change of path, rev or history; every later member gets a mount of the same namespace. Each step runs in
the caller's transaction with the counter rows of the namespaces it changes locked in ascending id order (as
commits do: no deadlock), and touches the changed users' roots, so their devices' long-polls wake and their
cursors, which name the old set of mounts, make them list again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import Connection, and_, delete, insert, select, update

from ferrysync.server.paths import is_within
from ferrysync.server.store.base import DeleteOp, MkdirOp, OpFail
from ferrysync.server.store.blockmarks import upsert
from ferrysync.server.store.rows import decode_blocks, path_key
from ferrysync.server.store.schema import (
    OWNER,
    READ_ONLY,
    READ_WRITE,
    SHARED,
    entries,
    mounts,
    namespaces,
    ns_blocks,
    revisions,
    users,
)
from ferrysync.server.store.tree import TreeTxn
from ferrysync.server.store.views import Mount, View, load_view, root_namespace

ROLES = (READ_WRITE, READ_ONLY)
# Each mount adds a position of up to ~40 characters to the user's feed cursor, which must stay within the 16,000
# characters the feed accepts back (routes/changes.py).
MAX_MOUNTS_PER_USER = 300
_IN_CHUNK = 500


class ShareError(Exception):
    """A sharing request refused: `status` and `code` are what the API answers."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Member:
    user: str
    role: str
    path: str | None = None  # where the member sees it (only told to the owner and the member themselves)


@dataclass(frozen=True)
class MountInfo:
    path: str
    role: str
    owner: str
    members: int


def _user_id(conn: Connection, name: str) -> int:
    uid = conn.execute(select(users.c.id).where(users.c.name == name)).scalar()
    if uid is None:
        raise ShareError(404, "no_such_user", f"no user named {name!r}")
    return int(uid)


def _owned_mount(view: View, path: str) -> Mount:
    """The caller's mount at `path`, which they must own."""
    mount = view.route(path).at_mount_point
    if mount is None:
        raise ShareError(404, "not_shared", "this folder is not shared")
    if not mount.owned:
        raise ShareError(403, "not_owner", "only the folder's owner can change who it is shared with")
    return mount


def _lock(conn: Connection, ns_ids: set[int], device: str, now: int) -> dict[int, TreeTxn]:
    return {ns: TreeTxn(conn, ns, device, now) for ns in sorted(ns_ids)}


def _finish(txns: dict[int, TreeTxn]) -> dict[int, int]:
    return {ns: txn.seq for ns, txn in txns.items() if txn.finish() != txn.start_seq}


def _touch(txn: TreeTxn, path: str) -> None:
    """Give the folder entry at `path` a new seq: the user's devices wake up and find their mounts changed."""
    entry = txn.live(path)
    if entry is not None:
        txn.store(replace(entry, seq=txn.next_seq(), changed_at=txn.now))


def share(conn: Connection, owner_id: int, device: str, path: str, member: str, role: str,
          now: int) -> tuple[Member, dict[int, int]]:
    """Share the owner's folder at `path` with `member` (role rw or ro); sharing again changes the role."""
    if role not in ROLES:
        raise ShareError(400, "bad_request", f"role must be one of {', '.join(ROLES)}")
    member_id = _user_id(conn, member)
    if member_id == owner_id:
        raise ShareError(400, "bad_request", "a folder is not shared with its owner")
    view = load_view(conn, owner_id)
    where = view.route(path)
    member_root = root_namespace(conn, member_id)
    txns = _lock(conn, {view.root_ns, member_root}, device, now)
    if where.at_mount_point is not None:
        ns_id = _owned_mount(view, path).ns_id
    elif where.mount is not None or view.mounts_below(path):
        raise ShareError(400, "nested_share", "a folder inside a shared folder, or holding one, cannot be shared")
    else:
        ns_id = _make_namespace(conn, txns[view.root_ns], view, path, now)
    existing = conn.execute(select(mounts.c.path).where(and_(mounts.c.user_id == member_id,
                                                             mounts.c.ns_id == ns_id))).scalar()
    if existing is not None:
        conn.execute(update(mounts).where(and_(mounts.c.user_id == member_id, mounts.c.ns_id == ns_id))
                     .values(role=role))
        return Member(member, role, existing), _finish(txns)
    member_view = load_view(conn, member_id)
    if len(member_view.mounts) >= MAX_MOUNTS_PER_USER:
        raise ShareError(409, "too_many_shares", f"{member} already has {MAX_MOUNTS_PER_USER} shared folders")
    at = _free_mount_path(txns[member_root], member_view, path.rsplit("/", 1)[-1], _name(conn, owner_id))
    made = txns[member_root].mkdir(MkdirOp(at, None))
    assert not isinstance(made, OpFail), made
    conn.execute(insert(mounts).values(user_id=member_id, ns_id=ns_id, path=at, path_key=path_key(at), role=role,
                                       created_at=now))
    return Member(member, role, at), _finish(txns)


def _name(conn: Connection, user_id: int) -> str:
    return str(conn.execute(select(users.c.name).where(users.c.id == user_id)).scalar_one())


def _free_mount_path(txn: TreeTxn, view: View, base: str, owner: str) -> str:
    """A top-level name of the member's tree nothing uses: `Team`, else `Team (alice)`, `Team (alice 2)`..."""
    candidates = [base, f"{base} ({owner})", *(f"{base} ({owner} {n})" for n in range(2, 1000))]
    for name in candidates:
        where = view.route(name)
        if txn.live(name) is None and where.mount is None and where.at_mount_point is None:
            return name
    raise ShareError(409, "conflict", "no free name for the shared folder in the member's tree")


def _make_namespace(conn: Connection, root: TreeTxn, view: View, path: str, now: int) -> int:
    """Move the subtree below `path` into a new namespace owned by the user, and mount it at `path`."""
    folder = root.live(path)
    if folder is None:
        raise ShareError(404, "not_found", "no folder at this path")
    if folder.kind != "dir":
        raise ShareError(400, "not_a_folder", "only folders can be shared with users (share links share files)")
    root_ns = view.root_ns
    pruned = conn.execute(select(namespaces.c.pruned_seq).where(namespaces.c.id == root_ns)).scalar_one()
    made = conn.execute(insert(namespaces).values(
        owner_id=view.user_id, kind=SHARED, seq=0, pruned_seq=pruned, created_at=now)).inserted_primary_key
    assert made is not None
    ns_id = int(made[0])
    prefix = path + "/"
    top, used = 0, set[str]()
    for table in (entries, revisions):
        rows = [r for r in conn.execute(select(table).where(and_(
            table.c.ns_id == root_ns, table.c.path.startswith(prefix, autoescape=True)))).mappings()
            if is_within(r["path"], path) and r["path"] != path]
        if table is revisions:
            ids = [r["id"] for r in rows]
            moved = [{k: v for k, v in r.items() if k != "id"} for r in rows]
        else:
            ids, moved = [], [dict(r) for r in rows]
        for row in moved:
            rel = row["path"][len(prefix):]
            row.update(ns_id=ns_id, path=rel, path_key=path_key(rel))
            top = max(top, int(row["seq"] if table is entries else row["rev"]))
            if row["kind"] == "file":
                used.update(decode_blocks(row["blocks"]))
        for i in range(0, len(moved), _IN_CHUNK):
            conn.execute(insert(table), moved[i:i + _IN_CHUNK])
        if table is entries:
            for i in range(0, len(rows), _IN_CHUNK):
                conn.execute(delete(entries).where(and_(entries.c.ns_id == root_ns, entries.c.path_key.in_(
                    [r["path_key"] for r in rows[i:i + _IN_CHUNK]]))))
        for i in range(0, len(ids), _IN_CHUNK):
            conn.execute(delete(revisions).where(revisions.c.id.in_(ids[i:i + _IN_CHUNK])))
    conn.execute(update(namespaces).where(namespaces.c.id == ns_id).values(seq=top))
    wanted = sorted(used)
    for i in range(0, len(wanted), _IN_CHUNK):
        held = conn.execute(select(ns_blocks.c.hash, ns_blocks.c.size).where(and_(
            ns_blocks.c.ns_id == root_ns, ns_blocks.c.hash.in_(wanted[i:i + _IN_CHUNK])))).all()
        if held:
            conn.execute(upsert(conn, ns_blocks).values(
                [{"ns_id": ns_id, "hash": h, "size": int(s), "created_at": now} for h, s in held])
                .on_conflict_do_nothing(index_elements=["ns_id", "hash"]))
    conn.execute(insert(mounts).values(user_id=view.user_id, ns_id=ns_id, path=path, path_key=path_key(path),
                                       role=OWNER, created_at=now))
    _touch(root, path)
    return ns_id


def _member_mount(conn: Connection, ns_id: int, member_id: int) -> Mount:
    row = conn.execute(select(mounts).where(and_(mounts.c.ns_id == ns_id, mounts.c.user_id == member_id))).first()
    if row is None or row.role == OWNER:
        raise ShareError(404, "not_a_member", "the folder is not shared with this user")
    return Mount(int(row.id), int(row.ns_id), row.path, row.role)


def set_role(conn: Connection, owner_id: int, path: str, member: str, role: str) -> Member:
    if role not in ROLES:
        raise ShareError(400, "bad_request", f"role must be one of {', '.join(ROLES)}")
    mount = _owned_mount(load_view(conn, owner_id), path)
    found = _member_mount(conn, mount.ns_id, _user_id(conn, member))
    conn.execute(update(mounts).where(mounts.c.id == found.id).values(role=role))
    return Member(member, role, found.path)


def unshare(conn: Connection, caller_id: int, device: str, path: str, member: str | None,
            now: int) -> dict[int, int]:
    """The owner revokes `member`; or a member (member None) leaves the folder mounted at `path`.

    The member's mount and its folder entry go; the namespace and the owner's data stay untouched."""
    view = load_view(conn, caller_id)
    if member is None:
        mount = view.route(path).at_mount_point
        if mount is None:
            raise ShareError(404, "not_shared", "no shared folder is mounted at this path")
        if mount.owned:
            raise ShareError(400, "bad_request", "the owner cannot leave their own folder; revoke its members")
        member_id, found = caller_id, mount
    else:
        owned = _owned_mount(view, path)
        member_id = _user_id(conn, member)
        found = _member_mount(conn, owned.ns_id, member_id)
    member_root = root_namespace(conn, member_id)
    txns = _lock(conn, {member_root}, device, now)
    txn = txns[member_root]
    entry = txn.live(found.path)
    conn.execute(delete(mounts).where(mounts.c.id == found.id))
    if entry is not None:
        # Whatever the member's root may still hold below the folder (hidden while mounted) shows again; the
        # folder entry itself goes, so their devices see the folder leave.
        result = txn.delete(DeleteOp(found.path, entry.seq))
        if isinstance(result, OpFail):
            txn.store(replace(entry, seq=txn.next_seq(), deleted=True, modified_by=device, changed_at=now))
    return _finish(txns)


def revoke_all(conn: Connection, owner_id: int, now: int) -> None:
    """Before an owner is removed: every member's mount of the owner's folders goes, with its folder entry."""
    rows = conn.execute(select(mounts.c.id, mounts.c.user_id, mounts.c.path).join(
        namespaces, namespaces.c.id == mounts.c.ns_id).where(and_(
            namespaces.c.owner_id == owner_id, mounts.c.user_id != owner_id))).all()
    roots = {int(r.user_id): root_namespace(conn, int(r.user_id)) for r in rows}
    txns = _lock(conn, set(roots.values()), "server", now)
    for r in rows:
        txn = txns[roots[int(r.user_id)]]
        conn.execute(delete(mounts).where(mounts.c.id == r.id))
        entry = txn.live(r.path)
        if entry is not None:
            txn.store(replace(entry, seq=txn.next_seq(), deleted=True, modified_by="server", changed_at=now))
    _finish(txns)


def members(conn: Connection, user_id: int, path: str) -> list[Member]:
    """Everyone the folder mounted at `path` is shared with, owner first (any member may ask)."""
    mount = load_view(conn, user_id).route(path).at_mount_point
    if mount is None:
        raise ShareError(404, "not_shared", "this folder is not shared")
    rows = conn.execute(select(users.c.name, mounts.c.role, mounts.c.path, mounts.c.user_id).join(
        users, users.c.id == mounts.c.user_id).where(mounts.c.ns_id == mount.ns_id)).all()
    found = [Member(r.name, r.role, r.path if mount.owned or r.user_id == user_id else None) for r in rows]
    return sorted(found, key=lambda m: (m.role != OWNER, m.user))


def list_mounts(conn: Connection, user_id: int) -> list[MountInfo]:
    out: list[MountInfo] = []
    for mount in load_view(conn, user_id).mounts:
        owner = conn.execute(select(users.c.name).join(namespaces, namespaces.c.owner_id == users.c.id)
                             .where(namespaces.c.id == mount.ns_id)).scalar_one()
        count = len(conn.execute(select(mounts.c.id).where(mounts.c.ns_id == mount.ns_id)).all())
        out.append(MountInfo(mount.path, mount.role, str(owner), count))
    return sorted(out, key=lambda m: m.path)
