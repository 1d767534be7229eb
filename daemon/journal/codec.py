"""Conversions between model rows and journal rows; hashes are stored as raw bytes (half the size of hex)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields
from operator import attrgetter
from typing import Any, Literal, TypeAlias

from ferrysync.daemon.model import Kind, LocalEntry, RemoteEntry, SyncedEntry

Tree = Literal["local", "remote", "synced"]
TREES: tuple[Tree, ...] = ("local", "remote", "synced")
Entry: TypeAlias = LocalEntry | RemoteEntry | SyncedEntry

DIGEST = 32


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


_CLASSES: dict[Tree, type[Entry]] = {"local": LocalEntry, "remote": RemoteEntry, "synced": SyncedEntry}

# The columns of each tree are its dataclass's fields, in order; only these fields change form on the way to SQLite.
_TO_DB: dict[str, Callable[[Any], Any]] = {
    "kind": attrgetter("value"),
    "executable": int,
    "content_hash": hash_to_db,
    "blocks": blocks_to_db,
}
_FROM_DB: dict[str, Callable[[Any], Any]] = {
    "kind": Kind,
    "executable": bool,
    "content_hash": hash_from_db,
    "blocks": blocks_from_db,
}
_FIELDS: dict[Tree, tuple[str, ...]] = {t: tuple(f.name for f in fields(cls)) for t, cls in _CLASSES.items()}
COLUMNS: dict[Tree, str] = {t: ", ".join(names) for t, names in _FIELDS.items()}
_ENCODERS = {t: tuple((n, _TO_DB.get(n)) for n in names) for t, names in _FIELDS.items()}
_DECODERS = {t: tuple(_FROM_DB.get(n) for n in names) for t, names in _FIELDS.items()}


def to_row(tree: Tree, folder_id: str, e: Entry) -> tuple[Any, ...]:
    """The INSERT parameters (folder_id first, then COLUMNS[tree] in order)."""
    if not isinstance(e, _CLASSES[tree]):
        raise TypeError(f"{tree} tree takes {_CLASSES[tree].__name__}, got {type(e).__name__}")
    row: list[Any] = [folder_id]
    for name, conv in _ENCODERS[tree]:
        v = getattr(e, name)
        row.append(v if conv is None else conv(v))
    return tuple(row)


def from_row(tree: Tree, r: Sequence[Any]) -> Entry:
    """The entry a row read with COLUMNS[tree] holds (positional: the columns are the fields in order)."""
    return _CLASSES[tree](*[v if conv is None else conv(v) for conv, v in zip(_DECODERS[tree], r, strict=True)])


def subtree_clause(prefix: str) -> tuple[str, tuple[str, ...]]:
    """SQL selecting `prefix` and its descendants as ONE index range on path (an OR would defeat the index)."""
    return "path >= ? AND path < ? AND (path = ? OR path > ?)", (prefix, prefix + "0", prefix, prefix + "/")
