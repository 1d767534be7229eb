"""Stat-only scans of a sync folder: find what differs from the local tree and queue it for the indexer.

A scan never hashes and never deletes: it walks the disk (os.scandir, symlinks recorded, never followed), compares
each entry's stat key with the journal's local row, and queues every path that is new, changed (size, mtime, inode,
kind, executable bit, link target) or vanished in the persistent dirty queue. The indexer then hashes what needs it
and records deletions only after re-checking the marker. Because the queue is written in batches of short
transactions, a scan killed at any point loses nothing: the next start-up scan simply finds the rest.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ferrysync.daemon.journal import Journal, StatKey
from ferrysync.daemon.local import fsio
from ferrysync.daemon.local.ignore import BUILTIN_ONLY, IGNORE_FILE, IgnoreRules, IgnoreSyntaxError
from ferrysync.daemon.local.marker import check_marker
from ferrysync.daemon.local.names import map_listing
from ferrysync.daemon.local.ondisk import disk_path
from ferrysync.daemon.model import Kind, LocalEntry

log = logging.getLogger(__name__)

MARK_BATCH = 5000


@dataclass(frozen=True, slots=True)
class DiskEntry:
    """One lstat of a path under a sync root."""

    path: str
    kind: Kind
    size: int
    mtime_ns: int
    inode: int
    executable: bool = False
    link_target: str | None = None

    def key(self, hashed: bool) -> StatKey:
        return StatKey(self.kind, self.size, self.mtime_ns, self.inode, self.executable, hashed, self.link_target)

    def to_local(self) -> LocalEntry:
        """The local row for a dir or symlink (files need their digest: see the indexer)."""
        return LocalEntry(
            path=self.path,
            kind=self.kind,
            size=self.size,
            mtime_ns=self.mtime_ns,
            inode=self.inode,
            executable=self.executable,
            link_target=self.link_target,
        )


def _from_stat(path: str, st: os.stat_result, abs_path: str | os.PathLike[str]) -> DiskEntry | None:
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return DiskEntry(path, Kind.FILE, st.st_size, st.st_mtime_ns, st.st_ino, bool(mode & stat.S_IXUSR))
    if stat.S_ISDIR(mode):
        return DiskEntry(path, Kind.DIR, 0, 0, st.st_ino)
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(abs_path)
        except OSError:
            return None
        return DiskEntry(path, Kind.SYMLINK, 0, st.st_mtime_ns, st.st_ino, link_target=os.fsdecode(target))
    return None  # fifos, sockets, devices: not syncable


def stat_entry(root: Path, path: str) -> DiskEntry | None:
    """lstat one relative path; None when it is gone (or not a file, dir or symlink)."""
    abs_path = disk_path(root, path)  # an NFD name on disk holds the NFC path
    try:
        st = fsio.lstat(abs_path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return _from_stat(path, st, abs_path)


def unchanged(row: StatKey | None, disk: DiskEntry) -> bool:
    """True when the journal row still describes the disk entry (so it needs no re-index and no re-hash)."""
    if row is None or row.kind != disk.kind:
        return False
    if disk.kind == Kind.FILE:
        return row.hashed and (row.size, row.mtime_ns, row.inode, row.executable) == (
            disk.size,
            disk.mtime_ns,
            disk.inode,
            disk.executable,
        )
    if disk.kind == Kind.SYMLINK:
        return row.link_target == disk.link_target and row.inode == disk.inode
    return row.inode == disk.inode


def valid_name(name: str) -> bool:
    if name.isascii():
        return True
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes (surrogateescape): cannot be stored or sent
        return False
    return True


def walk(
    root: Path,
    rules: IgnoreRules = BUILTIN_ONLY,
    prefix: str = "",
    on_error: Callable[[str, OSError], None] | None = None,
    on_twin: Callable[[str, str], None] | None = None,
) -> Iterator[DiskEntry]:
    """Every syncable entry under `root/prefix` (excluding `prefix` itself), skipping ignored paths.

    Entries carry their NFC path whatever the disk's spelling; an NFC/NFD twin of another entry is left out and
    given to `on_twin(its path on disk, the NFC path)` (see names.map_listing)."""
    if prefix and rules.is_ignored(prefix, True):
        return
    stack = [(prefix, disk_path(root, prefix))]
    while stack:
        rel_dir, disk_dir = stack.pop()
        try:
            it = fsio.scandir(disk_dir)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            if on_error:
                on_error(rel_dir, exc)
            continue
        with it:
            listing = list(it)
            kept, twins = map_listing(de.name for de in listing)
            for de in listing:
                name = de.name
                if not valid_name(name):
                    log.warning("skipping %r in %s: name is not valid UTF-8", name, root / rel_dir)
                    continue
                if name in twins:
                    if on_twin:
                        on_twin(Path(de.path).relative_to(root).as_posix(), f"{rel_dir}/{twins[name]}".lstrip("/"))
                    continue
                rel = f"{rel_dir}/{kept[name]}" if rel_dir else kept[name]
                entry = _entry(rel, de, rules, on_error)
                if entry is None:
                    continue
                yield entry
                if entry.kind == Kind.DIR:
                    stack.append((rel, Path(de.path)))


def _entry(rel: str, de: os.DirEntry[str], rules: IgnoreRules,
           on_error: Callable[[str, OSError], None] | None) -> DiskEntry | None:
    """The entry for one listed name; None when it is ignored, gone, or unreadable (then told to `on_error`)."""
    try:
        if rules.matches(rel, de.is_dir(follow_symlinks=False)):  # parents were checked on the way down
            return None
        return _from_stat(rel, de.stat(follow_symlinks=False), de.path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if on_error:
            on_error(rel, exc)
        return None


def load_rules(root: Path, previous: IgnoreRules | None = None) -> IgnoreRules:
    """The folder's rules from `<root>/.ferryignore`; a broken file keeps the previous rules (and is logged)."""
    try:
        text = (root / IGNORE_FILE).read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError):
        return BUILTIN_ONLY
    except OSError as exc:
        log.warning("cannot read %s: %s", root / IGNORE_FILE, exc)
        return previous or BUILTIN_ONLY
    try:
        return IgnoreRules.from_text(text)
    except IgnoreSyntaxError as exc:
        log.warning("%s: %s; keeping the previous rules", root / IGNORE_FILE, exc)
        return previous or BUILTIN_ONLY


class RulesCache:
    """`.ferryignore` reloaded whenever its stat changes (cheap to call before every scan or event batch)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._key: tuple[int, int, int] | None = None
        self._rules = BUILTIN_ONLY
        self.get()

    def get(self) -> IgnoreRules:
        try:
            st = os.stat(self.root / IGNORE_FILE)
            key: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            key = None
        if key != self._key:
            self._key = key
            self._rules = load_rules(self.root, self._rules) if key else BUILTIN_ONLY
        return self._rules


@dataclass
class ScanResult:
    scanned: int = 0
    queued: list[str] = field(default_factory=list)  # new or changed on disk, or vanished
    errors: dict[str, str] = field(default_factory=dict)  # unreadable paths and why
    twins: dict[str, str] = field(default_factory=dict)  # NFC/NFD twins left out: path on disk -> the NFC path
    seconds: float = 0.0


def scan_folder(
    journal: Journal,
    folder_id: str,
    root: Path,
    rules: IgnoreRules = BUILTIN_ONLY,
    *,
    prefix: str = "",
    now: float | None = None,
) -> ScanResult:
    """Compare `root/prefix` with the local tree and queue every difference (ready at once) for the indexer.

    Raises marker.RootUnavailable before touching the queue when the root or its marker is missing.
    """
    t0 = time.monotonic()
    check_marker(root, folder_id)
    ready = time.time() if now is None else now
    result = ScanResult()
    rows = journal.local_stats(folder_id, prefix)
    rows.pop(prefix, None)
    batch: list[str] = []

    def flush() -> None:
        journal.mark_dirty(folder_id, batch, ready, rearm=False)
        result.queued.extend(batch)
        batch.clear()

    def on_error(path: str, exc: OSError) -> None:
        result.errors[path] = exc.strerror or str(exc)

    for entry in walk(root, rules, prefix, on_error, result.twins.__setitem__):
        result.scanned += 1
        if not unchanged(rows.pop(entry.path, None), entry):
            batch.append(entry.path)
            if len(batch) >= MARK_BATCH:
                flush()
    # What is left was not seen on disk: vanished, unreadable or now ignored. Queue only the vanished ones (the
    # indexer re-checks each path and the marker before recording a deletion); ignored rows stay as they are.
    unreadable = tuple(p + "/" for p in result.errors)
    check_marker(root, folder_id)
    for path, key in rows.items():
        if path in result.errors or path.startswith(unreadable) or rules.is_ignored(path, key.kind == Kind.DIR):
            continue
        batch.append(path)
        if len(batch) >= MARK_BATCH:
            flush()
    flush()
    if not prefix:
        journal.set_last_scan(folder_id, time.time())
    result.seconds = time.monotonic() - t0
    return result
