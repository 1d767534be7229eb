"""Typed operations on the three trees (local, remote, synced) and the local chunk index (block reuse)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ferrysync.daemon.journal.codec import (
    COLUMNS,
    TREES,
    Entry,
    Tree,
    from_row,
    hash_to_db,
    subtree_clause,
    to_row,
)
from ferrysync.daemon.journal.store import JournalBase
from ferrysync.daemon.model import Chunk, Kind, LocalEntry, RemoteEntry, SyncedEntry

_PAGE = 2000

# All three rows present and equal in every column the planner compares (see `maybe_unsettled`): what makes
# local_state SAME (same kind, executable bit, stat, and content hash where the disk's is known) and remote_state
# SAME (same kind, file id and revision). NULL-safe with IS where a column may be NULL.
_SETTLED = """s.path IS NOT NULL AND r.path IS NOT NULL
    AND l.kind = s.kind AND r.kind = s.kind AND r.file_id = s.file_id AND r.rev = s.rev
    AND l.executable = s.executable AND l.size = s.size AND l.mtime_ns = s.mtime_ns AND l.inode = s.inode
    AND (l.content_hash IS s.content_hash OR (l.content_hash IS NULL AND l.kind = 'file'))"""


class TreeRows(NamedTuple):
    """One path's row in each of the three trees (any may be None); the planner's `PathRows` adds the path."""

    local: LocalEntry | None
    remote: RemoteEntry | None
    synced: SyncedEntry | None


class StatKey(NamedTuple):
    """What a stat-only rescan compares for one local row."""

    kind: Kind
    size: int
    mtime_ns: int
    inode: int
    executable: bool
    hashed: bool
    link_target: str | None


@dataclass(frozen=True, slots=True)
class BlockLocation:
    """Where a chunk with a given hash was last seen on this disk (verify the bytes before trusting them)."""

    folder_id: str
    path: str
    offset: int
    length: int


def _check_tree(tree: str) -> Tree:
    if tree not in TREES:
        raise ValueError(f"unknown tree {tree!r} (one of {', '.join(TREES)})")
    return tree


class TreeOps(JournalBase):
    # -- single rows -----------------------------------------------------------------------------------------

    def get(self, folder_id: str, tree: Tree, path: str) -> Entry | None:
        t = _check_tree(tree)
        row = self._read_one(f"SELECT {COLUMNS[t]} FROM {t} WHERE folder_id = ? AND path = ?", (folder_id, path))
        return None if row is None else from_row(t, row)

    def get_local(self, folder_id: str, path: str) -> LocalEntry | None:
        e = self.get(folder_id, "local", path)
        return e if isinstance(e, LocalEntry) else None

    def get_remote(self, folder_id: str, path: str) -> RemoteEntry | None:
        e = self.get(folder_id, "remote", path)
        return e if isinstance(e, RemoteEntry) else None

    def get_synced(self, folder_id: str, path: str) -> SyncedEntry | None:
        e = self.get(folder_id, "synced", path)
        return e if isinstance(e, SyncedEntry) else None

    def rows_for_path(self, folder_id: str, path: str) -> TreeRows:
        """The three rows of one path, read from one consistent snapshot (what the planner takes)."""
        with self._snapshot():
            return TreeRows(
                self.get_local(folder_id, path),
                self.get_remote(folder_id, path),
                self.get_synced(folder_id, path),
            )

    def put(self, folder_id: str, tree: Tree, entry: Entry) -> None:
        self.put_many(folder_id, tree, [entry])

    def put_many(self, folder_id: str, tree: Tree, entries: Iterable[Entry]) -> None:
        """Insert or replace rows (for the local tree this also drops the rows' stale chunk locations)."""
        t = _check_tree(tree)
        rows = [to_row(t, folder_id, e) for e in entries]
        marks = ", ".join("?" * (len(COLUMNS[t].split(",")) + 1))
        with self.transaction():
            if t == "local":
                self._writer.executemany(
                    "DELETE FROM local_block WHERE folder_id = ? AND path = ?",
                    [(folder_id, r[1]) for r in rows],
                )
            self._write_many(f"INSERT OR REPLACE INTO {t} (folder_id, {COLUMNS[t]}) VALUES ({marks})", rows)

    def put_local(self, folder_id: str, entry: LocalEntry, chunks: Sequence[Chunk] | None = None) -> None:
        """Record a local row; pass the file's chunks (with offsets) so downloads can reuse them."""
        with self.transaction():
            self.put_many(folder_id, "local", [entry])
            if chunks:
                self._writer.executemany(
                    "INSERT OR REPLACE INTO local_block (block, folder_id, path, offset, length)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [(hash_to_db(c.hash), folder_id, entry.path, c.offset, c.length) for c in chunks],
                )

    def put_locals(self, folder_id: str, items: Sequence[tuple[LocalEntry, Sequence[Chunk] | None]]) -> None:
        """Many `put_local`s in one transaction (what the indexer writes per batch)."""
        with self.transaction():
            self.put_many(folder_id, "local", [e for e, _ in items])
            self._writer.executemany(
                "INSERT OR REPLACE INTO local_block (block, folder_id, path, offset, length) VALUES (?, ?, ?, ?, ?)",
                [(hash_to_db(c.hash), folder_id, e.path, c.offset, c.length) for e, cs in items for c in cs or ()],
            )

    def _get_many(self, conn: sqlite3.Connection, folder_id: str, tree: Tree, paths: list[str]) -> dict[str, Entry]:
        found: dict[str, Entry] = {}
        for i in range(0, len(paths), 500):
            part = paths[i : i + 500]
            marks = ", ".join("?" * len(part))
            for r in conn.execute(
                f"SELECT {COLUMNS[tree]} FROM {tree} WHERE folder_id = ? AND path IN ({marks})", (folder_id, *part)
            ):
                found[r[0]] = from_row(tree, r)
        return found

    def get_locals(self, folder_id: str, paths: Iterable[str]) -> dict[str, LocalEntry]:
        """The local rows of many paths at once ({path: row}, missing paths absent)."""
        with self._snapshot() as conn:
            found = self._get_many(conn, folder_id, "local", list(dict.fromkeys(paths)))
        return {p: e for p, e in found.items() if isinstance(e, LocalEntry)}

    def get_remotes(self, folder_id: str, paths: Iterable[str]) -> dict[str, RemoteEntry]:
        """The remote rows of many paths at once ({path: row}, missing paths absent)."""
        with self._snapshot() as conn:
            found = self._get_many(conn, folder_id, "remote", list(dict.fromkeys(paths)))
        return {p: e for p, e in found.items() if isinstance(e, RemoteEntry)}

    def rows_for_paths(self, folder_id: str, paths: Iterable[str]) -> dict[str, TreeRows]:
        """`rows_for_path` for many paths from one snapshot, in three queries per 500 paths (planning rounds)."""
        wanted = list(dict.fromkeys(paths))
        with self._snapshot() as conn:
            trees = [self._get_many(conn, folder_id, t, wanted) for t in ("local", "remote", "synced")]
        local = {p: e for p, e in trees[0].items() if isinstance(e, LocalEntry)}
        remote = {p: e for p, e in trees[1].items() if isinstance(e, RemoteEntry)}
        synced = {p: e for p, e in trees[2].items() if isinstance(e, SyncedEntry)}
        return {p: TreeRows(local.get(p), remote.get(p), synced.get(p)) for p in wanted}

    def put_remote(self, folder_id: str, entry: RemoteEntry) -> None:
        self.put_many(folder_id, "remote", [entry])

    def put_synced(self, folder_id: str, entry: SyncedEntry) -> None:
        self.put_many(folder_id, "synced", [entry])

    def delete(self, folder_id: str, tree: Tree, path: str) -> bool:
        t = _check_tree(tree)
        with self.transaction():
            if t == "local":
                self._writer.execute("DELETE FROM local_block WHERE folder_id = ? AND path = ?", (folder_id, path))
            cur = self._writer.execute(f"DELETE FROM {t} WHERE folder_id = ? AND path = ?", (folder_id, path))
            return cur.rowcount > 0

    def delete_local(self, folder_id: str, path: str) -> bool:
        return self.delete(folder_id, "local", path)

    def delete_remote(self, folder_id: str, path: str) -> bool:
        return self.delete(folder_id, "remote", path)

    def delete_synced(self, folder_id: str, path: str) -> bool:
        return self.delete(folder_id, "synced", path)

    def delete_subtree(self, folder_id: str, tree: Tree, prefix: str) -> list[str]:
        """Delete `prefix` and everything under it in one tree; return the paths deleted."""
        t = _check_tree(tree)
        clause, args = subtree_clause(prefix)
        where = f"folder_id = ? AND {clause}"
        params = (folder_id, *args)
        with self.transaction():
            gone = [r[0] for r in self._writer.execute(f"SELECT path FROM {t} WHERE {where}", params)]
            if t == "local":
                self._writer.execute(f"DELETE FROM local_block WHERE {where}", params)
            self._writer.execute(f"DELETE FROM {t} WHERE {where}", params)
        return gone

    # -- iteration and lookups -------------------------------------------------------------------------------

    def iter_tree(self, folder_id: str, tree: Tree, prefix: str | None = None) -> Iterator[Entry]:
        """Rows of a tree in path order (all, or `prefix` and its descendants), fetched in pages."""
        t = _check_tree(tree)
        last = ""
        params: tuple[str, ...]
        if prefix is None:
            bound, params = "", (folder_id,)
        else:
            clause, args = subtree_clause(prefix)
            bound, params = f" AND {clause}", (folder_id, *args)
        while True:
            rows = self._read(
                f"SELECT {COLUMNS[t]} FROM {t} WHERE folder_id = ?{bound} AND path > ? ORDER BY path LIMIT {_PAGE}",
                (*params, last),
            )
            for r in rows:
                yield from_row(t, r)
            if len(rows) < _PAGE:
                return
            last = rows[-1][0]

    def descendants(self, folder_id: str, tree: Tree, prefix: str) -> list[Entry]:
        """Every row strictly under `prefix` ('' = the whole folder)."""
        if not prefix:
            return list(self.iter_tree(folder_id, tree))
        return [e for e in self.iter_tree(folder_id, tree, prefix) if e.path != prefix]

    def children(self, folder_id: str, tree: Tree, prefix: str) -> list[Entry]:
        """Direct children of `prefix` ('' = the folder root)."""
        depth = prefix.count("/") + 1 if prefix else 0
        return [e for e in self.descendants(folder_id, tree, prefix) if e.path.count("/") == depth]

    def maybe_unsettled(self, folder_id: str) -> set[str]:
        """Paths whose three rows may disagree: every path some tree lacks, and every path whose rows differ in
        a column the planner compares. A superset, never fewer: the planner's `local_state`/`remote_state` stay
        the one definition of "settled" and judge these rows; this only spares them the rows that agree in
        every column (a settled folder of 300,000 files answers in one indexed join, with no row decoded).
        Rows the planner would still call settled despite a difference (a folder whose stat moved) come back
        too: the cost of being conservative is a few rows read, never a path missed."""
        rows = self._read(
            f"""SELECT l.path FROM local l
                LEFT JOIN synced s ON s.folder_id = l.folder_id AND s.path = l.path
                LEFT JOIN remote r ON r.folder_id = l.folder_id AND r.path = l.path
                WHERE l.folder_id = ? AND NOT ({_SETTLED})
            UNION ALL
            SELECT r.path FROM remote r WHERE r.folder_id = ?
                AND NOT EXISTS (SELECT 1 FROM local l WHERE l.folder_id = r.folder_id AND l.path = r.path)
            UNION ALL
            SELECT s.path FROM synced s WHERE s.folder_id = ?
                AND NOT EXISTS (SELECT 1 FROM local l WHERE l.folder_id = s.folder_id AND l.path = s.path)""",
            (folder_id, folder_id, folder_id),
        )
        return {r[0] for r in rows}

    def settled_among(self, folder_id: str, paths: Iterable[str]) -> set[str]:
        """Of `paths`, those whose three rows are all present and agree in every column the planner compares:
        the complement of `maybe_unsettled`, asked of a few paths (500 to an indexed query, no row decoded).

        What the engine just did is checked through this before it is planned again: a path it uploaded or
        downloaded and recorded is settled, and planning it once more (rows read and decoded, the whole batch
        planned) would find nothing to do, at a cost that doubled the planning of a first sync."""
        wanted = list(dict.fromkeys(paths))
        out: set[str] = set()
        if not wanted:  # a round that finished nothing: no read transaction for it
            return out
        with self._snapshot() as conn:
            for i in range(0, len(wanted), 500):
                part = wanted[i : i + 500]
                marks = ", ".join("?" * len(part))
                out.update(r[0] for r in conn.execute(
                    f"""SELECT l.path FROM local l
                        JOIN synced s ON s.folder_id = l.folder_id AND s.path = l.path
                        JOIN remote r ON r.folder_id = l.folder_id AND r.path = l.path
                        WHERE l.folder_id = ? AND l.path IN ({marks}) AND ({_SETTLED})""",
                    (folder_id, *part),
                ))
        return out

    def count(self, folder_id: str, tree: Tree, kind: Kind | None = None) -> int:
        t = _check_tree(tree)
        if kind is None:
            row = self._read_one(f"SELECT COUNT(*) FROM {t} WHERE folder_id = ?", (folder_id,))
        else:
            row = self._read_one(f"SELECT COUNT(*) FROM {t} WHERE folder_id = ? AND kind = ?", (folder_id, kind.value))
        return int(row[0])

    def find_local_by_inode(self, folder_id: str, inode: int) -> list[LocalEntry]:
        rows = self._read(
            f"SELECT {COLUMNS['local']} FROM local INDEXED BY local_inode WHERE folder_id = ? AND inode = ?",
            (folder_id, inode),
        )
        return [e for e in (from_row("local", r) for r in rows) if isinstance(e, LocalEntry)]

    def block_locations(self, block_hash: str, limit: int = 8) -> list[BlockLocation]:
        rows = self._read(
            "SELECT folder_id, path, offset, length FROM local_block WHERE block = ? LIMIT ?",
            (hash_to_db(block_hash), limit),
        )
        return [BlockLocation(*r) for r in rows]

    def find_block(self, block_hash: str) -> BlockLocation | None:
        """One place on this disk that held the chunk when last hashed, or None."""
        found = self.block_locations(block_hash, limit=1)
        return found[0] if found else None

    def local_chunks(self, folder_id: str, path: str) -> list[Chunk]:
        rows = self._read(
            "SELECT block, offset, length FROM local_block WHERE folder_id = ? AND path = ? ORDER BY offset",
            (folder_id, path),
        )
        return [Chunk(r[0].hex(), r[1], r[2]) for r in rows]

    def local_chunks_many(self, folder_id: str, paths: Iterable[str]) -> dict[str, list[Chunk]]:
        """`local_chunks` of many paths in one query per 500 (a round of uploads); paths without chunks absent."""
        wanted = list(dict.fromkeys(paths))
        found: dict[str, list[Chunk]] = {}
        with self._snapshot() as conn:
            for i in range(0, len(wanted), 500):
                part = wanted[i : i + 500]
                marks = ", ".join("?" * len(part))
                for path, block, offset, length in conn.execute(
                    "SELECT path, block, offset, length FROM local_block"
                    f" WHERE folder_id = ? AND path IN ({marks}) ORDER BY path, offset",
                    (folder_id, *part),
                ):
                    found.setdefault(path, []).append(Chunk(block.hex(), offset, length))
        return found

    def local_stats(self, folder_id: str, prefix: str = "") -> dict[str, StatKey]:
        """A lean {path: StatKey} view of the local tree (no block lists): what a stat-only rescan compares."""
        sql = (
            "SELECT path, kind, size, mtime_ns, inode, executable, content_hash IS NOT NULL, link_target"
            " FROM local WHERE folder_id = ?"
        )
        if prefix:
            clause, args = subtree_clause(prefix)
            rows = self._read(f"{sql} AND {clause}", (folder_id, *args))
        else:
            rows = self._read(sql, (folder_id,))
        kinds = {k.value: k for k in Kind}  # a dict lookup is ~10x cheaper than Kind(...) on 100k rows
        return {r[0]: StatKey(kinds[r[1]], r[2], r[3], r[4], bool(r[5]), bool(r[6]), r[7]) for r in rows}
