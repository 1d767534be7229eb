"""One namespace's file tree inside one write transaction: the commit operations and restore.

Every operation checks everything first and writes only when it will succeed, so a failed op changes nothing
while the ops before and after it in the same request still apply. Each written row takes the next value of the
namespace's sequence counter (locked by the UPDATE in `TreeTxn.__init__` for the whole transaction). Paths here are
the namespace's own (a shared folder's files relative to it); server/store/routing.py maps users' paths onto them.

Written rows are held in this object and sent to the database in a few executemany statements (one per table
and kind of write) when the transaction finishes or before a query that must see them, rather than 3–4
statements per row: a commit of 1,000 small files spent most of its server time issuing single-row statements.
Reads by path are served from the same cache, so an op sees the rows the ops before it wrote either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, select, update

from ferrysync.server.hashing import content_hash
from ferrysync.server.paths import PathError, ancestors, is_within, rebase, validate_path
from ferrysync.server.store.base import (
    DeleteOp,
    Entry,
    MkdirOp,
    MoveOp,
    Op,
    OpFail,
    OpOk,
    OpResult,
    PutOp,
    RestoreError,
    Revision,
)
from ferrysync.server.store.blockmarks import upsert
from ferrysync.server.store.bulk import execute_many
from ferrysync.server.store.feed import live_bytes
from ferrysync.server.store.rows import (
    entry_from_row,
    entry_values,
    new_id,
    path_key,
    revision_values,
    version_values,
)
from ferrysync.server.store.schema import entries, namespaces, ns_blocks, revisions, users
from ferrysync.server.store.views import owner_of

_ABSENT = object()
_IN_CHUNK = 500
# Statements built once and executed with parameters: building them per row costs more than running them.
_INSERT_ENTRY = insert(entries)
_UPDATE_ENTRY = update(entries).where(and_(entries.c.ns_id == bindparam("b_ns"),
                                           entries.c.path_key == bindparam("b_key")))
_INSERT_REVISION = insert(revisions)
_SUPERSEDE = update(revisions).where(and_(
    revisions.c.ns_id == bindparam("b_ns"), revisions.c.path_key == bindparam("b_key"),
    revisions.c.superseded_at.is_(None))).values(superseded_at=bindparam("b_now"))


class QuotaMeter:
    """One user's quota and live bytes within a transaction. A namespace's files count against its owner (a shared
    folder's against whoever shared it), so the TreeTxns of one commit that write into namespaces of the same owner
    share one meter (`TreeTxn(meters=...)`): a commit cannot slip past the quota by spreading over namespaces."""

    def __init__(self, conn: Connection, owner_id: int) -> None:
        self._conn = conn
        self.owner_id = owner_id
        quota = conn.execute(select(users.c.quota_bytes).where(users.c.id == owner_id)).scalar()
        self.quota: int | None = None if quota is None else int(quota)
        self.used: int | None = None  # live bytes, read at the first op that could grow them

    def fits(self, grow: int) -> bool:
        if self.quota is None or grow <= 0:
            return True
        if self.used is None:
            self.used = live_bytes(self._conn, self.owner_id)
        return self.used + grow <= self.quota

    def grew(self, delta: int) -> None:
        if self.used is not None:
            self.used += delta


class TreeTxn:
    """Cached reads, seq allocation and batched writes of one namespace's rows within an open transaction.

    `blocks_from`: other namespaces whose block holdings a put may use (the committer's root, where their uploads
    are recorded); the caller holds their counter rows locked too, so garbage collection cannot drop a holding
    this transaction is copying. Holdings used from there are copied into this namespace, for every member.
    `meters`: quota meters by owner, shared between the TreeTxns of one transaction (see QuotaMeter)."""

    def __init__(self, conn: Connection, ns_id: int, device_name: str | None, now: int,
                 blocks_from: Sequence[int] = (), meters: dict[int, QuotaMeter] | None = None) -> None:
        self._conn = conn
        self._ns = ns_id
        self._blocks_from = [n for n in blocks_from if n != ns_id]
        self._own_blocks: set[str] = set()
        self._device = device_name
        self.now = now
        # Writing the counter row first makes this a write transaction from its first statement and, on
        # PostgreSQL, holds the row lock that serialises this user's commits until we finish. RETURNING reads the
        # value under that lock (the latest committed one), whatever the isolation level: so seqs are allocated in
        # commit order, and a reader that saw the counter at N has seen every row with seq <= N.
        self.seq: int = int(conn.execute(update(namespaces).where(namespaces.c.id == ns_id).values(seq=namespaces.c.seq)
                                         .returning(namespaces.c.seq)).scalar_one())
        self.start_seq = self.seq
        self._meters: dict[int, QuotaMeter] = {} if meters is None else meters
        self._meter_: QuotaMeter | None = None  # looked up at the first op that could grow the owner's bytes
        self._rows: dict[str, Entry | None] = {}
        self._block_sizes: dict[str, int] = {}
        # Rows stored but not yet written: path -> True when the database has no row there yet (INSERT), False
        # when it has one (UPDATE, and its open revision is superseded). The row itself is `_rows[path]`.
        self._pending: dict[str, bool] = {}
        self._pending_revisions: list[Entry] = []

    # -- reads ---------------------------------------------------------------------------------------------
    def prefetch(self, ops: Sequence[Op]) -> None:
        """Load the rows and block sizes a batch of ops will look at, in a few queries instead of several per op."""
        paths: dict[str, None] = {}
        hashes: list[str] = []
        for op in ops:
            targets = [op.path, op.to] if isinstance(op, MoveOp) else [op.path]
            for target in targets:
                paths.update(dict.fromkeys([*ancestors(target), target]))
            if isinstance(op, PutOp):
                hashes.extend(op.blocks)
        wanted = [p for p in paths if p not in self._rows]
        for i in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[i:i + _IN_CHUNK]
            found = self._conn.execute(select(entries).where(and_(
                entries.c.ns_id == self._ns, entries.c.path_key.in_([path_key(p) for p in chunk]))))
            rows = {r.path: entry_from_row(r) for r in found}
            for path in chunk:
                self._rows[path] = rows.get(path)
        self.block_sizes(hashes)

    def row(self, path: str) -> Entry | None:
        """The row at `path` (live or tombstone), or None when the path was never used."""
        cached = self._rows.get(path, _ABSENT)
        if cached is not _ABSENT:
            return cached  # type: ignore[return-value]
        found = self._conn.execute(select(entries).where(and_(
            entries.c.ns_id == self._ns, entries.c.path_key == path_key(path)))).first()
        entry = entry_from_row(found) if found is not None else None
        self._rows[path] = entry
        return entry

    def live(self, path: str) -> Entry | None:
        entry = self.row(path)
        return entry if entry is not None and not entry.deleted else None

    def live_descendants(self, root: str) -> list[Entry]:
        """Live rows strictly below `root`, sorted by path (so parents come before their children)."""
        self.flush()
        query = select(entries).where(and_(
            entries.c.ns_id == self._ns, entries.c.deleted.is_(False),
            entries.c.path.startswith(root + "/", autoescape=True)))
        # LIKE may be case-insensitive (SQLite): re-check segment-wise and case-sensitively here.
        found = [entry_from_row(r) for r in self._conn.execute(query)]
        return sorted((e for e in found if is_within(e.path, root) and e.path != root), key=lambda e: e.path)

    def has_live_children(self, root: str) -> bool:
        return bool(self.live_descendants(root))

    def file_id_live(self, file_id: str) -> bool:
        self.flush()
        query = select(entries.c.path).where(and_(
            entries.c.ns_id == self._ns, entries.c.file_id == file_id, entries.c.deleted.is_(False)))
        return self._conn.execute(query.limit(1)).first() is not None

    def block_sizes(self, hashes: Sequence[str]) -> dict[str, int]:
        """Sizes of those of `hashes` this namespace (or one of `blocks_from`) holds."""
        wanted = [h for h in dict.fromkeys(hashes) if h not in self._block_sizes]
        for i in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[i:i + _IN_CHUNK]
            query = select(ns_blocks.c.ns_id, ns_blocks.c.hash, ns_blocks.c.size).where(
                and_(ns_blocks.c.ns_id.in_([self._ns, *self._blocks_from]), ns_blocks.c.hash.in_(chunk)))
            for ns_id, digest, size in self._conn.execute(query):
                self._block_sizes[digest] = int(size)
                if int(ns_id) == self._ns:
                    self._own_blocks.add(digest)
        return {h: self._block_sizes[h] for h in hashes if h in self._block_sizes}

    @property
    def _meter(self) -> QuotaMeter:
        if self._meter_ is None:
            owner = owner_of(self._conn, self._ns)
            if owner not in self._meters:
                self._meters[owner] = QuotaMeter(self._conn, owner)
            self._meter_ = self._meters[owner]
        return self._meter_

    def fits(self, grow: int) -> bool:
        """Whether the namespace owner's live files may grow by `grow` bytes under their quota (shrinking always
        may). A shared folder's files count against its owner, whoever commits them."""
        return grow <= 0 or self._meter.fits(grow)

    def _grew(self, delta: int) -> None:
        if self._meter_ is not None or delta > 0:
            self._meter.grew(delta)

    def _quota_fail(self, grow: int) -> OpFail:
        return OpFail("quota_exceeded", f"this would use {grow} more bytes, over the account's quota of "
                      f"{self._meter.quota} bytes ({self._meter.used} used; a shared folder counts against its "
                      "owner's account): delete files or ask the operator for more room")

    # -- writes --------------------------------------------------------------------------------------------
    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def store(self, entry: Entry) -> Entry:
        """Make `entry` the row at its path and record it as that path's newest revision (written by `flush`)."""
        if entry.path not in self._pending:
            # No row: any revisions left at this path were superseded already (retention dropped the tombstone).
            self._pending[entry.path] = self.row(entry.path) is None
        self._pending_revisions.append(entry)
        self._rows[entry.path] = entry
        return entry

    def flush(self) -> None:
        """Write the stored rows: one executemany per statement, in the order the single-row writes had.

        A path stored several times since the last flush gets its final row once, and every revision but its
        last is written already superseded (what the per-row supersede of the next store did before).
        """
        if not self._pending:
            return
        ns = self._ns
        updated = [path for path, new in self._pending.items() if not new]
        inserted = [path for path, new in self._pending.items() if new]
        last = {entry.path: i for i, entry in enumerate(self._pending_revisions)}
        versions = [version_values(entry) for entry in self._pending_revisions]
        revision_rows = [{"ns_id": ns, **revision_values(entry, version),
                          "superseded_at": None if last[entry.path] == i else self.now}
                         for i, (entry, version) in enumerate(zip(self._pending_revisions, versions, strict=True))]

        def row(path: str) -> dict[str, Any]:  # the path's row is its last revision stored (`_rows[path]`)
            return entry_values(self._pending_revisions[last[path]], versions[last[path]])

        if updated:
            keys = [{"b_ns": ns, "b_key": versions[last[path]]["path_key"]} for path in updated]
            execute_many(self._conn, _SUPERSEDE, [{**key, "b_now": self.now} for key in keys])
            execute_many(self._conn, _UPDATE_ENTRY, [{**row(path), **key}
                                                     for path, key in zip(updated, keys, strict=True)])
        if inserted:
            execute_many(self._conn, _INSERT_ENTRY, [{"ns_id": ns, **row(path)} for path in inserted])
        execute_many(self._conn, _INSERT_REVISION, revision_rows)
        self._pending.clear()
        self._pending_revisions.clear()

    def finish(self) -> int:
        """Write the stored rows and save the counter; returns the namespace's seq after this transaction."""
        self.flush()
        if self.seq != self.start_seq:
            self._conn.execute(update(namespaces).where(namespaces.c.id == self._ns).values(seq=self.seq))
        return self.seq

    # -- operations ----------------------------------------------------------------------------------------
    def apply(self, op: Op) -> OpResult:
        if isinstance(op, PutOp):
            return self.put(op)
        if isinstance(op, MkdirOp):
            return self.mkdir(op)
        if isinstance(op, DeleteOp):
            return self.delete(op)
        return self.move(op)

    def put(self, op: PutOp) -> OpResult:
        missing_dirs, fail = self._parents(op.path)
        if fail is not None:
            return fail
        current = self.live(op.path)
        if (fail := _check_base(current, op.base_rev)) is not None:
            return fail
        if current is not None and current.kind == "dir":
            return OpFail("conflict", "a folder exists at this path", current=current)
        sizes = self.block_sizes(op.blocks)
        missing = tuple(h for h in dict.fromkeys(op.blocks) if h not in sizes)
        if missing:
            return OpFail("missing_blocks", f"{len(missing)} block(s) must be uploaded first", missing=missing)
        total = sum(sizes[h] for h in op.blocks)
        if total != op.size:
            return OpFail("bad_request", f"size {op.size} differs from the sum of the block sizes ({total})")
        grow = op.size - (current.size if current is not None else 0)
        if not self.fits(grow):
            return self._quota_fail(grow)
        self._grew(grow)
        self._make_dirs(missing_dirs)
        self._adopt_blocks(op.blocks, sizes)
        entry = Entry(
            path=op.path, kind="file", file_id=current.file_id if current is not None else new_id(),
            seq=self.next_seq(), deleted=False, size=op.size, mtime_ns=op.mtime_ns, executable=op.executable,
            content_hash=content_hash(list(op.blocks)), blocks=op.blocks, modified_by=self._device,
            changed_at=self.now)
        return OpOk(self.store(entry))

    def mkdir(self, op: MkdirOp) -> OpResult:
        missing_dirs, fail = self._parents(op.path)
        if fail is not None:
            return fail
        current = self.live(op.path)
        if current is not None:
            if current.kind == "dir" and op.base_rev in (None, current.seq):
                return OpOk(current)
            return OpFail("conflict", "the entry at this path differs from the expected one", current=current)
        if op.base_rev is not None:
            return OpFail("conflict", "no live entry at this path", current=None)
        self._make_dirs([*missing_dirs, op.path])
        made = self.live(op.path)
        assert made is not None
        return OpOk(made)

    def delete(self, op: DeleteOp) -> OpResult:
        current = self.live(op.path)
        if (fail := _check_base(current, op.base_rev)) is not None:
            return fail
        assert current is not None
        if current.kind == "dir" and self.has_live_children(op.path):
            return OpFail("not_empty", "the folder still has live entries", current=current)
        self._grew(-current.size if current.kind == "file" else 0)
        return OpOk(self.store(self._tombstone(current)))

    def move(self, op: MoveOp) -> OpResult:
        current = self.live(op.path)
        if (fail := _check_base(current, op.base_rev)) is not None:
            return fail
        assert current is not None
        if op.to == op.path:
            return OpOk(current)
        if is_within(op.to, op.path):
            return OpFail("bad_request", "cannot move a folder into itself")
        missing_dirs, fail = self._parents(op.to)
        if fail is not None:
            return fail
        target = self.live(op.to)
        if target is not None:
            return OpFail("conflict", "the destination exists", current=target)
        subtree = [current, *self.live_descendants(op.path)] if current.kind == "dir" else [current]
        for entry in subtree:  # a descendant's new path can pass the length limit that the root's passed
            try:
                validate_path(rebase(entry.path, op.path, op.to))
            except PathError as exc:
                return OpFail("bad_request", f"the move would create a path the API refuses, below "
                              f"{op.to[:100]!r}: {exc}")
        self._make_dirs(missing_dirs)
        # New paths parents-first, then tombstones children-first: every prefix of the feed is a valid tree.
        moved = [self.store(replace(e, path=rebase(e.path, op.path, op.to), seq=self.next_seq(),
                                    modified_by=self._device, changed_at=self.now)) for e in subtree]
        for old in reversed(subtree):
            self.store(self._tombstone(old))
        return OpOk(moved[0])

    def restore(self, revision: Revision) -> Entry:
        """Make `revision`'s content the live entry at its path again (a new rev)."""
        path = revision.path
        missing_dirs, fail = self._parents(path)
        if fail is not None:
            raise RestoreError("conflict", fail.message, fail.current)
        current = self.live(path)
        if revision.kind == "dir":
            if current is not None and current.kind == "dir":
                return current
            if current is not None:
                raise RestoreError("conflict", "a file exists at this path", current)
            self._make_dirs([*missing_dirs, path])
            made = self.live(path)
            assert made is not None
            return made
        if current is not None and current.kind == "dir":
            raise RestoreError("conflict", "a folder exists at this path", current)
        if len(self.block_sizes(revision.blocks)) != len(set(revision.blocks)):
            raise RestoreError("not_found", "the content of this revision is no longer stored")
        grow = revision.size - (current.size if current is not None else 0)
        if not self.fits(grow):
            raise RestoreError("quota_exceeded", self._quota_fail(grow).message)
        self._grew(grow)
        if current is not None:
            file_id = current.file_id
        else:
            file_id = new_id() if self.file_id_live(revision.file_id) else revision.file_id
        self._make_dirs(missing_dirs)
        entry = Entry(
            path=path, kind="file", file_id=file_id, seq=self.next_seq(), deleted=False, size=revision.size,
            mtime_ns=revision.mtime_ns, executable=revision.executable, content_hash=revision.content_hash,
            blocks=revision.blocks, modified_by=self._device, changed_at=self.now)
        return self.store(entry)

    # -- helpers -------------------------------------------------------------------------------------------
    def _adopt_blocks(self, blocks: Sequence[str], sizes: dict[str, int]) -> None:
        """Record as held here the blocks a put found only in `blocks_from` (members download from here)."""
        foreign = sorted(set(blocks) - self._own_blocks)
        if not foreign:
            return
        stmt = upsert(self._conn, ns_blocks).values(
            [{"ns_id": self._ns, "hash": h, "size": sizes[h], "created_at": self.now} for h in foreign])
        self._conn.execute(stmt.on_conflict_do_nothing(index_elements=["ns_id", "hash"]))
        self._own_blocks.update(foreign)

    def _parents(self, path: str) -> tuple[list[str], OpFail | None]:
        """Ancestors to create, or a conflict if one of them is a file."""
        to_make: list[str] = []
        for parent in ancestors(path):
            entry = self.live(parent)
            if entry is None:
                to_make.append(parent)
            elif entry.kind == "file":
                return [], OpFail("conflict", f"an ancestor is a file: {parent}", current=entry)
        return to_make, None

    def _make_dirs(self, paths: Sequence[str]) -> None:
        for path in paths:
            self.store(Entry(path=path, kind="dir", file_id=new_id(), seq=self.next_seq(), deleted=False,
                             modified_by=self._device, changed_at=self.now))

    def _tombstone(self, entry: Entry) -> Entry:
        # The tombstone keeps the last content fields so the deleted list can show what was removed.
        return replace(entry, seq=self.next_seq(), deleted=True, modified_by=self._device, changed_at=self.now)


def _check_base(current: Entry | None, base_rev: int | None) -> OpFail | None:
    if base_rev is None:
        if current is not None:
            return OpFail("conflict", "an entry already exists at this path", current=current)
        return None
    if current is None:
        return OpFail("conflict", "no live entry at this path", current=None)
    if current.seq != base_rev:
        return OpFail("conflict", f"the entry is at rev {current.seq}, not {base_rev}", current=current)
    return None
