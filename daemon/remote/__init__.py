"""The daemon's side of the Ferry HTTP API: a typed client, its values and its errors."""

from ferrysync.daemon.remote.client import MAX_BATCH_BODY, MAX_BLOCK, RemoteClient, Throttle, encode_batch
from ferrysync.daemon.remote.errors import (
    BadRequest,
    CertificateError,
    ConflictError,
    CursorExpired,
    Forbidden,
    InsufficientStorage,
    NotFound,
    ProtocolError,
    RemoteError,
    ServerUnavailable,
    TooLarge,
    Unauthorized,
)
from ferrysync.daemon.remote.tls import fetch_certificate_sha256, normalize_fingerprint
from ferrysync.daemon.remote.types import (
    Account,
    ChangesPage,
    CommitOp,
    CommitResult,
    DeleteOp,
    Device,
    FeedEntry,
    LoginResult,
    MkdirOp,
    MoveOp,
    PutOp,
    Revision,
    ShareCreated,
    ShareLink,
    WaitResult,
)

__all__ = [
    "MAX_BATCH_BODY", "MAX_BLOCK", "Account", "BadRequest", "CertificateError", "ChangesPage", "CommitOp",
    "CommitResult", "ConflictError", "CursorExpired", "DeleteOp", "Device", "FeedEntry", "Forbidden",
    "InsufficientStorage",
    "LoginResult", "MkdirOp", "MoveOp", "NotFound", "ProtocolError", "PutOp", "RemoteClient", "RemoteError",
    "Revision", "ServerUnavailable", "ShareCreated", "ShareLink", "Throttle", "TooLarge", "Unauthorized",
    "WaitResult", "encode_batch",
    "fetch_certificate_sha256", "normalize_fingerprint",
]
