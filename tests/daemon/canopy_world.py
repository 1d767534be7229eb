"""The in-memory disk, server and executor that tests/daemon/test_canopy.py runs the planner against.

Test support only (no tests here): a flat path -> node disk that can fold names like NTFS/APFS, a server that
enforces the API contract's base_rev, parent and not-empty rules and keeps every content it stored (revisions),
and `World.apply`, which runs one action with the guards and merge-base records docs/sync-model.md specifies
for the executor.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ferrysync.daemon.local.names import Profile, fold
from ferrysync.daemon.model import Kind, LocalEntry, RemoteEntry, SyncedEntry
from ferrysync.daemon.planner import (
    Action,
    ConflictCopy,
    DeleteLocal,
    DeleteRemote,
    Download,
    ForgetSynced,
    MkdirLocal,
    MkdirRemote,
    MoveLocal,
    MoveRemote,
    PathRows,
    RecordSynced,
    Upload,
    merge_base,
)


class Refused(Exception):
    """A guard failed: the simulated executor changes nothing."""


def h(content: str) -> str:
    return f"h:{content}"


def parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def under(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")


@dataclass
class Node:
    kind: Kind
    content: str = ""
    executable: bool = False
    inode: int = 0
    mtime: int = 0


@dataclass
class Disk:
    """The local folder: a flat dict of paths; every parent of an entry is a folder."""

    nodes: dict[str, Node] = field(default_factory=dict)
    clock: int = 0
    report_inodes: bool = True  # False: a file system whose scanner cannot tell inodes (moves pair by hash)
    profile: Profile = Profile.LINUX  # a case-insensitive profile makes the disk fold names like NTFS/APFS

    def exists(self, path: str) -> bool:
        key = fold(path, self.profile)
        return any(fold(p, self.profile) == key for p in self.nodes)

    def check_free(self, path: str, moving: str | None = None) -> None:
        """Refuse (as the OS would, by finding the other entry) a name this disk holds in another spelling."""
        taken = {fold(p, self.profile): p for p in self.nodes if moving is None or not under(p, moving)}
        for prefix in [*parents(path), path]:
            other = taken.get(fold(prefix, self.profile))
            if other is not None and other != prefix:
                raise Refused(f"{prefix} is {other} on this disk")

    def tick(self) -> int:
        self.clock += 1
        return self.clock

    def row(self, path: str) -> LocalEntry | None:
        n = self.nodes.get(path)
        if n is None:
            return None
        inode = n.inode if self.report_inodes else 0
        if n.kind is Kind.FILE:
            return LocalEntry(path, Kind.FILE, len(n.content), n.mtime, inode, n.executable, h(n.content),
                              (h(n.content),))
        target = "elsewhere" if n.kind is Kind.SYMLINK else None
        return LocalEntry(path, n.kind, inode=inode, link_target=target)

    def live_row(self, path: str) -> LocalEntry:
        row = self.row(path)
        assert row is not None, path
        return row

    def make_parents(self, path: str) -> None:
        self.check_free(path)
        for p in parents(path):
            node = self.nodes.get(p)
            if node is None:
                self.nodes[p] = Node(Kind.DIR, inode=self.tick())
            elif node.kind is not Kind.DIR:
                raise Refused(f"{p} is not a folder")

    def write(self, path: str, content: str, executable: bool = False) -> None:
        self.make_parents(path)
        old = self.nodes.get(path)
        if old is not None and old.kind is not Kind.FILE:
            raise Refused(f"{path} is a {old.kind}")
        inode = old.inode if old is not None else self.tick()
        self.nodes[path] = Node(Kind.FILE, content, executable, inode, self.tick())

    def mkdir(self, path: str) -> None:
        self.make_parents(path)
        if path not in self.nodes:
            self.nodes[path] = Node(Kind.DIR, inode=self.tick())
        elif self.nodes[path].kind is not Kind.DIR:
            raise Refused(f"{path} exists")

    def children(self, path: str) -> list[str]:
        return [p for p in self.nodes if p.startswith(path + "/")]

    def move(self, src: str, dst: str) -> None:
        if dst in self.nodes or under(dst, src):
            raise Refused(f"cannot move {src} to {dst}")
        self.check_free(dst, moving=src)
        for p in parents(dst):
            if p not in self.nodes:
                self.nodes[p] = Node(Kind.DIR, inode=self.tick())
            elif self.nodes[p].kind is not Kind.DIR:
                raise Refused(f"{p} is not a folder")
        for p in sorted(p for p in self.nodes if under(p, src)):
            self.nodes[dst + p[len(src):]] = self.nodes.pop(p)

    def remove_tree(self, path: str) -> None:
        for p in [p for p in self.nodes if under(p, path)]:
            del self.nodes[p]


@dataclass
class Entry:
    kind: Kind
    file_id: str
    rev: int
    content: str = ""
    executable: bool = False
    mtime: int = 0


@dataclass
class Server:
    """The server: live entries by path, a per-user sequence, and every content it ever stored (revisions)."""

    live: dict[str, Entry] = field(default_factory=dict)
    seq: int = 0
    ids: int = 0
    revisions: set[str] = field(default_factory=set)

    def bump(self) -> int:
        self.seq += 1
        return self.seq

    def row(self, path: str) -> RemoteEntry | None:
        e = self.live.get(path)
        if e is None:
            return None
        if e.kind is Kind.DIR:
            return RemoteEntry(path, Kind.DIR, e.file_id, e.rev)
        return RemoteEntry(path, Kind.FILE, e.file_id, e.rev, len(e.content), e.mtime, e.executable,
                           h(e.content), (h(e.content),))

    def live_row(self, path: str) -> RemoteEntry:
        row = self.row(path)
        assert row is not None, path
        return row

    def _check_base(self, path: str, base_rev: int | None) -> Entry | None:
        cur = self.live.get(path)
        if base_rev is None and cur is not None:
            raise Refused(f"conflict: {path} exists")
        if base_rev is not None and (cur is None or cur.rev != base_rev):
            raise Refused(f"conflict: {path} not at rev {base_rev}")
        return cur

    def _parents(self, path: str) -> None:
        for p in parents(path):
            e = self.live.get(p)
            if e is None:
                self.ids += 1
                self.live[p] = Entry(Kind.DIR, f"id{self.ids}", self.bump())
            elif e.kind is not Kind.DIR:
                raise Refused(f"conflict: ancestor {p} is a file")

    def put(self, path: str, content: str, executable: bool, mtime: int, base_rev: int | None) -> RemoteEntry:
        cur = self._check_base(path, base_rev)
        if cur is not None and cur.kind is not Kind.FILE:
            raise Refused("conflict: a folder is there")
        if any(self.live.get(p) is not None and self.live[p].kind is not Kind.DIR for p in parents(path)):
            raise Refused("conflict: ancestor is a file")
        self._parents(path)
        if cur is None:
            self.ids += 1
        file_id = cur.file_id if cur is not None else f"id{self.ids}"
        self.live[path] = Entry(Kind.FILE, file_id, self.bump(), content, executable, mtime)
        self.revisions.add(content)
        return self.live_row(path)

    def mkdir(self, path: str, base_rev: int | None) -> RemoteEntry:
        cur = self.live.get(path)
        if cur is not None and cur.kind is Kind.DIR and base_rev is None:
            return self.live_row(path)
        self._check_base(path, base_rev)
        if any(self.live.get(p) is not None and self.live[p].kind is not Kind.DIR for p in parents(path)):
            raise Refused("conflict: ancestor is a file")
        self._parents(path)
        self.ids += 1
        self.live[path] = Entry(Kind.DIR, f"id{self.ids}", self.bump())
        return self.live_row(path)

    def delete(self, path: str, base_rev: int) -> None:
        self._check_base(path, base_rev)
        if any(p.startswith(path + "/") for p in self.live):
            raise Refused("not_empty")
        del self.live[path]

    def move(self, src: str, dst: str, base_rev: int) -> RemoteEntry:
        self._check_base(src, base_rev)
        if dst in self.live or under(dst, src):
            raise Refused("conflict: destination exists")
        if any(self.live.get(p) is not None and self.live[p].kind is not Kind.DIR for p in parents(dst)):
            raise Refused("conflict: ancestor is a file")
        self._parents(dst)
        for p in sorted(p for p in self.live if under(p, src)):
            e = self.live.pop(p)
            self.live[dst + p[len(src):]] = dataclasses.replace(e, rev=self.bump())
        return self.live_row(dst)


@dataclass
class World:
    disk: Disk = field(default_factory=Disk)
    server: Server = field(default_factory=Server)
    synced: dict[str, SyncedEntry] = field(default_factory=dict)

    def rows(self) -> list[PathRows]:
        paths = set(self.disk.nodes) | set(self.server.live) | set(self.synced)
        return [PathRows(p, self.disk.row(p), self.server.row(p), self.synced.get(p)) for p in sorted(paths)]

    def expect(self, path: str, row: LocalEntry | None) -> None:
        if self.disk.row(path) != row:
            raise Refused(f"{path} changed on disk")

    def reroot(self, src: str, dst: str) -> None:
        for p in [p for p in self.synced if under(p, src)]:
            row = self.synced.pop(p)
            self.synced[dst + p[len(src):]] = dataclasses.replace(row, path=dst + p[len(src):])

    def apply(self, a: Action) -> None:  # noqa: C901 - one branch per action type, as the executor's dispatch
        """Run one action as the executor would, or raise Refused and change nothing."""
        d, s = self.disk, self.server
        if isinstance(a, Upload):
            self.expect(a.path, a.local)
            node = d.nodes[a.path]
            entry = s.put(a.path, node.content, node.executable, node.mtime, a.base_rev)
            self.synced[a.path] = merge_base(a.local, entry)
        elif isinstance(a, Download):
            self.expect(a.path, a.expect_local)
            if a.expect_local is not None and a.expect_local.kind is not Kind.FILE:
                raise Refused("download over a non-file")
            assert a.remote.content_hash is not None
            d.write(a.path, a.remote.content_hash[2:], a.remote.executable)
            self.synced[a.path] = merge_base(d.live_row(a.path), a.remote)
        elif isinstance(a, DeleteLocal):
            self.expect(a.path, a.expect_local)
            if d.children(a.path):
                raise Refused("folder not empty")
            del d.nodes[a.path]
            self.synced.pop(a.path, None)
        elif isinstance(a, DeleteRemote):
            s.delete(a.path, a.base_rev)
            self.synced.pop(a.path, None)
        elif isinstance(a, MkdirLocal):
            d.mkdir(a.path)
            self.synced[a.path] = merge_base(d.live_row(a.path), a.remote)
        elif isinstance(a, MkdirRemote):
            self.expect(a.path, a.local)
            self.synced[a.path] = merge_base(a.local, s.mkdir(a.path, a.base_rev))
        elif isinstance(a, MoveLocal):
            self.expect(a.src, a.expect_local)
            d.move(a.src, a.dst)
            self.reroot(a.src, a.dst)
        elif isinstance(a, MoveRemote):
            if a.local is not None:
                self.expect(a.dst, a.local)
            s.move(a.src, a.dst, a.base_rev)
            if a.local is None:
                self.synced.pop(a.src, None)
            else:
                self.reroot(a.src, a.dst)
        elif isinstance(a, ConflictCopy):
            self.expect(a.path, a.expect_local)
            if a.copy_name in d.nodes:
                raise Refused("conflict name taken")
            d.move(a.path, a.copy_name)
            self.synced.pop(a.path, None)
            if a.remote is not None:
                assert a.remote.content_hash is not None
                d.write(a.path, a.remote.content_hash[2:], a.remote.executable)
                self.synced[a.path] = merge_base(d.live_row(a.path), a.remote)
        elif isinstance(a, RecordSynced):
            self.synced[a.path] = a.row
        elif isinstance(a, ForgetSynced):
            self.synced.pop(a.path, None)
        else:
            raise AssertionError(f"unexpected action {a!r}")

    def contents(self) -> tuple[set[str], set[str]]:
        local = {n.content for n in self.disk.nodes.values() if n.kind is Kind.FILE}
        remote = {e.content for e in self.server.live.values() if e.kind is Kind.FILE}
        return local, remote
