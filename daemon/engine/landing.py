"""Landing one download: guarded, written to a verified temp, swapped in safely, and what the journal records.

`land` does the disk side (invariant 7 of docs/sync-model.md: a download replaces a local file only if it still
matches the row it was planned from, through the crash-safe swap of swaps.py) in three steps, `begin`, `stage` and
`finish`, which a batch of small files takes one at a time for all its files; `record_landed` is the journal side,
written inside the caller's transaction, one per file for a single download; `record_batch` records a batch of
small files (download_batch.py) in one.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ferrysync.daemon.engine.resume import forget_resume, resume_state, save_resume
from ferrysync.daemon.engine.swaps import clear_swap, keep_displaced, record_swap
from ferrysync.daemon.local import fsio
from ferrysync.daemon.local.marker import tmp_dir, unnamed_dir
from ferrysync.daemon.local.scanner import DiskEntry, stat_entry
from ferrysync.daemon.model import Chunk, Kind, LocalEntry
from ferrysync.daemon.planner import Download, merge_base
from ferrysync.daemon.transfer.download import ResumeState, Staged
from ferrysync.daemon.transfer.errors import CorruptDownload, DiskFull, TargetChanged

if TYPE_CHECKING:
    from ferrysync.daemon.engine.executor import BatchResult, Executor

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Landed:
    """A download that is on disk, and what the journal must record of it."""

    action: Download
    local: LocalEntry  # what the engine wrote (identity taken before the rename)
    chunks: list[Chunk]
    swapped: tuple[Path, ...] = ()  # temps whose swap records are cleared with the result


@dataclass(frozen=True, slots=True)
class Staging:
    """A download whose verified bytes wait in a temp file (`stage`) for `finish` to put them at the target."""

    action: Download
    staged: Staged
    batch: bool  # one of a batch of small files: no resume state, the caller fsyncs the folders and records
    swapped: list[Path] = field(default_factory=list)  # the temp whose exchange with the target began (swaps.py)

    @property
    def file(self) -> Path | fsio.Unnamed:
        return self.staged.file


def land(ex: Executor, a: Download, result: BatchResult) -> Landed:
    """Put `a`'s file on disk (guarded, verified, swapped safely); what the journal must record of it."""
    early = begin(ex, a)
    if early is not None:
        return early
    with ex.ctx.tracker.transfer(a.path, "down", a.remote.size) as progress:
        return finish(ex, stage(ex, a, progress), result)


def begin(ex: Executor, a: Download, *, fetched: bool = False) -> Landed | None:
    """The checks before a download; a Landed when there is nothing to fetch (only the executable bit changed).

    `fetched`: its bytes are here already (a batch of small files). A new file then skips the look for a name
    that appeared meanwhile: that look only spares a fetch, and its install claims the name in one step that
    fails if anything is there (`Downloader.install`, TargetChanged), which is the guard. One lstat a file was
    5 % of the daemon's CPU while 10,000 small files landed."""
    remote = a.remote
    ex._writable()
    if not (fetched and a.expect_local is None):
        ex._check_disk(a.path, a.expect_local)
    target = ex._abs(a.path)
    exp = a.expect_local
    if exp is not None and exp.kind is Kind.FILE and exp.content_hash == remote.content_hash:
        fsio.chmod(target, _mode(target, remote.executable))  # only the executable bit changed
        # What the engine wrote is the mode; the content it vouches for is the planned row's.
        return Landed(a, replace(exp, executable=remote.executable), ex.j.local_chunks(ex.fid, a.path))
    ex._make_dirs(a.path, target.parent)
    return None


def stage(ex: Executor, a: Download, progress: Callable[[int], None],
          blocks: Mapping[str, bytes] | None = None) -> Staging:
    """`a`'s verified bytes in a temp file (after `begin`).

    `blocks`: fetched ahead for a batch of small files (download_batch.py): no resume state (such a file is fetched
    again whole), the temp is NOT fsynced: the caller makes the batch's temps durable at once
    (`fsio.sync_files`) before it calls `finish` on any of them; and a new file is written unnamed where the OS
    can (`fsio.Unnamed`), so the caller must finish, discard or release each one."""
    batch = blocks is not None

    def on_state(st: ResumeState) -> None:
        save_resume(ex.j, ex.fid, a.path, st)

    try:
        staged = ex.ctx.downloader.stage(
            a.remote, ex._abs(a.path), find_local_block=ex.ctx.find_block, progress=progress, cancel=ex.ctx.cancel,
            tmp_dir=tmp_dir(ex.ctx.root), resume=None if batch else resume_state(ex.j, ex.fid, a.path, a.remote),
            on_state=None if batch else on_state, blocks=blocks, durable=not batch,
            unnamed=batch and a.expect_local is None, unnamed_dir=unnamed_dir(ex.ctx.root))
    except (CorruptDownload, DiskFull):
        with ex.j.transaction():  # the temp file is gone: nothing to resume
            forget_resume(ex.j, ex.fid, a.path)
        raise
    return Staging(a, staged, batch)


def finish(ex: Executor, s: Staging, result: BatchResult) -> Landed:
    """Put a staged download at its target, if the target is still what the engine last saw (invariant 7)."""
    a, remote, exp = s.action, s.action.remote, s.action.expect_local

    def before_swap(temp: Path) -> None:
        # From the exchange on, the temp may hold the user's bytes: never resumed into, kept over a crash.
        s.swapped.append(temp)
        with ex.j.transaction():
            forget_resume(ex.j, ex.fid, a.path)
            record_swap(ex.j, ex.fid, a.path, temp, remote.content_hash, exp)

    try:
        done = ex.ctx.downloader.install(
            s.staged, still_matches=lambda: _matches(ex.ctx.root, a.path, exp), target_is_new=exp is None,
            displaced_matches=lambda p: _stat_matches(_stat_or_none(p), exp), before_swap=before_swap,
            sync_dir=not s.batch)
    except TargetChanged:
        with ex.j.transaction():  # the temp file is gone (no swap happened): nothing to resume
            forget_resume(ex.j, ex.fid, a.path)
            for temp in s.swapped:
                clear_swap(ex.j, ex.fid, temp)
        raise
    # Index the new file's chunks, so the next edit of it downloads only the chunks that changed.
    chunks = _chunks(remote.blocks, done.block_lengths)
    inode, size, mtime_ns, executable = done.written
    local = LocalEntry(a.path, Kind.FILE, size, mtime_ns, inode, executable, remote.content_hash, remote.blocks)
    if done.displaced is not None:
        _keep_displaced(ex, a.path, done.displaced, result)
    return Landed(a, local, chunks, tuple(s.swapped))


def record_landed(ex: Executor, landed: Landed) -> None:
    """The journal's side of a landed download (inside the caller's transaction)."""
    a = landed.action
    ex.j.put_local(ex.fid, landed.local, landed.chunks)
    ex.j.put_synced(ex.fid, merge_base(landed.local, a.remote))
    ex.j.add_activity(ex.fid, a.path, "downloaded", str(a.remote.size))
    forget_resume(ex.j, ex.fid, a.path)
    for temp in landed.swapped:
        clear_swap(ex.j, ex.fid, temp)  # what it displaced is safe: gone as planned, or kept above
    ex._recheck(a.path)


def record_batch(ex: Executor, landed: Sequence[Landed], note: str | None = None) -> None:
    """`record_landed` for many files in ONE transaction, with one statement per table (a batch of small files);
    `note`: the batch's landing note (write_notes.py), answered for the files recorded."""
    j, fid = ex.j, ex.fid
    paths = [x.action.path for x in landed]
    resumable = {t.path for t in j.list_transfers(fid) if t.direction == "download"}  # a big download's leftover
    with j.transaction():
        j.put_locals(fid, [(x.local, x.chunks) for x in landed])
        j.put_many(fid, "synced", [merge_base(x.local, x.action.remote) for x in landed])
        j.add_activities(fid, [(x.action.path, "downloaded", str(x.action.remote.size)) for x in landed])
        j.clear_failures(fid, paths)
        ex.notes.landings.answered(note, paths)
        for x in landed:
            if x.action.path in resumable:
                forget_resume(j, fid, x.action.path)
            for temp in x.swapped:
                clear_swap(j, fid, temp)
        ex._recheck(*paths)


def _keep_displaced(ex: Executor, path: str, displaced: Path, result: BatchResult) -> None:
    """A save the user made in the instant before the download's swap: keep it as a conflict copy, or in the
    folder's trash when the user deleted its folder before it could be kept beside the file."""
    copy = keep_displaced(displaced, path, ex.ctx.root, ex.ctx.host, ex.ctx.now(),
                          lambda p: stat_entry(ex.ctx.root, p) is not None)
    if copy is None:
        log.warning("%s: %s was saved while its download landed, and its folder was deleted meanwhile: the save "
                    "is in the folder's trash (`ferry trash list`)", ex.fid, path)
        ex.j.add_activity(ex.fid, path, "kept", "saved while its download landed; its folder was deleted "
                          "meanwhile, so the save is in the folder's trash")
        result.trashed.append(path)
        return
    log.warning("%s: %s was saved while its download landed; kept as %s", ex.fid, path, copy)
    try:
        with ex.j.transaction():
            ex.j.add_conflict(ex.fid, copy, path)
            ex._recheck(copy)
    except Exception:  # the journal refuses (a full disk): the copy is on disk all the same, and must be found
        ex.ctx.look_again([copy])
        raise
    result.conflicts.append(copy)
    result.retry.add(copy)


def _chunks(blocks: tuple[str, ...], lengths: tuple[int, ...]) -> list[Chunk]:
    if len(lengths) != len(blocks):
        return []  # not known (e.g. only the executable bit changed): the indexer records them when it next reads
    offsets = itertools.accumulate(lengths, initial=0)
    return [Chunk(h, off, n) for h, off, n in zip(blocks, offsets, lengths, strict=False)]


def _matches(root: Path, path: str, expect: LocalEntry | None) -> bool:
    return _stat_matches(stat_entry(root, path), expect)


def _stat_or_none(path: Path) -> DiskEntry | None:
    return stat_entry(path.parent, path.name)


def _stat_matches(disk: DiskEntry | None, expect: LocalEntry | None) -> bool:
    if expect is None:
        return disk is None
    if disk is None or disk.kind is not expect.kind:
        return False
    return disk.kind is not Kind.FILE or (disk.size, disk.mtime_ns, disk.inode) == (
        expect.size, expect.mtime_ns, expect.inode)


def _mode(path: Path, executable: bool) -> int:
    mode = fsio.stat(path).st_mode & 0o7777
    return mode | 0o111 if executable else mode & ~0o111


