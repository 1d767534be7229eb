"""Typed values of the Ferry HTTP API v1: feed entries, commit ops and results, account, devices, revisions.

Parsing is strict: a field of the wrong type is a ProtocolError naming it, never a half-filled journal row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar

from ferrysync.daemon.model import Kind, RemoteEntry
from ferrysync.daemon.remote.errors import ProtocolError


def _get(obj: Mapping[str, Any], key: str, typ: type | tuple[type, ...], *, optional: bool = False) -> Any:
    # `type(obj) is dict` first: what JSON decodes to, and ~10x cheaper than the ABC's isinstance, which a listing
    # of 10,000 entries asked 110,000 times
    if type(obj) is not dict and not isinstance(obj, Mapping):
        raise ProtocolError(f"expected an object, got {type(obj).__name__}")
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise ProtocolError(f"field {key!r}: expected {typ}, got {value!r}")
    return value


def _str_tuple(obj: Mapping[str, Any], key: str) -> tuple[str, ...]:
    values = _get(obj, key, list)
    for v in values:  # (a loop, not all() over a generator: most lists here hold one block's hash)
        if not isinstance(v, str):
            raise ProtocolError(f"field {key!r}: expected a list of strings")
    return tuple(values)


_KINDS = {k.value: k for k in Kind}


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """A row of the server's file table: a RemoteEntry plus what the feed adds (seq, tombstone, author)."""

    entry: RemoteEntry
    seq: int
    deleted: bool = False
    modified_by: str | None = None

    @property
    def path(self) -> str:
        return self.entry.path

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> FeedEntry:
        kind_s = _get(obj, "kind", str)
        kind = _KINDS.get(kind_s)  # (a dict look-up: the Enum's own call costs ~1 µs an entry)
        if kind is None:
            raise ProtocolError(f"field 'kind': unknown kind {kind_s!r}")
        entry = RemoteEntry(
            path=_get(obj, "path", str),
            kind=kind,
            file_id=_get(obj, "file_id", str),
            rev=_get(obj, "rev", int),
            size=_get(obj, "size", int, optional=True) or 0,
            mtime_ns=_get(obj, "mtime_ns", int, optional=True) or 0,
            executable=bool(_get(obj, "executable", bool, optional=True)),
            content_hash=_get(obj, "content_hash", str, optional=True),
            blocks=_str_tuple(obj, "blocks") if obj.get("blocks") is not None else (),
        )
        return cls(
            entry=entry,
            seq=_get(obj, "seq", int),
            deleted=bool(_get(obj, "deleted", bool, optional=True)),
            modified_by=_get(obj, "modified_by", str, optional=True),
        )


# Commit ops: the class's fields are the op's JSON fields, `OP` its "op" value (docs/api.md, Commit);
# tests/test_wire_contract.py checks both against the server's request models.


def _op_json(op: PutOp | MkdirOp | DeleteOp | MoveOp) -> dict[str, Any]:
    out: dict[str, Any] = {"op": op.OP}
    for f in fields(op):
        value = getattr(op, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


@dataclass(frozen=True, slots=True)
class PutOp:
    OP: ClassVar[str] = "put"
    path: str
    blocks: tuple[str, ...]
    size: int
    mtime_ns: int
    executable: bool
    base_rev: int | None

    def to_json(self) -> dict[str, Any]:
        return _op_json(self)


@dataclass(frozen=True, slots=True)
class MkdirOp:
    OP: ClassVar[str] = "mkdir"
    path: str
    base_rev: int | None = None

    def to_json(self) -> dict[str, Any]:
        return _op_json(self)


@dataclass(frozen=True, slots=True)
class DeleteOp:
    OP: ClassVar[str] = "delete"
    path: str
    base_rev: int

    def to_json(self) -> dict[str, Any]:
        return _op_json(self)


@dataclass(frozen=True, slots=True)
class MoveOp:
    OP: ClassVar[str] = "move"
    path: str
    to: str
    base_rev: int

    def to_json(self) -> dict[str, Any]:
        return _op_json(self)


CommitOp = PutOp | MkdirOp | DeleteOp | MoveOp
COMMIT_OPS: tuple[type[CommitOp], ...] = (PutOp, MkdirOp, DeleteOp, MoveOp)


# The codes of a failed op (docs/api.md, Commit); checked against the server's by tests/test_wire_contract.py.
COMMIT_FAILURES = ("conflict", "missing_blocks", "not_empty", "bad_request", "quota_exceeded", "read_only",
                   "cross_namespace", "mount_point")


@dataclass(frozen=True, slots=True)
class CommitResult:
    """The outcome of one op. ok → `entry`; else `code` is one of COMMIT_FAILURES: conflict (see `current`),
    missing_blocks (see `missing`), not_empty, bad_request, quota_exceeded (the account is full: retried later); and
    for folders shared between users read_only (the folder is shared with this user read-only), cross_namespace (a
    move into or out of a shared folder) or mount_point (deleting a shared folder's own folder)."""

    ok: bool
    entry: FeedEntry | None = None
    code: str | None = None
    message: str = ""
    current: FeedEntry | None = None
    missing: tuple[str, ...] = ()

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> CommitResult:
        ok = _get(obj, "ok", bool)
        if ok:
            return cls(ok=True, entry=FeedEntry.parse(_get(obj, "entry", dict)))
        current = obj.get("current")
        return cls(
            ok=False,
            code=_get(obj, "code", str),
            message=str(obj.get("message") or ""),
            current=FeedEntry.parse(current) if isinstance(current, dict) else None,
            missing=_str_tuple(obj, "missing") if obj.get("missing") is not None else (),
        )


@dataclass(frozen=True, slots=True)
class ChangesPage:
    entries: tuple[FeedEntry, ...]
    cursor: int | str  # opaque to the daemon but for remote/cursor.py
    has_more: bool


@dataclass(frozen=True, slots=True)
class WaitResult:
    changes: bool
    cursor: int | str


@dataclass(frozen=True, slots=True)
class LoginResult:
    token: str
    device_id: str
    user: str
    expires_at: datetime | None = None  # when the token stops working (None: never)
    renew_after: datetime | None = None  # when to renew it (POST /v1/token/renew)
    renew_in: float | None = None  # seconds from the answer until renew_after, by the server's clock

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> LoginResult:
        info = TokenInfo.parse(obj)
        return cls(token=_get(obj, "token", str), device_id=info.device_id, user=_get(obj, "user", str),
                   expires_at=info.expires_at, renew_after=info.renew_after, renew_in=info.renew_in)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    device_id: str
    expires_at: datetime | None
    renew_after: datetime | None
    renew_in: float | None

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> TokenInfo:
        renew_in = _get(obj, "renew_in", (int, float), optional=True)
        return cls(device_id=_get(obj, "device_id", str), expires_at=parse_time(obj, "expires_at"),
                   renew_after=parse_time(obj, "renew_after"),
                   renew_in=None if renew_in is None else float(renew_in))


def parse_time(obj: Mapping[str, Any], key: str) -> datetime | None:
    """An RFC 3339 time of the API (`2026-11-26T14:25:01.123Z`), or None when absent or null."""
    text = _get(obj, key, str, optional=True)
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ProtocolError(f"field {key!r}: not an RFC 3339 time: {text!r}") from None


@dataclass(frozen=True, slots=True)
class Account:
    user: str
    bytes: int
    files: int
    blocks_bytes: int


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    name: str
    created_at: str | float | int | None
    last_seen: str | float | int | None
    expires_at: str | None = None
    current: bool = False  # the device that asked

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> Device:
        return cls(device_id=str(_get(obj, "device_id", (str, int))), name=_get(obj, "name", str),
                   created_at=obj.get("created_at"), last_seen=obj.get("last_seen"),
                   expires_at=_get(obj, "expires_at", str, optional=True), current=obj.get("current") is True)


@dataclass(frozen=True, slots=True)
class Revision:
    rev: int
    file_id: str
    size: int
    content_hash: str | None
    blocks: tuple[str, ...]
    mtime_ns: int
    executable: bool
    deleted: bool
    modified_by: str | None
    created_at: str | float | int | None

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> Revision:
        return cls(
            rev=_get(obj, "rev", int),
            file_id=_get(obj, "file_id", str),
            size=_get(obj, "size", int, optional=True) or 0,
            content_hash=_get(obj, "content_hash", str, optional=True),
            blocks=_str_tuple(obj, "blocks") if obj.get("blocks") is not None else (),
            mtime_ns=_get(obj, "mtime_ns", int, optional=True) or 0,
            executable=bool(_get(obj, "executable", bool, optional=True)),
            deleted=bool(_get(obj, "deleted", bool, optional=True)),
            modified_by=_get(obj, "modified_by", str, optional=True),
            created_at=obj.get("created_at"),
        )


def parse_int(obj: Mapping[str, Any], key: str) -> int:
    return int(_get(obj, key, int))


def parse_str_list(obj: Mapping[str, Any], key: str) -> tuple[str, ...]:
    return _str_tuple(obj, key)


def parse_entries(obj: Mapping[str, Any], key: str = "entries") -> tuple[FeedEntry, ...]:
    return tuple(FeedEntry.parse(e) for e in _get(obj, key, list))


@dataclass(frozen=True, slots=True)
class ShareLink:
    """A share link as the server lists it (GET /v1/shares). Its token is not among its fields: the server keeps
    only the token's hash and shows the token once, when the link is made (ShareCreated)."""

    id: str
    path: str  # where the shared file or folder is now (the link follows it through moves)
    original_path: str
    kind: str
    state: str  # active, expired, revoked or gone (deleted)
    created_at: str
    created_by: str | None
    expires_at: str | None
    has_password: bool
    downloads: int
    last_download_at: str | None

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> ShareLink:
        return cls(id=_get(obj, "id", str), path=_get(obj, "path", str), original_path=_get(obj, "original_path", str),
                   kind=_get(obj, "kind", str), state=_get(obj, "state", str), created_at=_get(obj, "created_at", str),
                   created_by=_get(obj, "created_by", str, optional=True),
                   expires_at=_get(obj, "expires_at", str, optional=True),
                   has_password=_get(obj, "has_password", bool), downloads=_get(obj, "downloads", int),
                   last_download_at=_get(obj, "last_download_at", str, optional=True))


@dataclass(frozen=True, slots=True)
class ShareCreated:
    share: ShareLink
    token: str
    url: str

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> ShareCreated:
        return cls(share=ShareLink.parse(_get(obj, "share", dict)), token=_get(obj, "token", str),
                   url=_get(obj, "url", str))
