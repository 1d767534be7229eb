"""A download's swap with its target, made safe against a crash in the middle.

A download lands by exchanging its verified temp file with the target (invariant 7 of docs/sync-model.md): if the
user saved the target in that instant, their bytes end up in the temp file, and the executor keeps them as a
conflicted copy. Between the exchange and that rename the user's bytes live only in the engine's temp folder,
which a restart clears. So the executor records each swap in the journal before it starts, and clears the record
once the displaced bytes are safe (or known to be the old version the server keeps). A record left behind means
the engine stopped in between; `recover_swaps`, run before the temp folder is cleared, decides from the temp file
itself what it holds:

- the downloaded content (its hash is the download's): the exchange never happened, or the user's bytes were the
  same; nothing to keep;
- the old version the engine expected (same inode, size and mtime as the row the download was planned against):
  the server keeps that version; nothing to keep;
- anything else: the user's bytes, kept as a conflicted copy beside the file and queued for the indexer.

`keep_displaced` is the one way both the executor and this recovery keep such bytes: a conflicted copy beside the
file, or, when the file's folder is gone (the user deleted it in the meantime), the folder's trash under the file's
own path — never left in the temp folder, which nobody looks in and a restart clears.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ferrysync.daemon.journal import Journal
from ferrysync.daemon.local import fsio
from ferrysync.daemon.local.chunker import FileChangedWhileReading, hash_file
from ferrysync.daemon.local.conflicts import conflict_name
from ferrysync.daemon.local.ondisk import disk_path
from ferrysync.daemon.local.trash import keep_in_folder_trash
from ferrysync.daemon.model import LocalEntry

log = logging.getLogger(__name__)


def keep_displaced(temp: Path, path: str, root: Path, host: str, when: datetime,
                   exists: Callable[[str], bool]) -> str | None:
    """Keep the user's save at `temp` (displaced from `path` by a download's exchange): as a conflicted copy beside
    `path` (its path is returned), or in the folder's trash under `path` (None) when the folder that held it is
    gone or is no folder any more (the user deleted or replaced it in the meantime: the save goes where its
    folder's other files went). Raises FileNotFoundError only when `temp` itself is gone: nothing left to keep."""
    for _ in range(100):
        copy = conflict_name(path, host, when, exists)
        try:
            fsio.rename_noreplace(temp, disk_path(root, copy))
        except FileExistsError:
            continue  # taken in between: the next free name
        except (FileNotFoundError, NotADirectoryError):
            if not os.path.lexists(temp):
                raise
            keep_in_folder_trash(root, path, temp)
            return None
        return copy
    raise OSError(f"no free name for a conflicted copy of {path}")  # pragma: no cover - 100 names taken


def _prefix(folder_id: str) -> str:
    return f"swap:{folder_id}:"


def record_swap(journal: Journal, folder_id: str, path: str, temp: Path, content_hash: str | None,
                expect: LocalEntry | None) -> None:
    """Durably note that `temp` is about to be exchanged with `path` (committed before the exchange).

    Keyed by the temp file: a swap that failed keeps its record (and its temp) until a restart settles it,
    even if the same path is downloaded again meanwhile."""
    identity = None if expect is None else [expect.inode, expect.size, expect.mtime_ns]
    journal.set_meta(_prefix(folder_id) + temp.name, json.dumps({"path": path, "temp": str(temp),
                                                                 "content_hash": content_hash, "expect": identity}))


def clear_swap(journal: Journal, folder_id: str, temp: Path) -> None:
    """The swap is over and whatever it displaced is safe (call inside the transaction that records the result)."""
    journal.delete_meta(_prefix(folder_id) + temp.name)


def recover_swaps(journal: Journal, folder_id: str, root: Path, host: str, when: datetime,
                  exists: Callable[[str], bool]) -> list[str]:
    """Finish the swaps a crash interrupted; returns the conflicted copies made. Run before stale temps go."""
    made: list[str] = []
    for key, raw in journal.meta_with_prefix(_prefix(folder_id)).items():
        record = json.loads(raw)
        path, temp = str(record["path"]), Path(record["temp"])
        copy = _settle(temp, path, record, root, host, when, exists)
        with journal.transaction():
            if copy is not None:
                journal.add_conflict(folder_id, copy, path)
                journal.mark_dirty(folder_id, [copy, path], 0.0)
            journal.delete_meta(key)
        if copy is not None:
            made.append(copy)
    return made


def _settle(temp: Path, path: str, record: dict[str, object], root: Path, host: str, when: datetime,
            exists: Callable[[str], bool]) -> str | None:
    try:
        st = fsio.stat(temp)
    except FileNotFoundError:
        return None  # never swapped and discarded, or already kept
    expect = record.get("expect")
    if isinstance(expect, list) and [st.st_ino, st.st_size, st.st_mtime_ns] == expect:
        fsio.unlink(temp, missing_ok=True)  # the version the download replaced, as planned: the server has it
        return None
    try:
        if hash_file(temp).content_hash == record.get("content_hash"):
            fsio.unlink(temp, missing_ok=True)  # the download itself: the swap did not happen (or changed nothing)
            return None
    except FileChangedWhileReading:
        pass  # nobody writes in the engine's temp folder; if someone did, keeping it is the safe side
    copy = keep_displaced(temp, path, root, host, when, exists)
    log.warning("%s was saved while its download landed, and Ferry stopped before keeping it: kept as %s", path,
                copy or "an item of the folder's trash, its folder being gone (`ferry trash list`)")
    return copy
