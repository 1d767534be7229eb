"""Rows of the three trees (local, remote, synced) that the journal stores and the planner reads.

Paths are relative to a sync folder's root, '/'-separated, NFC, never starting with '/', '' never used.
Each tree holds at most one row per (folder_id, path).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from operator import attrgetter


class Kind(StrEnum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"


@dataclass(frozen=True, slots=True)
class LocalEntry:
    """What is on disk now, as last observed (the watcher and scanner write it)."""

    path: str
    kind: Kind
    size: int = 0
    mtime_ns: int = 0
    inode: int = 0
    executable: bool = False
    content_hash: str | None = None  # None until hashed (files only); BLAKE3 hex
    blocks: tuple[str, ...] = ()  # chunk hashes in order (files only)
    link_target: str | None = None  # symlinks only


@dataclass(frozen=True, slots=True)
class RemoteEntry:
    """What the server says now, from the change feed (the feed reader writes it)."""

    path: str
    kind: Kind
    file_id: str
    rev: int
    size: int = 0
    mtime_ns: int = 0
    executable: bool = False
    content_hash: str | None = None
    blocks: tuple[str, ...] = ()

    def at(self, path: str) -> RemoteEntry:
        """This entry under another path (the server's path made the folder's, or the op's): what
        `dataclasses.replace(self, path=path)` gives, in a third of its time (it looks the fields up on every call;
        the feed and the executor make one for every file they record)."""
        return RemoteEntry(path, *_REMOTE_REST(self))


_REMOTE_FIELDS = [f.name for f in fields(RemoteEntry)]
assert _REMOTE_FIELDS[0] == "path", "RemoteEntry.at passes the path first"
_REMOTE_REST = attrgetter(*_REMOTE_FIELDS[1:])


@dataclass(frozen=True, slots=True)
class SyncedEntry:
    """The merge base: the last state both sides agreed on (only the executor writes it)."""

    path: str
    kind: Kind
    file_id: str
    rev: int
    size: int = 0
    mtime_ns: int = 0
    inode: int = 0
    executable: bool = False
    content_hash: str | None = None
    blocks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Chunk:
    """Where one block of a local file lies (the journal keeps them, so a download can reuse local bytes)."""

    hash: str  # BLAKE3 hex of the chunk's bytes
    offset: int
    length: int
