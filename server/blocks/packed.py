"""Blocks appended to pack files, found through a SQLite index beside them: ROOT/index.db, ROOT/NNNNNNNN.pack.

Why packs: a file per block costs a create, a rename and its share of two filesystem flushes per block; appending a
whole batch to one file and flushing it once is ~10x faster for 4 KiB blocks here (bench/blockstore_bench.py), and
a sealed pack never changes again, so backups copy only new packs. Why an index in SQLite beside the packs and not
in the metadata database: the packs and their index live and are backed up together on this disk, whichever
database (SQLite or PostgreSQL) holds the metadata.

Durable with one flush per batch: a batch is written with one pwrite and made durable with one fdatasync of the
pack, then its index rows are committed with synchronous=NORMAL (WAL: durable against a killed process at once,
against power loss at the next checkpoint). A commit lost to power loss costs nothing: every record names its
block (packfile.py), so whatever lies past a pack's indexed size is read back, verified and indexed by the next
writer or start. A record cut short by a crash fails that check and is never indexed or served. Nothing here ever
truncates a pack: bytes past the last good record are skipped, and repacking drops them.

Garbage collection deletes index rows (`delete_if_older`: one SQL statement, atomic against a refresh); `compact`
then repacks each sealed pack whose live blocks fill less than half of it: their bytes are appended to the active
pack and flushed, the index moved in one fully synchronous commit, and only then the old pack unlinked. A reader
that looked a block up in the old pack and finds the file gone looks again (readers never lock); one that had it
open reads on from the unlinked file.

One writer at a time across processes (`serve` and a `ferry-server gc` beside it): appends, repacks and recovery
hold an flock on ROOT/lock (POSIX; elsewhere one process only).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from ferrysync.server.blocks.base import fsync_dir, verified
from ferrysync.server.blocks.packfile import HEADER_BYTES, read_at, record, scan
from ferrysync.server.hashing import is_block_hash
from ferrysync.server.limits import MAX_BLOCK

log = logging.getLogger("ferrysync.server.blocks")

PACK_BYTES = 32 * 1024 * 1024  # a new pack once the active one holds this much
REPACK_BELOW = 0.5  # repack a sealed pack whose live blocks fill less than this fraction of it
_IN_CHUNK = 500
_SCHEMA = """
CREATE TABLE IF NOT EXISTS packs (id INTEGER PRIMARY KEY, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
    hash TEXT PRIMARY KEY, pack INTEGER NOT NULL, offset INTEGER NOT NULL, length INTEGER NOT NULL,
    stored_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blocks_by_pack ON blocks (pack);
"""
_datasync = getattr(os, "fdatasync", os.fsync)


class PackedBlockStore:
    def __init__(self, root: Path, pack_bytes: int = PACK_BYTES, repack_below: float = REPACK_BELOW) -> None:
        self.root = root
        self.pack_bytes = pack_bytes
        self.repack_below = repack_below
        root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()  # the writer connection and the active pack's fd, within this process
        self._lock_fd = os.open(root / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._w = self._connect()
        self._active_fd: tuple[int, int] | None = None  # (pack id, fd open for writing)
        with self._writing():
            self._w.executescript(_SCHEMA)
            self._recover_all()

    # -- connections and locks -----------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.root / "index.db", isolation_level=None, check_same_thread=False, timeout=60)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            with self._lock:
                self._readers.append(conn)
        return conn

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        with self._lock:
            _flock(self._lock_fd, True)
            try:
                yield
            finally:
                _flock(self._lock_fd, False)

    @contextlib.contextmanager
    def _txn(self, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction on the writer connection; `durable` flushes the WAL at commit (repacking)."""
        if durable:
            self._w.execute("PRAGMA synchronous=FULL")
        self._w.execute("BEGIN IMMEDIATE")
        try:
            yield self._w
        except BaseException:
            self._w.execute("ROLLBACK")
            raise
        else:
            self._w.execute("COMMIT")
        finally:
            if durable:
                self._w.execute("PRAGMA synchronous=NORMAL")

    def close(self) -> None:
        with self._lock:
            if self._active_fd is not None:
                os.close(self._active_fd[1])
                self._active_fd = None
            for conn in [self._w, *self._readers]:
                conn.close()
            os.close(self._lock_fd)

    # -- the BlockStore protocol ----------------------------------------------------------------------------

    def has(self, digest: str) -> bool:
        _check(digest)
        return self._reader().execute("SELECT 1 FROM blocks WHERE hash = ?", (digest,)).fetchone() is not None

    def put(self, digest: str, data: bytes) -> None:
        self.put_many([(digest, data)])

    def put_many(self, items: list[tuple[str, bytes]]) -> None:
        todo = dict(items)
        for digest in todo:
            _check(digest)
        if not todo:
            return
        with self._writing():
            now = time.time()
            missing = self._refresh(list(todo), now)
            if not missing:
                return
            pack, placed, size = self._append([(d, todo[d]) for d in missing])
            with self._txn() as conn:
                conn.executemany("INSERT OR REPLACE INTO blocks VALUES (?, ?, ?, ?, ?)",
                                 [(d, pack, offset, length, now) for d, offset, length in placed])
                conn.execute("UPDATE packs SET size = ? WHERE id = ?", (size, pack))

    def refresh_many(self, digests: list[str]) -> list[str]:
        """Mark the blocks already stored here as just stored (collection spares them); return the others."""
        for digest in digests:
            _check(digest)
        if not digests:
            return []
        with self._writing():
            return self._refresh(digests, time.time())

    def get(self, digest: str) -> bytes:
        _check(digest)
        for _ in range(10):
            row = self._reader().execute("SELECT pack, offset, length FROM blocks WHERE hash = ?",
                                         (digest,)).fetchone()
            if row is None:
                raise KeyError(digest)
            pack, offset, length = row
            path = self._pack_path(pack)
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue  # repacked between the look-up and the open: the index says where it went
            try:
                data = read_at(fd, offset, length)
            finally:
                os.close(fd)
            return verified(digest, data, f"{path} at byte {offset}")
        raise KeyError(digest)

    def delete(self, digest: str) -> None:
        _check(digest)
        with self._lock:
            self._w.execute("DELETE FROM blocks WHERE hash = ?", (digest,))

    def delete_if_older(self, digest: str, cutoff_s: float) -> bool:
        """One statement, so a refresh (put of an existing block) either lands first and spares it, or finds it gone
        and writes it again."""
        _check(digest)
        with self._lock:
            cur = self._w.execute("DELETE FROM blocks WHERE hash = ? AND stored_at < ?", (digest, cutoff_s))
            return cur.rowcount > 0

    def iter(self) -> Iterator[str]:
        last = ""
        while True:  # a page at a time: no read transaction stays open while the caller deletes
            page = [h for (h,) in self._reader().execute(
                "SELECT hash FROM blocks WHERE hash > ? ORDER BY hash LIMIT 1000", (last,))]
            yield from page
            if len(page) < 1000:
                return
            last = page[-1]

    def compact(self) -> int:
        """Repack sealed packs that are mostly dead; returns the bytes given back to the filesystem."""
        freed = 0
        for pack in self._repack_candidates():
            with self._writing():
                freed += self._repack(pack)
        if freed:
            log.info("repacking gave back %d bytes", freed)
        return freed

    # -- writing --------------------------------------------------------------------------------------------

    def _refresh(self, digests: list[str], now: float) -> list[str]:
        """Mark the blocks already stored as just stored (collection spares them); return the others."""
        present: set[str] = set()
        with self._txn() as conn:
            for i in range(0, len(digests), _IN_CHUNK):
                chunk = digests[i:i + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                present.update(h for (h,) in conn.execute(f"SELECT hash FROM blocks WHERE hash IN ({marks})", chunk))
                conn.execute(f"UPDATE blocks SET stored_at = ? WHERE hash IN ({marks})", [now, *chunk])
        return [d for d in digests if d not in present]

    def _append(self, items: Iterable[tuple[str, bytes]]) -> tuple[int, list[tuple[str, int, int]], int]:
        """Write records at the end of the active pack and flush it once: (pack, [(hash, offset, length)], size)."""
        pack, fd, size = self._active()
        placed: list[tuple[str, int, int]] = []
        parts: list[bytes] = []
        end = size
        for digest, data in items:
            placed.append((digest, end + HEADER_BYTES, len(data)))
            parts.append(record(digest, data))
            end += HEADER_BYTES + len(data)
        _write_all(fd, b"".join(parts), size)
        _datasync(fd)
        return pack, placed, end

    def _active(self) -> tuple[int, int, int]:
        """The pack to append to (a new one once it is full), its fd, and its size, recovering any unindexed tail."""
        row = self._w.execute("SELECT id, size FROM packs ORDER BY id DESC LIMIT 1").fetchone()
        if row is None or row[1] >= self.pack_bytes:
            pack = row[0] + 1 if row else 1
            os.close(os.open(self._pack_path(pack), os.O_WRONLY | os.O_CREAT, 0o600))
            fsync_dir(self.root)
            with self._txn() as conn:
                conn.execute("INSERT OR IGNORE INTO packs VALUES (?, 0)", (pack,))
            row = (pack, 0)
        pack, size = row
        if self._active_fd is None or self._active_fd[0] != pack:
            if self._active_fd is not None:
                os.close(self._active_fd[1])
            self._active_fd = (pack, os.open(self._pack_path(pack), os.O_RDWR | os.O_CREAT, 0o600))
        fd = self._active_fd[1]
        actual = os.fstat(fd).st_size
        if actual > size:  # a writer died between its flush and its index commit, or in the middle of writing
            size = self._recover(pack, fd, size, actual)
        return pack, fd, size

    def _recover(self, pack: int, fd: int, start: int, end: int) -> int:
        """Index the intact records between `start` and `end`; skip the rest. Returns the pack's new size."""
        found = list(scan(fd, start, end, MAX_BLOCK))
        good_end = max((f.offset + f.length for f in found), default=start)
        now = time.time()
        with self._txn() as conn:
            conn.executemany("INSERT OR IGNORE INTO blocks VALUES (?, ?, ?, ?, ?)",
                             [(f.digest, pack, f.offset, f.length, now) for f in found])
            conn.execute("INSERT INTO packs VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET size = excluded.size",
                         (pack, end))
        if found or end > good_end:
            log.warning("pack %s: indexed %d unindexed block(s) found past its recorded end; skipped %d torn "
                        "byte(s)", self._pack_path(pack), len(found), end - good_end)
        return end

    def _recover_all(self) -> None:
        """At start: index what a crash or a lost commit left unindexed in any pack (all of them, if the index is
        new: the packs alone are enough to rebuild it)."""
        sizes = dict(self._w.execute("SELECT id, size FROM packs").fetchall())
        for path in sorted(self.root.glob("*.pack")):
            if not (path.stem.isascii() and path.stem.isdigit()):
                continue
            pack = int(path.stem)
            fd = os.open(path, os.O_RDONLY)
            try:
                end = os.fstat(fd).st_size
                if end > sizes.get(pack, 0) or pack not in sizes:
                    self._recover(pack, fd, sizes.get(pack, 0), end)
            finally:
                os.close(fd)

    # -- repacking ------------------------------------------------------------------------------------------

    def _repack_candidates(self) -> list[int]:
        rows = self._reader().execute(
            "SELECT p.id, p.size, COALESCE(SUM(b.length), 0) + COUNT(b.hash) * ? FROM packs p "
            "LEFT JOIN blocks b ON b.pack = p.id WHERE p.id < (SELECT MAX(id) FROM packs) GROUP BY p.id",
            (HEADER_BYTES,)).fetchall()
        return [pack for pack, size, live in rows if live < size * self.repack_below]

    def _repack(self, pack: int) -> int:
        """Move a pack's live blocks to the active pack, then drop it (unless it became the active one)."""
        top = self._w.execute("SELECT MAX(id) FROM packs").fetchone()[0]
        if pack == top:
            return 0
        path = self._pack_path(pack)
        live = self._w.execute("SELECT hash, offset, length FROM blocks WHERE pack = ? ORDER BY offset",
                               (pack,)).fetchall()
        items: list[tuple[str, bytes]] = []
        if live:
            fd = os.open(path, os.O_RDONLY)
            try:
                items = [(h, read_at(fd, offset, length)) for h, offset, length in live]
            finally:
                os.close(fd)
        moved: list[tuple[str, int, int]] = []
        target, size = 0, 0
        if items:
            target, moved, size = self._append(items)
        with self._txn(durable=True) as conn:  # the move must be on disk before the old pack goes
            conn.executemany("UPDATE blocks SET pack = ?, offset = ? WHERE hash = ? AND pack = ?",
                             [(target, offset, h, pack) for h, offset, _length in moved])
            if moved:
                conn.execute("UPDATE packs SET size = ? WHERE id = ?", (size, target))
            conn.execute("DELETE FROM packs WHERE id = ?", (pack,))
        freed = path.stat().st_size
        path.unlink()
        fsync_dir(self.root)
        return freed

    def _pack_path(self, pack: int) -> Path:
        return self.root / f"{pack:08d}.pack"


def _check(digest: str) -> None:
    if not is_block_hash(digest):
        raise ValueError(f"not a block hash: {digest!r}")


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def _flock(fd: int, exclusive: bool) -> None:
    if sys.platform == "win32":
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_UN)
