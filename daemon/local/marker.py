"""The sync-root marker: `<root>/.ferry/` holding `folder-id`, the folder's trash and Ferry's temp files.

A folder whose root or marker has vanished (an unmounted disk, a deleted or moved folder) must stop with an error
instead of recording every file as deleted: the scanner and indexer call `check_marker` before any deletion.
The marker is created only on first use; afterwards a missing marker is an error, never silently re-created.
"""

from __future__ import annotations

import os
from pathlib import Path

from ferrysync.daemon.atomic import atomic_write
from ferrysync.daemon.local.ignore import MARKER_NAME

ID_FILE = "folder-id"
TRASH_DIR = "trash"
TMP_DIR = "tmp"
UNNAMED_DIR = "unnamed"  # inside TMP_DIR: where downloads' unnamed files are made (never a name; not watched)


class RootUnavailable(Exception):
    """The sync root or its marker is missing or belongs to another folder: sync of this folder must stop."""

    def __init__(self, root: Path, reason: str) -> None:
        self.root = root
        self.reason = reason
        super().__init__(f"{root}: {reason}")


def marker_dir(root: Path) -> Path:
    return root / MARKER_NAME


def trash_dir(root: Path) -> Path:
    return marker_dir(root) / TRASH_DIR


def tmp_dir(root: Path) -> Path:
    return marker_dir(root) / TMP_DIR


def unnamed_dir(root: Path) -> Path:
    return tmp_dir(root) / UNNAMED_DIR


def read_marker(root: Path) -> str | None:
    """The folder id in the marker, or None when there is none.

    Any other failure to read it (a disk going away mid-read, a marker that is a folder, no permission) is the
    root being unavailable too: raised as RootUnavailable, which every caller handles by stopping the folder,
    instead of an OSError that would end the sync loop that checks the marker."""
    try:
        return (marker_dir(root) / ID_FILE).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise RootUnavailable(root, f"the marker {MARKER_NAME}/{ID_FILE} cannot be read ({exc})") from exc


def init_marker(root: Path, folder_id: str, *, create_root: bool = False) -> None:
    """First use of a folder: write the marker (refuse a root that already belongs to another folder)."""
    if create_root:
        root.mkdir(parents=True, exist_ok=True)
    if not root.is_dir():
        raise RootUnavailable(root, "the sync folder does not exist or is not a directory")
    existing = read_marker(root)
    if existing is not None and existing != folder_id:
        raise RootUnavailable(root, f"already a Ferry folder with id {existing!r}, not {folder_id!r}")
    for d in (marker_dir(root), trash_dir(root), tmp_dir(root)):
        d.mkdir(exist_ok=True)
    if existing is None:
        atomic_write(marker_dir(root) / ID_FILE, (folder_id + "\n").encode("utf-8"), mode=0o644)
    _hide_on_windows(marker_dir(root))


# The marker file each folder's last full check read, by its identity on disk: the engine checks before every write
# (thousands a second while small files land), and one stat proves it is still that same file. Replacing it
# (another folder's marker, an unmounted disk, a moved root) changes the identity; editing it in place changes its
# size or times, so the next check reads it again (a same-size edit within one tick of the file system's clock,
# a few ms, is the one change a quick check can miss: by hand, not something an unmount or a move does).
# Kept beside it: the marker file's path as a string (joining Paths on each check was 1 % of the daemon's GIL samples
# while small files landed).
_seen: dict[tuple[Path, str], tuple[str, tuple[int, int, int, int, int]]] = {}


def _identity(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def check_marker(root: Path, folder_id: str) -> None:
    """Raise RootUnavailable unless `root` is a directory carrying this folder's marker."""
    key = (root, folder_id)
    seen = _seen.get(key)
    if seen is not None:
        try:
            if _identity(os.stat(seen[0])) == seen[1]:
                return
        except OSError:
            pass  # gone or unreadable: the full check below says why
        _seen.pop(key, None)
    if not root.is_dir():
        raise RootUnavailable(root, "the sync folder is missing (unmounted disk, moved or deleted?)")
    found = read_marker(root)
    if found is None:
        raise RootUnavailable(root, f"the marker {MARKER_NAME}/{ID_FILE} is missing; refusing to record deletions")
    if found != folder_id:
        raise RootUnavailable(root, f"the marker says folder {found!r}, expected {folder_id!r}")
    marker = os.fspath(marker_dir(root) / ID_FILE)
    try:
        st = os.stat(marker)
    except OSError:
        return  # vanished right after it was read: the next check reads it again
    if read_marker(root) == folder_id:  # still the file that was read (not swapped between the read and the stat)
        _seen[key] = (marker, _identity(st))


def _hide_on_windows(path: Path) -> None:
    if os.name == "nt":
        import ctypes

        ctypes.windll.kernel32.SetFileAttributesW(str(path), 0x2)  # type: ignore[attr-defined]
