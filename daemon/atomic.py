"""Atomic replacement of the daemon's own small files: the config, the credentials file, a folder's marker, autostart
entries.

`atomic_write` writes to a temp file in the same directory, fsyncs it, sets its mode, `os.replace`s it over the
target and fsyncs the directory: a reader (or the next start after a crash or power cut) sees the old content or the
new, never a mix, and never an empty file. The temp file is created with mode 0600 (`mkstemp`), so a secret is never
readable by others, even for a moment.

The sync engine's writes into a user's folder do not come here: they go through `local/fsio.py`, the disk seam the
simulation acts on, whose `fsync_dir` uses the one below.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename (or a create, or a delete) in directory `path` durable. POSIX only: Windows has no directory
    handles to sync, and NTFS journals the rename itself."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def private_opener(path: str, flags: int) -> int:
    """`open(..., opener=private_opener)`: a file this creates is 0600 whatever the umask (logs, a child's
    output), so the daemon's own files are never readable by others, even for a moment."""
    return os.open(path, flags, 0o600)


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data` so readers see old or new content, never a mix (even after a crash)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
