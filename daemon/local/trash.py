"""Where local files go when Ferry deletes or replaces them: the OS trash, else the folder's own trash.

The folder trash (`<root>/.ferry/trash/<timestamp>/<relpath>`) is the fallback for machines or filesystems
with no usable OS trash (headless servers, some network mounts). Each trashing gets its own timestamped
directory with a small info file, so items can be listed and restored to where they were.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Literal

import send2trash

from ferrysync.daemon.local import fsio
from ferrysync.daemon.local.ondisk import disk_path

TRASH_DIR = PurePosixPath(".ferry/trash")
INFO_FILE = ".ferry-trash-info.json"
_STAMP_FMT = "%Y%m%dT%H%M%S.%fZ"

OsTrash = Callable[[str], None]


class TrashError(Exception):
    """Moving to or restoring from the trash failed; the file was left where it was."""


@dataclass(frozen=True, slots=True)
class TrashedItem:
    relpath: str
    location: Literal["os", "folder"]
    trashed_at: datetime
    stored_at: Path | None = None  # folder trash only: where the bytes are now
    is_dir: bool = False


def _check_relpath(relpath: str) -> PurePosixPath:
    p = PurePosixPath(relpath)
    if not relpath or p.is_absolute() or any(part in ("", ".", "..") for part in relpath.split("/")):
        raise ValueError(f"not a relative path inside the sync folder: {relpath!r}")
    if p.parts[0] == ".ferry":
        raise ValueError(f"Ferry's own folder is never trashed: {relpath!r}")
    return p


def _default_os_trash(path: str) -> None:
    send2trash.send2trash(path)


def move_to_trash(root: str | os.PathLike[str], relpath: str, *, use_os_trash: bool = True,
                  os_trash: OsTrash = _default_os_trash) -> TrashedItem:
    """Move `<root>/<relpath>` (file or folder) to the OS trash, or to the folder trash if that fails."""
    rel = _check_relpath(relpath)
    src = disk_path(Path(root), rel.as_posix())  # an NFD name on disk holds the NFC path
    if not src.exists() and not src.is_symlink():
        raise FileNotFoundError(f"nothing to trash at {src}")
    is_dir = src.is_dir() and not src.is_symlink()
    if use_os_trash:
        try:
            os_trash(str(src))
        except OSError:  # any OS-trash failure (no trash here, permissions, headless) → folder trash
            if src.exists() or src.is_symlink():
                return _to_folder_trash(Path(root), rel, src, is_dir)
        # Gone from its place even if send2trash complained afterwards (e.g. its .trashinfo): it is there.
        return TrashedItem(relpath, "os", datetime.now(UTC), None, is_dir)
    return _to_folder_trash(Path(root), rel, src, is_dir)


def keep_in_folder_trash(root: str | os.PathLike[str], relpath: str, src: Path) -> TrashedItem:
    """Put bytes that belong at `relpath` but sit elsewhere inside the root (a user's save a download displaced into
    Ferry's temp folder) in the folder trash, as if `relpath` had been deleted: listed and restored like any
    trashed file. For when their own folder is gone, so there is nowhere beside the file to keep them."""
    return _to_folder_trash(Path(root), _check_relpath(relpath), src, is_dir=False)


def _to_folder_trash(root: Path, rel: PurePosixPath, src: Path, is_dir: bool) -> TrashedItem:
    base = root.joinpath(*TRASH_DIR.parts)
    base.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    stamp = now.strftime(_STAMP_FMT)
    slot = base / stamp
    n = 0
    while True:
        try:
            slot.mkdir()
            break
        except FileExistsError:
            n += 1
            slot = base / f"{stamp}-{n}"
    dest = slot.joinpath(*rel.parts)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        (slot / INFO_FILE).write_text(json.dumps({"relpath": str(rel), "trashed_at": now.isoformat(),
                                                  "is_dir": is_dir}), encoding="utf-8")
        fsio.rename_noreplace(src, dest)  # same filesystem: the trash lives inside the root
    except OSError as exc:
        shutil.rmtree(slot, ignore_errors=True)
        if isinstance(exc, FileNotFoundError) and not os.path.lexists(src):
            raise FileNotFoundError(exc.errno, f"{src} vanished before it could be trashed", str(src)) from exc
        raise TrashError(f"cannot move {src} to the folder trash {slot}: {exc}") from exc
    return TrashedItem(str(rel), "folder", now, dest, is_dir)


def list_folder_trash(root: str | os.PathLike[str]) -> list[TrashedItem]:
    """Items in the folder trash, newest first (unreadable slots are skipped, never deleted)."""
    base = Path(root).joinpath(*TRASH_DIR.parts)
    items: list[TrashedItem] = []
    if not base.is_dir():
        return items
    for slot in base.iterdir():
        try:
            info = json.loads((slot / INFO_FILE).read_text(encoding="utf-8"))
            rel = _check_relpath(str(info["relpath"]))
            stored = slot.joinpath(*rel.parts)
            if not stored.exists() and not stored.is_symlink():
                continue
            items.append(TrashedItem(str(rel), "folder", datetime.fromisoformat(info["trashed_at"]), stored,
                                     bool(info.get("is_dir"))))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    items.sort(key=lambda i: (i.trashed_at, _slot_number(Path(root), i)), reverse=True)
    return items


def restore_from_folder_trash(root: str | os.PathLike[str], item: TrashedItem,
                              to: str | None = None) -> Path:
    """Put a folder-trash item back at its path (or `to`); refuses to overwrite anything there now."""
    if item.location != "folder" or item.stored_at is None:
        raise ValueError("only items of the folder trash can be restored here (use the OS trash otherwise)")
    rel = _check_relpath(to or item.relpath)
    dest = Path(root, *rel.parts)
    if dest.exists() or dest.is_symlink():
        raise FileExistsError(f"{dest} exists; restore to another name (nothing was changed)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.rename(item.stored_at, dest)
    slot = _slot_of(Path(root), item.stored_at)
    if slot is not None:
        shutil.rmtree(slot, ignore_errors=True)
    return dest


def purge_folder_trash(root: str | os.PathLike[str], older_than_s: float, now: float | None = None) -> int:
    """Delete folder-trash slots older than the retention period; returns how many were removed."""
    cutoff = (time.time() if now is None else now) - older_than_s
    removed = 0
    for item in list_folder_trash(root):
        if item.trashed_at.timestamp() < cutoff and item.stored_at is not None:
            slot = _slot_of(Path(root), item.stored_at)
            if slot is not None:
                shutil.rmtree(slot, ignore_errors=True)
                removed += 1
    return removed


def _slot_number(root: Path, item: TrashedItem) -> int:
    """The collision counter of a slot (`<stamp>-N`), to order items trashed within one microsecond."""
    slot = _slot_of(root, item.stored_at) if item.stored_at else None
    suffix = slot.name.rpartition("Z-")[2] if slot is not None and "Z-" in slot.name else "0"
    return int(suffix) if suffix.isascii() and suffix.isdigit() else 0


def _slot_of(root: Path, stored: Path) -> Path | None:
    base = root.joinpath(*TRASH_DIR.parts)
    try:
        rel = stored.relative_to(base)
    except ValueError:
        return None
    return base / rel.parts[0] if rel.parts else None
