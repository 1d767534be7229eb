"""The data directory holds the password and token hashes (ferry.db) and every user's blocks: only the server's
own account may read it, whatever umask it was started with.

Two parts. `private_umask` makes everything the process creates from then on 0600 (files, SQLite's -wal and -shm
included) and 0700 (directories), so no code path has to remember a mode. `secure_data_dir` narrows what an older
release, or a hand-made directory, left open: the directory itself to 0700 (then nothing below it is reachable by
others, so the blocks tree is not walked: millions of files) and the database files to 0600. It fixes and says so,
rather than refusing to start: the server owns these files, the fix is safe, and refusing would take a service down
after an upgrade for something it can repair. Only when it cannot narrow them (another owner) does it refuse.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("ferrysync.server")

PRIVATE_UMASK = 0o077
_DB_FILES = ("ferry.db", "ferry.db-wal", "ferry.db-shm", "ferry.db-journal")


class DataDirUnsafe(Exception):
    """Others can read the data directory and the server cannot change that; the message says what to do."""


def private_umask() -> None:
    os.umask(PRIVATE_UMASK)


def secure_data_dir(data: Path) -> list[str]:
    """Create `data` (0700) or narrow it and its database files; return what was changed, each also logged."""
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    changed: list[str] = []
    for path, wanted in [(data, 0o700), *((data / name, 0o600) for name in _DB_FILES)]:
        try:
            mode = stat.S_IMODE(path.lstat().st_mode)
        except FileNotFoundError:
            continue
        if not mode & 0o077 or stat.S_ISLNK(path.lstat().st_mode):
            continue
        try:
            path.chmod(wanted)
        except PermissionError:
            raise DataDirUnsafe(f"{path} is readable by others (mode {mode:04o}) and this account cannot narrow "
                                f"it: as its owner, run chmod {wanted:o} {path}") from None
        log.warning("narrowed %s from %04o to %04o: it holds password and token hashes or users' files",
                    path, mode, wanted)
        changed.append(f"{path}: {mode:04o} -> {wanted:04o}")
    return changed
