"""Per-user quotas: the bytes of a user's live files may not pass `users.quota_bytes` (NULL: no limit).

Commits are checked inside their transaction (store/tree.py: a put or restore that would grow the live bytes past
the quota fails alone with the op code `quota_exceeded`; deleting, moving and shrinking always work, so a user over
quota can always make room). Block uploads are checked here, before anything is stored: blocks that could not fit
as a new file are refused with 507 `quota_exceeded`, so an account cannot fill the block store with blocks it will
never be allowed to commit. Old revisions and deleted files (kept for the retention period) are not counted: users
cannot remove them early, so counting them would leave a full account stuck.
"""

from __future__ import annotations

from ferrysync.server.errors import ApiError
from ferrysync.server.store.base import MetaStore

STATUS = 507  # Insufficient Storage (RFC 4918): what WebDAV servers answer a full quota with


def quota_error(message: str, quota_bytes: int, used_bytes: int) -> ApiError:
    return ApiError(STATUS, "quota_exceeded", message, quota_bytes=quota_bytes, used_bytes=used_bytes)


def check_upload(meta: MetaStore, user_id: int, incoming: int) -> None:
    """Raise 507 quota_exceeded when `incoming` more bytes of blocks could not fit under the user's quota."""
    quota, used = meta.quota_use(user_id)  # no sum at all for an account without a quota
    if quota is None or used + incoming <= quota:
        return
    raise quota_error(f"the account's files use {used} of its {quota}-byte quota: {incoming} more bytes do not "
                      "fit (delete files or ask the operator for more room)", quota_bytes=quota, used_bytes=used)
