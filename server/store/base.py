"""The metadata store's vocabulary (plain dataclasses) and the MetaStore protocol the API layer codes against."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from ferrysync.server.store.cursor import Cursor
    from ferrysync.server.store.logins import LoginLock
    from ferrysync.server.store.shares import ShareLink
    from ferrysync.server.store.sharing import Member, MountInfo

Kind = Literal["file", "dir"]


@dataclass(frozen=True)
class Entry:
    """One row of a user's file table: a live entry or a tombstone. `rev` is the seq of its last change."""

    path: str
    kind: Kind
    file_id: str
    seq: int
    deleted: bool
    size: int = 0
    mtime_ns: int = 0
    executable: bool = False
    content_hash: str | None = None
    blocks: tuple[str, ...] = ()
    modified_by: str | None = None
    changed_at: int = 0

    @property
    def rev(self) -> int:
        return self.seq

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "kind": self.kind, "file_id": self.file_id, "rev": self.seq, "seq": self.seq,
            "deleted": self.deleted, "size": self.size, "mtime_ns": self.mtime_ns,
            "executable": self.executable, "content_hash": self.content_hash, "blocks": list(self.blocks),
            "modified_by": self.modified_by,
        }


@dataclass(frozen=True)
class Revision:
    path: str
    rev: int
    file_id: str
    kind: Kind
    deleted: bool
    size: int
    mtime_ns: int
    executable: bool
    content_hash: str | None
    blocks: tuple[str, ...]
    modified_by: str | None
    created_at: int


@dataclass(frozen=True)
class PutOp:
    path: str
    blocks: tuple[str, ...]
    size: int
    mtime_ns: int
    executable: bool
    base_rev: int | None


@dataclass(frozen=True)
class MkdirOp:
    path: str
    base_rev: int | None


@dataclass(frozen=True)
class DeleteOp:
    path: str
    base_rev: int


@dataclass(frozen=True)
class MoveOp:
    path: str
    to: str
    base_rev: int


Op = PutOp | MkdirOp | DeleteOp | MoveOp


@dataclass(frozen=True)
class OpOk:
    entry: Entry


@dataclass(frozen=True)
class OpFail:
    # read_only: the op writes into a folder shared with the caller read-only; cross_namespace: a move between
    # two namespaces (a shared folder and the rest); mount_point: deleting a shared folder's own folder;
    # quota_exceeded: the namespace owner's account is full.
    code: Literal["conflict", "missing_blocks", "bad_request", "not_empty", "quota_exceeded", "read_only",
                  "cross_namespace", "mount_point"]
    message: str
    current: Entry | None = None
    missing: tuple[str, ...] = ()


OpResult = OpOk | OpFail


@dataclass(frozen=True)
class User:
    id: int
    name: str
    created_at: int
    quota_bytes: int | None = None  # bytes of live files the user may hold; None: no limit
    is_admin: bool = False


@dataclass(frozen=True)
class WebSession:
    """A signed-in browser of the web app (found by the hash of its cookie's token)."""

    token_hash: str
    user: User
    created_at: int
    last_seen: int
    expires_at: int


@dataclass(frozen=True)
class Device:
    id: str
    user_id: int
    user_name: str
    name: str
    created_at: int
    last_seen: int | None
    token_hash: str = ""  # the hash the caller's token matched (the current one, or `previous` below)
    token_issued_at: int = 0  # when the current token was issued (at login or the last renewal)
    previous: bool = False  # matched the token a renewal replaced, still in its grace period


@dataclass(frozen=True)
class ChangePage:
    entries: list[Entry]
    cursor: int | str  # an integer for a user with no mounts, else the composite form (store/cursor.py)
    has_more: bool


@dataclass(frozen=True)
class Usage:
    bytes: int  # live files' sizes: what the quota counts
    files: int
    blocks_bytes: int
    quota_bytes: int | None = None


@dataclass(frozen=True)
class PruneReport:
    revisions: int = 0
    tombstones: int = 0
    users: list[str] = field(default_factory=list)
    block_holdings: int = 0
    block_files: int = 0


class CursorExpired(Exception):
    """The cursor predates tombstones removed by retention: the client must re-list from cursor 0."""


class RestoreError(Exception):
    def __init__(self, code: str, message: str, current: Entry | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.current = current


class MetaStore(Protocol):
    """What the API layer needs from metadata storage (SQL today; the protocol keeps routes backend-free)."""

    def close(self) -> None: ...

    # users and devices
    def add_user(self, name: str, password_hash: str) -> User: ...
    def get_user(self, name: str) -> tuple[User, str] | None: ...
    def list_users(self) -> list[User]: ...
    def remove_user(self, name: str) -> bool: ...
    def user_by_id(self, user_id: int) -> User | None: ...
    def set_password(self, name: str, password_hash: str) -> bool: ...
    def set_quota(self, name: str, quota_bytes: int | None) -> bool: ...
    def set_admin(self, name: str, admin: bool) -> bool: ...
    # the web app's sessions (store/accounts.py)
    def add_session(self, user_id: int, token_hash: str, expires_at: int) -> None: ...
    def session(self, token_hash: str, now: int) -> WebSession | None: ...
    def touch_session(self, session: WebSession, expires_at: int) -> None: ...
    def end_session(self, token_hash: str) -> None: ...
    def end_sessions(self, user_id: int, keep: str | None = None) -> int: ...
    def prune_sessions(self) -> int: ...
    def add_device(self, user_id: int, name: str, token_hash: str) -> Device: ...
    def device_by_token(self, token_hash: str) -> Device | None: ...
    def touch_device(self, device: Device) -> None: ...
    def list_devices(self, user_id: int) -> list[Device]: ...
    def revoke_device(self, device_id: str, user_id: int | None = None) -> bool: ...
    def renew_token(self, device_id: str, used_hash: str, new_hash: str, grace_until: int) -> int | None: ...
    # the login throttle (see store/logins.py and server/throttle.py)
    def login_locked_until(self, keys: Sequence[str]) -> int: ...
    def login_failed(self, key: str, now: int, forget_before: int, delay_ms: Callable[[int], int]) -> int: ...
    def clear_login_failures(self, keys: Sequence[str]) -> int: ...
    def login_locks(self) -> list[LoginLock]: ...
    def prune_login_failures(self, forget_before: int) -> int: ...
    # blocks held per user
    def missing_blocks(self, user_id: int, hashes: Sequence[str]) -> list[str]: ...
    def mark_uploading(self, hashes: Sequence[str]) -> None: ...
    def add_user_blocks(self, user_id: int, blocks: Sequence[tuple[str, int]]) -> None: ...
    def user_has_block(self, user_id: int, digest: str) -> bool: ...
    def user_block_sizes(self, user_id: int, hashes: Sequence[str]) -> dict[str, int]: ...
    # garbage collection (see store/blockmarks.py and server/gc.py)
    def blocks_held(self, hashes: Sequence[str]) -> set[str]: ...
    def drop_unreferenced_blocks(self, cutoff_ms: int) -> int: ...
    def claim_unheld_blocks(self, candidates: Sequence[str], grace_cutoff_ms: int) -> list[str]: ...
    def release_block_claims(self, hashes: Sequence[str]) -> None: ...
    def expire_block_marks(self, grace_cutoff_ms: int) -> int: ...
    def preview_collectable(self, hashes: Sequence[str], retention_cutoff_ms: int,
                            grace_cutoff_ms: int) -> tuple[PruneReport, list[str]]: ...
    # tree
    # tree: a user's paths over their namespaces; commit and restore return {namespace id: new seq}
    def commit(self, user_id: int, device_name: str, ops: Sequence[Op]) -> tuple[list[OpResult], dict[int, int]]: ...
    def feed_position(self, user_id: int) -> tuple[Cursor, dict[int, int]]: ...
    def current_seq(self, user_id: int) -> int | str: ...
    def changes(self, user_id: int, cursor: int | str | Cursor, limit: int) -> ChangePage: ...
    # a user's live entries over their namespaces (mounts included), for the web app and share links
    def entry(self, user_id: int, path: str) -> Entry | None: ...
    def live_below(self, user_id: int, path: str) -> list[Entry]: ...
    def children(self, user_id: int, folder: str) -> list[Entry]: ...
    def revisions(self, user_id: int, path: str) -> list[Revision]: ...
    def deleted(self, user_id: int, prefix: str | None, since_ms: int) -> list[Entry]: ...
    def restore(self, user_id: int, device_name: str, path: str, rev: int) -> tuple[Entry, dict[int, int]]: ...
    def usage(self, user_id: int) -> Usage: ...
    def quota_use(self, user_id: int) -> tuple[int | None, int]: ...
    def prune(self, cutoff_ms: int) -> PruneReport: ...
    # share links (see store/shares.py): the API, the public pages and the web app all go through these
    def live_entry(self, user_id: int, path: str) -> Entry | None: ...
    def live_subtree(self, user_id: int, root: str) -> list[Entry]: ...
    def create_share(self, user_id: int, target: Entry, token_hash: str, password_hash: str | None,
                     grant_key: str, expires_at: int | None, created_by: str | None) -> ShareLink: ...
    def list_shares(self, user_id: int) -> list[ShareLink]: ...
    def revoke_share(self, user_id: int, share_id: str) -> bool: ...
    def share_by_token(self, token_hash: str) -> tuple[ShareLink, Entry | None] | None: ...
    def count_share_download(self, share_id: str) -> None: ...
    def share_hit(self, key: str, window_start: int) -> int: ...
    def prune_share_hits(self, before: int) -> int: ...
    # folders shared between users (store/sharing.py; errors are sharing.ShareError)
    def share_folder(self, owner_id: int, device_name: str, path: str, member: str,
                     role: str) -> tuple[Member, dict[int, int]]: ...
    def set_member_role(self, owner_id: int, path: str, member: str, role: str) -> Member: ...
    def unshare_folder(self, user_id: int, device_name: str, path: str, member: str | None) -> dict[int, int]: ...
    def folder_members(self, user_id: int, path: str) -> list[Member]: ...
    def mounts(self, user_id: int) -> list[MountInfo]: ...
