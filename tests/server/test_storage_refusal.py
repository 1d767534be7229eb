"""A server whose own disk refuses writes says so (503 `storage_full`, retried by the client) instead of 500.

The end-to-end case (a real ferry-server whose every write fails) is in tests/e2e/test_sync_faults.py; here, which
errors count as the disk's refusal, however deep the database driver or SQLAlchemy wraps them.
"""

from __future__ import annotations

import errno
import sqlite3

import sqlalchemy.exc

from ferrysync.server.errors import storage_refusal


def _sqlite(code: int, message: str) -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError(message)
    exc.sqlite_errorcode = code
    return exc


def test_a_full_or_failing_disk_is_the_storage_refusing_writes() -> None:
    for exc in (OSError(errno.ENOSPC, "No space left on device"), OSError(errno.EDQUOT, "Disk quota exceeded"),
                OSError(errno.EFBIG, "File too large"), OSError(errno.EIO, "Input/output error"),
                OSError(errno.EROFS, "Read-only file system"), _sqlite(13, "database or disk is full"),
                _sqlite(778, "disk I/O error"), _sqlite(8, "attempt to write a readonly database")):
        assert storage_refusal(exc) is exc, exc


def test_the_refusal_is_found_inside_what_wraps_it() -> None:
    orig = _sqlite(13, "database or disk is full")
    wrapped = sqlalchemy.exc.OperationalError("INSERT INTO entries ...", {}, orig)
    assert storage_refusal(wrapped) is orig
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("storing the batch failed") from inner
    except RuntimeError as outer:
        found = storage_refusal(outer)
    assert isinstance(found, OSError)
    assert found.errno == errno.ENOSPC


def test_other_errors_are_bugs_not_the_disk() -> None:
    assert storage_refusal(ValueError("a bug")) is None
    assert storage_refusal(OSError(errno.ENOENT, "No such file or directory")) is None
    assert storage_refusal(_sqlite(19, "UNIQUE constraint failed")) is None
    assert storage_refusal(sqlalchemy.exc.IntegrityError("INSERT", {}, _sqlite(19, "UNIQUE"))) is None
