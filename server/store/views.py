"""What one user sees: their root namespace and the shared namespaces mounted in it, and how paths route.

A path of the user's tree belongs to the mount whose folder holds it (the path relative to that folder is its path
in the shared namespace), or else to the root namespace. The mount's folder itself is a plain folder entry of the
root namespace: moving it moves the mount, and nothing else of the root can live below it. `View` is pure;
`load_view` reads it inside the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, and_, select

from ferrysync.server.paths import is_within
from ferrysync.server.store.schema import OWNER, READ_ONLY, ROOT, mounts, namespaces


@dataclass(frozen=True)
class Mount:
    id: int
    ns_id: int
    path: str
    role: str

    @property
    def writable(self) -> bool:
        return self.role != READ_ONLY

    @property
    def owned(self) -> bool:
        return self.role == OWNER


@dataclass(frozen=True)
class Route:
    """Where a user's path lives: namespace `ns_id` at `rel`; `mount` is None for the root namespace.

    `at_mount_point`: the path is a mount's folder itself (a root entry, but not one to delete or write into)."""

    ns_id: int
    rel: str
    mount: Mount | None = None
    at_mount_point: Mount | None = None


@dataclass(frozen=True)
class View:
    user_id: int
    root_ns: int
    mounts: tuple[Mount, ...] = ()  # ascending id

    def route(self, path: str) -> Route:
        for mount in self.mounts:
            if path == mount.path:
                return Route(self.root_ns, path, None, at_mount_point=mount)
            if is_within(path, mount.path):
                return Route(mount.ns_id, path[len(mount.path) + 1:], mount)
        return Route(self.root_ns, path)

    def outer_path(self, mount: Mount | None, rel: str) -> str:
        """The user's path of `rel` in the mount's namespace (the root's paths are the user's own)."""
        return rel if mount is None else f"{mount.path}/{rel}"

    def shadowed(self, path: str) -> bool:
        """A root-namespace path below a mount's folder: hidden (the mount's files are what the user sees there)."""
        return any(path != m.path and is_within(path, m.path) for m in self.mounts)

    def mounts_below(self, path: str) -> list[Mount]:
        """Mounts at or below `path` (a folder holding a mount cannot be moved into another namespace)."""
        return [m for m in self.mounts if is_within(m.path, path)]

    def mount_of(self, ns_id: int) -> Mount | None:
        return next((m for m in self.mounts if m.ns_id == ns_id), None)


def root_namespace(conn: Connection, user_id: int) -> int:
    return int(conn.execute(select(namespaces.c.id).where(and_(
        namespaces.c.owner_id == user_id, namespaces.c.kind == ROOT))).scalar_one())


def load_view(conn: Connection, user_id: int) -> View:
    rows = conn.execute(select(mounts.c.id, mounts.c.ns_id, mounts.c.path, mounts.c.role)
                        .where(mounts.c.user_id == user_id).order_by(mounts.c.id)).all()
    return View(user_id, root_namespace(conn, user_id),
                tuple(Mount(int(r.id), int(r.ns_id), r.path, r.role) for r in rows))


def owner_of(conn: Connection, ns_id: int) -> int:
    """The user a namespace's storage counts against (its owner): what a quota check charges a commit to."""
    return int(conn.execute(select(namespaces.c.owner_id).where(namespaces.c.id == ns_id)).scalar_one())
