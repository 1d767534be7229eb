"""Conversions between model rows and journal rows; hashes are stored as raw bytes (half the size of hex)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, TypeAlias

from ferrysync.daemon.model import Kind, LocalEntry, RemoteEntry, SyncedEntry

Tree = Literal["local", "remote", "synced"]
TREES: tuple[Tree, ...] = ("local", "remote", "synced")
Entry: TypeAlias = LocalEntry | RemoteEntry | SyncedEntry

DIGEST = 32

LOCAL_COLS = "path, kind, size, mtime_ns, inode, executable, content_hash, blocks, link_target"
REMOTE_COLS = "path, kind, file_id, rev, size, mtime_ns, executable, content_hash, blocks"
SYNCED_COLS = "path, kind, file_id, rev, size, mtime_ns, inode, executable, content_hash, blocks"
COLUMNS: dict[Tree, str] = {"local": LOCAL_COLS, "remote": REMOTE_COLS, "synced": SYNCED_COLS}


def hash_to_db(h: str | None) -> bytes | None:
    if h is None:
        return None
    raw = bytes.fromhex(h)
    if len(raw) != DIGEST:
        raise ValueError(f"not a {DIGEST}-byte hash: {h!r}")
    return raw


def hash_from_db(b: bytes | None) -> str | None:
    return None if b is None else b.hex()


def blocks_to_db(blocks: Iterable[str]) -> bytes:
    raw = b"".join(bytes.fromhex(b) for b in blocks)
    if len(raw) % DIGEST:
        raise ValueError("block hashes must be 32-byte hex digests")
    return raw


def blocks_from_db(b: bytes | None) -> tuple[str, ...]:
    if not b:
        return ()
    return tuple(b[i : i + DIGEST].hex() for i in range(0, len(b), DIGEST))


def to_row(tree: Tree, folder_id: str, e: Entry) -> tuple[Any, ...]:
    """The INSERT parameters (folder_id first, then COLUMNS[tree] in order)."""
    common = (hash_to_db(e.content_hash), blocks_to_db(e.blocks))
    if tree == "local":
        assert isinstance(e, LocalEntry), f"local tree takes LocalEntry, got {type(e).__name__}"
        return (
            folder_id,
            e.path,
            e.kind.value,
            e.size,
            e.mtime_ns,
            e.inode,
            int(e.executable),
            *common,
            e.link_target,
        )
    if tree == "remote":
        assert isinstance(e, RemoteEntry), f"remote tree takes RemoteEntry, got {type(e).__name__}"
        return (
            folder_id,
            e.path,
            e.kind.value,
            e.file_id,
            e.rev,
            e.size,
            e.mtime_ns,
            int(e.executable),
            *common,
        )
    assert isinstance(e, SyncedEntry), f"synced tree takes SyncedEntry, got {type(e).__name__}"
    return (
        folder_id,
        e.path,
        e.kind.value,
        e.file_id,
        e.rev,
        e.size,
        e.mtime_ns,
        e.inode,
        int(e.executable),
        *common,
    )


def local_from_row(r: tuple[Any, ...]) -> LocalEntry:
    return LocalEntry(
        path=r[0],
        kind=Kind(r[1]),
        size=r[2],
        mtime_ns=r[3],
        inode=r[4],
        executable=bool(r[5]),
        content_hash=hash_from_db(r[6]),
        blocks=blocks_from_db(r[7]),
        link_target=r[8],
    )


def remote_from_row(r: tuple[Any, ...]) -> RemoteEntry:
    return RemoteEntry(
        path=r[0],
        kind=Kind(r[1]),
        file_id=r[2],
        rev=r[3],
        size=r[4],
        mtime_ns=r[5],
        executable=bool(r[6]),
        content_hash=hash_from_db(r[7]),
        blocks=blocks_from_db(r[8]),
    )


def synced_from_row(r: tuple[Any, ...]) -> SyncedEntry:
    return SyncedEntry(
        path=r[0],
        kind=Kind(r[1]),
        file_id=r[2],
        rev=r[3],
        size=r[4],
        mtime_ns=r[5],
        inode=r[6],
        executable=bool(r[7]),
        content_hash=hash_from_db(r[8]),
        blocks=blocks_from_db(r[9]),
    )


def from_row(tree: Tree, r: tuple[Any, ...]) -> Entry:
    if tree == "local":
        return local_from_row(r)
    if tree == "remote":
        return remote_from_row(r)
    return synced_from_row(r)


def subtree_clause(prefix: str) -> tuple[str, tuple[str, ...]]:
    """SQL selecting `prefix` and its descendants as ONE index range on path (an OR would defeat the index)."""
    return "path >= ? AND path < ? AND (path = ? OR path > ?)", (prefix, prefix + "0", prefix, prefix + "/")
