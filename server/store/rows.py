"""Conversions between database rows and the store's dataclasses."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

from ferrysync.server.store.base import Device, Entry, Revision


def now_ms() -> int:
    return int(time.time() * 1000)


def new_id() -> str:
    return uuid.uuid4().hex


def path_key(path: str) -> str:
    """The indexed key of a path: SHA-256 hex of its UTF-8 (migration 0002 computes the same in SQL)."""
    return hashlib.sha256(path.encode("utf-8")).hexdigest()


def encode_blocks(blocks: tuple[str, ...]) -> str:
    return json.dumps(list(blocks), separators=(",", ":"))


def decode_blocks(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def _version_from_row(row: Any) -> dict[str, Any]:
    """The fields an entry row and a revision row share (a revision is an entry as it was)."""
    return {
        "path": row.path, "file_id": row.file_id, "kind": row.kind, "deleted": bool(row.deleted),
        "size": int(row.size), "mtime_ns": int(row.mtime_ns), "executable": bool(row.executable),
        "content_hash": row.content_hash, "blocks": decode_blocks(row.blocks), "modified_by": row.modified_by,
    }


def version_values(entry: Entry) -> dict[str, Any]:
    return {
        "path": entry.path, "path_key": path_key(entry.path), "file_id": entry.file_id, "kind": entry.kind,
        "deleted": entry.deleted, "size": entry.size, "mtime_ns": entry.mtime_ns, "executable": entry.executable,
        "content_hash": entry.content_hash, "blocks": encode_blocks(entry.blocks), "modified_by": entry.modified_by,
    }


def entry_from_row(row: Any) -> Entry:
    return Entry(**_version_from_row(row), seq=int(row.seq), changed_at=int(row.changed_at))


def entry_values(entry: Entry, version: dict[str, Any] | None = None) -> dict[str, Any]:
    """`version`: `version_values(entry)` where the caller has it already (a commit writes each new row twice,
    as the path's entry and as its newest revision: one encoding serves both)."""
    return {**(version_values(entry) if version is None else version), "seq": entry.seq,
            "changed_at": entry.changed_at}


def revision_values(entry: Entry, version: dict[str, Any] | None = None) -> dict[str, Any]:
    """The revision row recording `entry` as it is now (its seq becomes the revision's rev)."""
    return {**(version_values(entry) if version is None else version), "rev": entry.seq,
            "created_at": entry.changed_at}


def revision_from_row(row: Any) -> Revision:
    return Revision(**_version_from_row(row), rev=int(row.rev), created_at=int(row.created_at))


def device_from_row(row: Any, matched_hash: str | None = None) -> Device:
    """`matched_hash`: the hash a token was looked up by (it may be the previous token's, during its grace)."""
    previous = matched_hash is not None and matched_hash != row.token_hash
    issued = row.token_issued_at if row.token_issued_at is not None else row.created_at
    return Device(id=row.id, user_id=int(row.user_id), user_name=row.user_name, name=row.name,
                  created_at=int(row.created_at), last_seen=None if row.last_seen is None else int(row.last_seen),
                  token_hash=row.prev_token_hash if previous else row.token_hash, token_issued_at=int(issued),
                  previous=previous)
