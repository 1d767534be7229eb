"""Where a journal path lives on this disk: the NFC path of the journal, or the name the disk spells differently.

The rule of which entry holds a path is `names.pick_on_disk` (pure); this module only asks the disk. ASCII paths,
and paths whose exact spelling exists, cost nothing beyond what the caller does anyway; only a non-ASCII name
that is not on disk as spelled costs a listing of its folder.
"""

from __future__ import annotations

from pathlib import Path

from ferrysync.daemon.local import fsio
from ferrysync.daemon.local.names import map_listing, pick_on_disk


def disk_path(root: Path, rel: str) -> Path:
    """The on-disk path of the journal path `rel` under `root`.

    Each segment keeps its NFC spelling when that exists on disk (or nothing matches: a new entry is created in
    NFC); otherwise it takes the spelling the disk has (an NFD name written by macOS or an app)."""
    parts = rel.split("/") if rel else []
    if rel.isascii():
        return root.joinpath(*parts)
    exact = root.joinpath(*parts)
    if _lexists(exact):
        return exact
    current = root
    for i, seg in enumerate(parts):
        if seg.isascii() or _lexists(current / seg):
            current = current / seg
            continue
        try:
            with fsio.scandir(current) as it:
                found = pick_on_disk(seg, (de.name for de in it))
        except OSError:  # the folder is not there either: nothing below it is
            return current.joinpath(*parts[i:])
        current = current / (found or seg)
    return current


def _lexists(path: Path) -> bool:
    try:
        fsio.lstat(path)
    except OSError:
        return False
    return True


def twins_in(folder: Path) -> dict[str, str]:
    """The entries of `folder` left out as twins of another one (name on disk -> the NFC name they share)."""
    try:
        with fsio.scandir(folder) as it:
            names = [de.name for de in it]
    except OSError:
        return {}
    return map_listing(names)[1]
