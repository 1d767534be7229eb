"""Journal state beside the trees: dirty queue, error backoff, transfers, activity, folder state."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from ferrysync.daemon.journal.store import JournalBase

Direction = Literal["upload", "download"]
ACTIVITY_KEEP = 1000  # the history is bounded: older rows are pruned on insert
BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 3600.0


@dataclass(frozen=True, slots=True)
class DirtyPath:
    folder_id: str
    path: str
    ready_at: float  # also the claim token: ack_dirty only removes the item if it was not re-marked since


@dataclass(frozen=True, slots=True)
class PathFailure:
    """A path whose action failed `attempts` times in a row, and when to try it again (`next_try`)."""

    folder_id: str
    path: str
    attempts: int
    next_try: float
    message: str
    updated_at: float


@dataclass(frozen=True, slots=True)
class Activity:
    id: int
    ts: float
    folder_id: str
    path: str
    action: str  # e.g. "uploaded", "downloaded", "deleted", "conflict", "error"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Conflict:
    """A conflicted copy the user has not resolved yet: `path` is the copy, `original` the path it was made for."""

    folder_id: str
    path: str
    original: str
    ts: float


@dataclass(frozen=True, slots=True)
class TransferState:
    """What a resumable transfer already achieved for one version (`content_hash`) of one path."""

    folder_id: str
    path: str
    direction: Direction
    content_hash: str
    temp_path: str | None = None  # downloads: the partial temp file
    uploaded: frozenset[str] = field(default_factory=frozenset)  # uploads: block hashes the server has
    done_indices: frozenset[int] = field(default_factory=frozenset)  # downloads: verified block indices
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class FolderState:
    folder_id: str
    cursor: int | str = 0  # the server's change-feed cursor (daemon/remote/cursor.py)
    marker_id: str | None = None
    last_scan: float | None = None


class StateOps(JournalBase):
    # -- dirty-path queue ------------------------------------------------------------------------------------

    def mark_dirty(self, folder_id: str, paths: Iterable[str], ready_at: float, *, rearm: bool = True) -> int:
        """Queue paths to be (re)indexed at `ready_at`; duplicates coalesce into one row.

        rearm=True (watcher events) moves an already-queued path's time to `ready_at`, so a file still being
        written is indexed once, after it settles. rearm=False (scans) never delays an already-queued path.
        """
        rows = [(folder_id, p, ready_at) for p in dict.fromkeys(paths)]
        update = "excluded.ready_at" if rearm else "MIN(ready_at, excluded.ready_at)"
        self._write_many(
            f"INSERT INTO dirty (folder_id, path, ready_at) VALUES (?, ?, ?)"
            f" ON CONFLICT (folder_id, path) DO UPDATE SET ready_at = {update}",
            rows,
        )
        return len(rows)

    def ready_dirty(self, now: float, limit: int = 1000, folder_id: str | None = None) -> list[DirtyPath]:
        """Queued paths whose quiet period is over, oldest first. They stay queued until `ack_dirty`."""
        if folder_id is None:
            rows = self._read(
                "SELECT folder_id, path, ready_at FROM dirty WHERE ready_at <= ? ORDER BY ready_at LIMIT ?",
                (now, limit),
            )
        else:
            rows = self._read(
                "SELECT folder_id, path, ready_at FROM dirty INDEXED BY dirty_folder_ready"
                " WHERE folder_id = ? AND ready_at <= ?"
                " ORDER BY ready_at LIMIT ?",
                (folder_id, now, limit),
            )
        return [DirtyPath(*r) for r in rows]

    def ack_dirty(self, items: Iterable[DirtyPath]) -> None:
        """Remove processed items, except those re-marked meanwhile (their new event must not be lost)."""
        self._write_many(
            "DELETE FROM dirty WHERE folder_id = ? AND path = ? AND ready_at = ?",
            [(i.folder_id, i.path, i.ready_at) for i in items],
        )

    def next_dirty_at(self, folder_id: str | None = None) -> float | None:
        if folder_id is None:
            row = self._read_one("SELECT MIN(ready_at) FROM dirty")
        else:
            row = self._read_one("SELECT MIN(ready_at) FROM dirty WHERE folder_id = ?", (folder_id,))
        return None if row[0] is None else float(row[0])

    def has_dirty(self, folder_id: str) -> bool:
        """Whether any path of the folder is queued (one index probe, where a count reads every queued row)."""
        return bool(self._read_one("SELECT EXISTS (SELECT 1 FROM dirty WHERE folder_id = ?)", (folder_id,))[0])

    def dirty_count(self, folder_id: str | None = None) -> int:
        if folder_id is None:
            return int(self._read_one("SELECT COUNT(*) FROM dirty")[0])
        return int(self._read_one("SELECT COUNT(*) FROM dirty WHERE folder_id = ?", (folder_id,))[0])

    # -- per-path error backoff ------------------------------------------------------------------------------

    def record_failure(self, folder_id: str, path: str, message: str, now: float | None = None) -> PathFailure:
        """Count a failure and schedule the next try: exponential (2 s, 4 s, ...), capped at 1 h, jittered."""
        t = time.time() if now is None else now
        with self.transaction():
            row = self._read_one("SELECT attempts FROM backoff WHERE folder_id = ? AND path = ?", (folder_id, path))
            attempts = (row[0] if row else 0) + 1
            delay = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** min(attempts - 1, 30))
            b = PathFailure(folder_id, path, attempts, t + delay * random.uniform(0.8, 1.0), message, t)
            self._writer.execute(
                "INSERT OR REPLACE INTO backoff (folder_id, path, attempts, next_try, message, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (b.folder_id, b.path, b.attempts, b.next_try, b.message, b.updated_at),
            )
        return b

    def clear_failure(self, folder_id: str, path: str) -> None:
        self._write("DELETE FROM backoff WHERE folder_id = ? AND path = ?", (folder_id, path))

    def clear_failures(self, folder_id: str, paths: Iterable[str]) -> None:
        """Many `clear_failure`s in one statement (a batch of downloads that succeeded)."""
        self._write_many("DELETE FROM backoff WHERE folder_id = ? AND path = ?", [(folder_id, p) for p in paths])

    def get_backoff(self, folder_id: str, path: str) -> PathFailure | None:
        row = self._read_one(
            "SELECT folder_id, path, attempts, next_try, message, updated_at FROM backoff"
            " WHERE folder_id = ? AND path = ?",
            (folder_id, path),
        )
        return None if row is None else PathFailure(*row)

    def backed_off_paths(self, folder_id: str, now: float) -> set[str]:
        """Paths that must not be retried before their next_try."""
        rows = self._read("SELECT path FROM backoff WHERE folder_id = ? AND next_try > ?", (folder_id, now))
        return {r[0] for r in rows}

    def list_failures(self, folder_id: str | None = None) -> list[PathFailure]:
        cols = "folder_id, path, attempts, next_try, message, updated_at"
        if folder_id is None:
            rows = self._read(f"SELECT {cols} FROM backoff ORDER BY updated_at DESC")
        else:
            rows = self._read(f"SELECT {cols} FROM backoff WHERE folder_id = ? ORDER BY updated_at DESC", (folder_id,))
        return [PathFailure(*r) for r in rows]

    # -- resumable transfers ---------------------------------------------------------------------------------

    def save_transfer(self, state: TransferState) -> None:
        done = json.dumps({"uploaded": sorted(state.uploaded), "indices": sorted(state.done_indices)})
        self._write(
            "INSERT OR REPLACE INTO transfer"
            " (folder_id, path, direction, content_hash, temp_path, done, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                state.folder_id,
                state.path,
                state.direction,
                state.content_hash,
                state.temp_path,
                done,
                state.updated_at or time.time(),
            ),
        )

    def get_transfer(self, folder_id: str, path: str, direction: Direction) -> TransferState | None:
        row = self._read_one(
            "SELECT folder_id, path, direction, content_hash, temp_path, done, updated_at"
            " FROM transfer WHERE folder_id = ? AND path = ? AND direction = ?",
            (folder_id, path, direction),
        )
        return None if row is None else _transfer(row)

    def delete_transfer(self, folder_id: str, path: str, direction: Direction) -> None:
        self._write(
            "DELETE FROM transfer WHERE folder_id = ? AND path = ? AND direction = ?",
            (folder_id, path, direction),
        )

    def list_transfers(self, folder_id: str | None = None) -> list[TransferState]:
        cols = "folder_id, path, direction, content_hash, temp_path, done, updated_at"
        if folder_id is None:
            rows = self._read(f"SELECT {cols} FROM transfer ORDER BY updated_at")
        else:
            rows = self._read(f"SELECT {cols} FROM transfer WHERE folder_id = ? ORDER BY updated_at", (folder_id,))
        return [_transfer(r) for r in rows]

    # -- activity history ------------------------------------------------------------------------------------

    def add_activity(self, folder_id: str, path: str, action: str, detail: str = "", ts: float | None = None) -> None:
        with self.transaction():
            cur = self._writer.execute(
                "INSERT INTO activity (ts, folder_id, path, action, detail) VALUES (?, ?, ?, ?, ?)",
                (time.time() if ts is None else ts, folder_id, path, action, detail),
            )
            newest = int(cur.lastrowid or 0)
            if newest % 100 == 0:  # prune in steps, not on every insert
                self._writer.execute("DELETE FROM activity WHERE id <= ?", (newest - ACTIVITY_KEEP,))

    def add_activities(self, folder_id: str, items: Iterable[tuple[str, str, str]]) -> None:
        """Many `add_activity`s (path, action, detail) in one statement, pruned as one."""
        now = time.time()
        rows = [(now, folder_id, path, action, detail) for path, action, detail in items]
        if not rows:
            return
        with self.transaction():
            self._writer.executemany(
                "INSERT INTO activity (ts, folder_id, path, action, detail) VALUES (?, ?, ?, ?, ?)", rows)
            newest = int(self._writer.execute("SELECT MAX(id) FROM activity").fetchone()[0] or 0)
            self._writer.execute("DELETE FROM activity WHERE id <= ?", (newest - ACTIVITY_KEEP,))

    def list_activity(self, limit: int = 50, folder_id: str | None = None) -> list[Activity]:
        """The most recent activity, newest first."""
        limit = min(limit, ACTIVITY_KEEP)
        cols = "id, ts, folder_id, path, action, detail"
        if folder_id is None:
            rows = self._read(f"SELECT {cols} FROM activity ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = self._read(
                f"SELECT {cols} FROM activity WHERE folder_id = ? ORDER BY id DESC LIMIT ?",
                (folder_id, limit),
            )
        return [Activity(*r) for r in rows]

    # -- conflicted copies ----------------------------------------------------------------------------------

    def add_conflict(self, folder_id: str, copy: str, original: str, ts: float | None = None) -> None:
        """A conflicted copy was made (in the caller's transaction, with the rows that moved): it is listed
        until the user resolves it by deleting or renaming the copy (see `forget_conflicts`)."""
        when = time.time() if ts is None else ts
        with self.transaction():
            self._writer.execute("INSERT OR REPLACE INTO conflict (folder_id, path, original, ts) VALUES (?, ?, ?, ?)",
                                 (folder_id, copy, original, when))
            self.add_activity(folder_id, copy, "conflict", original, ts=when)

    def list_conflicts(self, folder_id: str | None = None) -> list[Conflict]:
        """Conflicted copies not yet resolved, oldest first."""
        cols = "folder_id, path, original, ts"
        if folder_id is None:
            rows = self._read(f"SELECT {cols} FROM conflict ORDER BY ts")
        else:
            rows = self._read(f"SELECT {cols} FROM conflict WHERE folder_id = ? ORDER BY ts", (folder_id,))
        return [Conflict(*r) for r in rows]

    def forget_conflicts(self, folder_id: str, copies: Iterable[str]) -> None:
        """The user resolved these (the copy is gone from its path)."""
        with self.transaction():
            self._writer.executemany("DELETE FROM conflict WHERE folder_id = ? AND path = ?",
                                     [(folder_id, c) for c in copies])

    # -- per-folder state ------------------------------------------------------------------------------------

    def folder_state(self, folder_id: str) -> FolderState:
        row = self._read_one(
            "SELECT folder_id, cursor, marker_id, last_scan FROM folder_state WHERE folder_id = ?",
            (folder_id,),
        )
        return FolderState(folder_id) if row is None else FolderState(*row)

    def _set_folder(self, folder_id: str, column: str, value: object) -> None:
        self._write(
            f"INSERT INTO folder_state (folder_id, {column}) VALUES (?, ?)"
            f" ON CONFLICT (folder_id) DO UPDATE SET {column} = excluded.{column}",
            (folder_id, value),
        )

    def get_cursor(self, folder_id: str) -> int | str:
        """An integer, or a string (the column is INTEGER: SQLite keeps a string cursor as text)."""
        return self.folder_state(folder_id).cursor

    def set_cursor(self, folder_id: str, cursor: int | str) -> None:
        self._set_folder(folder_id, "cursor", cursor)

    def get_marker_id(self, folder_id: str) -> str | None:
        return self.folder_state(folder_id).marker_id

    def set_marker_id(self, folder_id: str, marker_id: str) -> None:
        self._set_folder(folder_id, "marker_id", marker_id)

    def set_last_scan(self, folder_id: str, when: float) -> None:
        self._set_folder(folder_id, "last_scan", when)

    def forget_folder(self, folder_id: str) -> None:
        """Remove every row of a folder (it was removed from the config)."""
        with self.transaction():
            for table in (
                "local",
                "remote",
                "synced",
                "local_block",
                "dirty",
                "transfer",
                "backoff",
                "activity",
                "conflict",
                "folder_state",
            ):
                self._writer.execute(f"DELETE FROM {table} WHERE folder_id = ?", (folder_id,))
            # and its records in meta, keyed "<kind>:<folder id>[:<item>]" (the feed's, swaps, commit notes)
            keys = [k for (k,) in self._writer.execute("SELECT key FROM meta") if k.split(":")[1:2] == [folder_id]]
            self._writer.executemany("DELETE FROM meta WHERE key = ?", [(k,) for k in keys])


def _transfer(row: tuple[object, ...]) -> TransferState:
    done = json.loads(str(row[5]))
    return TransferState(
        folder_id=str(row[0]),
        path=str(row[1]),
        direction=str(row[2]),  # type: ignore[arg-type]
        content_hash=str(row[3]),
        temp_path=None if row[4] is None else str(row[4]),
        uploaded=frozenset(done.get("uploaded", ())),
        done_indices=frozenset(done.get("indices", ())),
        updated_at=float(row[6]),  # type: ignore[arg-type]
    )
