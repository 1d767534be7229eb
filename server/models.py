"""Request and response bodies (pydantic): they validate input and document the API in /openapi.json.

Input models are strict (no "1" for 1, no 1 for true) and bound every integer to what a 64-bit column holds, so
odd input is a 400, never a database error. Paths are checked separately (server.paths) to answer 400 bad_path.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from ferrysync.server.limits import (
    MAX_HASHES_PER_FETCH,
    MAX_HASHES_PER_MISSING,
    MAX_INT,
    MAX_NAME_CHARS,
    MAX_OPS_PER_COMMIT,
    MAX_PASSWORD_CHARS,
    PUBLISHED,
    SHARE_MAX_EXPIRY_S,
)

BigInt = Annotated[int, Field(ge=-MAX_INT, le=MAX_INT)]
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
Rev = Annotated[int, Field(ge=0, le=MAX_INT)]


def _clean_text(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode") from None
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in value):
        raise ValueError("control characters are not allowed")
    return value


class StrictModel(BaseModel):
    """Unknown fields are refused (400), not dropped: a misspelt `base_rev` would otherwise turn a guarded op into
    an unguarded one without a word."""

    model_config = ConfigDict(strict=True, extra="forbid")


# -- auth ------------------------------------------------------------------------------------------------------
class LoginRequest(StrictModel):
    user: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    password: str = Field(max_length=MAX_PASSWORD_CHARS)
    device_name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)

    @field_validator("user", "device_name")
    @classmethod
    def _names(cls, value: str) -> str:
        return _clean_text(value)

    @field_validator("password")
    @classmethod
    def _password(cls, value: str) -> str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("password is not valid Unicode") from None
        return value


class TokenInfo(BaseModel):
    device_id: str
    expires_at: str | None = Field(description="when this token stops working (null: never)")
    renew_after: str | None = Field(description="renew it (POST /v1/token/renew) from then on (null: never needed)")
    renew_in: float | None = Field(description="seconds from now until renew_after (for clients whose clock is off)")


class LoginResponse(TokenInfo):
    token: str
    user: str


class DeviceOut(BaseModel):
    device_id: str
    name: str
    created_at: str
    last_seen: str | None
    expires_at: str | None = Field(description="when the device's token expires (null: never)")
    current: bool = Field(description="the device making this request")


class DevicesResponse(BaseModel):
    devices: list[DeviceOut]


class AccountResponse(BaseModel):
    user: str
    bytes: int = Field(description="bytes of the user's live files: what the quota counts")
    files: int
    blocks_bytes: int
    quota_bytes: int | None = Field(None, description="the account's quota in bytes; null: no limit")


class HealthResponse(BaseModel):
    ok: bool
    version: str


class Empty(BaseModel):
    pass


# GET /v1/limits: one int field per published limit, its value as the schema's default (so /openapi.json
# carries the limits too). Built from limits.PUBLISHED so no limit is named twice.
LimitsResponse: type[BaseModel] = create_model(
    "LimitsResponse",
    **{name: (int, Field(default=p.value, description=p.doc)) for name, p in PUBLISHED.items()},  # type: ignore[call-overload]
)


# -- blocks ----------------------------------------------------------------------------------------------------
class MissingRequest(StrictModel):
    hashes: list[str] = Field(max_length=MAX_HASHES_PER_MISSING)


class FetchRequest(StrictModel):
    hashes: list[str] = Field(min_length=1, max_length=MAX_HASHES_PER_FETCH)


class MissingResponse(BaseModel):
    missing: list[str]


class BlockStored(BaseModel):
    hash: str
    size: int


class BatchStored(BaseModel):
    stored: list[str]


# -- tree ------------------------------------------------------------------------------------------------------
class EntryOut(BaseModel):
    path: str
    kind: Literal["file", "dir"]
    file_id: str
    rev: int
    seq: int
    deleted: bool
    size: int
    mtime_ns: int
    executable: bool
    content_hash: str | None
    blocks: list[str]
    modified_by: str | None


class PutOpIn(StrictModel):
    op: Literal["put"]
    path: str
    blocks: list[str]
    size: Count
    mtime_ns: BigInt
    executable: bool = False
    base_rev: Rev | None = None


class MkdirOpIn(StrictModel):
    op: Literal["mkdir"]
    path: str
    base_rev: Rev | None = None


class DeleteOpIn(StrictModel):
    op: Literal["delete"]
    path: str
    base_rev: Rev


class MoveOpIn(StrictModel):
    op: Literal["move"]
    path: str
    to: str
    base_rev: Rev


OpIn = Annotated[PutOpIn | MkdirOpIn | DeleteOpIn | MoveOpIn, Field(discriminator="op")]


class CommitRequest(StrictModel):
    ops: list[OpIn] = Field(max_length=MAX_OPS_PER_COMMIT)


class OpResultOut(BaseModel):
    ok: bool
    entry: EntryOut | None = None
    code: str | None = None
    message: str | None = None
    current: EntryOut | None = None
    missing: list[str] | None = None


class CommitResponse(BaseModel):
    results: list[OpResultOut]


class ChangesResponse(BaseModel):
    entries: list[EntryOut]
    cursor: int | str  # an integer for a user with no shared folders mounted; else "ROOT,MOUNT:SEQ,..."
    has_more: bool


class WaitResponse(BaseModel):
    changes: bool
    cursor: int | str


class RevisionOut(BaseModel):
    rev: int
    file_id: str
    size: int
    content_hash: str | None
    blocks: list[str]
    mtime_ns: int
    executable: bool
    deleted: bool
    modified_by: str | None
    created_at: str
    kind: Literal["file", "dir"]


class RevisionsResponse(BaseModel):
    revisions: list[RevisionOut]


class DeletedResponse(BaseModel):
    entries: list[EntryOut]


class RestoreRequest(StrictModel):
    path: str
    rev: Rev


class RestoreResponse(BaseModel):
    entry: EntryOut


# -- share links -----------------------------------------------------------------------------------------------
class ShareCreateRequest(StrictModel):
    path: str
    expires_in: Annotated[int, Field(ge=1, le=SHARE_MAX_EXPIRY_S)] | None = Field(
        default=None, description="seconds from now until the link stops working")
    expires_at: str | None = Field(default=None, max_length=64,
                                   description="when the link stops working (RFC 3339); not with expires_in")
    password: str | None = Field(default=None, min_length=1, max_length=MAX_PASSWORD_CHARS,
                                 description="visitors must give it before they see or download anything")

    @field_validator("password")
    @classmethod
    def _password(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("password is not valid Unicode") from None
        return value


class ShareOut(BaseModel):
    id: str
    path: str = Field(description="where the shared file or folder is now (where it was, when it is gone)")
    original_path: str = Field(description="where it was when the link was made")
    kind: Literal["file", "dir"]
    state: Literal["active", "expired", "revoked", "gone"] = Field(
        description="gone: the file or folder was deleted (the link answers 410)")
    created_at: str
    created_by: str | None = Field(description="the device that made the link")
    expires_at: str | None
    has_password: bool
    downloads: int = Field(description="downloads through the link (each file or zip counts once)")
    last_download_at: str | None


class ShareCreated(BaseModel):
    share: ShareOut
    token: str = Field(description="the link's secret; the server keeps only its hash, so it is shown only now")
    url: str = Field(description="the public address of the link (this server's address + /s/ + token)")


class SharesResponse(BaseModel):
    shares: list[ShareOut]


# -- folders shared between users ------------------------------------------------------------------------------
class ShareFolderRequest(StrictModel):
    path: str
    user: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    role: Literal["rw", "ro"] = "rw"


class MemberRequest(StrictModel):
    path: str
    user: str = Field(min_length=1, max_length=MAX_NAME_CHARS)


class RoleRequest(StrictModel):
    path: str
    user: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    role: Literal["rw", "ro"]


class LeaveRequest(StrictModel):
    path: str


class MemberOut(BaseModel):
    user: str
    role: Literal["owner", "rw", "ro"]
    path: str | None = None


class MembersResponse(BaseModel):
    members: list[MemberOut]


class MountOut(BaseModel):
    path: str
    role: Literal["owner", "rw", "ro"]
    owner: str
    members: int


class MountsResponse(BaseModel):
    mounts: list[MountOut]
