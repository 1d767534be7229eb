"""Landing one download: guarded, written to a verified temp, swapped in safely, and what the journal records.

`land` does the disk side (invariant 7 of docs/sync-model.md: a download replaces a local file only if it still
matches the row it was planned from, through the crash-safe swap of swaps.py); `record_landed` is the journal side,
written inside the caller's transaction, one per file for a single download; `record_batch` records a batch of
small files (download_batch.py) in one.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ferrysync.daemon.engine.resume import forget_resume, resume_state, save_resume
from ferrysync.daemon.engine.swaps import clear_swap, record_swap
from ferrysync.daemon.local import fsio
from ferrysync.daemon.local.conflicts import conflict_name
from ferrysync.daemon.local.marker import tmp_dir
from ferrysync.daemon.local.scanner import DiskEntry, stat_entry
from ferrysync.daemon.model import Chunk, Kind, LocalEntry
from ferrysync.daemon.planner import Download, merge_base
from ferrysync.daemon.transfer.download import ResumeState
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


def land(ex: Executor, a: Download, result: BatchResult, blocks: Mapping[str, bytes] | None = None,
         progress: Callable[[int], None] | None = None) -> Landed:
    """Put `a`'s file on disk (guarded, verified, swapped safely); what the journal must record of it.

    `blocks`: fetched ahead for a batch of small files (no resume state: such a file is fetched again whole,
    and the caller fsyncs the folders and records the batch in one transaction)."""
    remote = a.remote
    ex._writable()
    ex._check_disk(a.path, a.expect_local)
    target = ex._abs(a.path)
    exp = a.expect_local
    swapped: list[Path] = []  # the temp file whose exchange with the target began (see swaps.py)
    if exp is not None and exp.kind is Kind.FILE and exp.content_hash == remote.content_hash:
        fsio.chmod(target, _mode(target, remote.executable))  # only the executable bit changed
        # What the engine wrote is the mode; the content it vouches for is the planned row's.
        return Landed(a, replace(exp, executable=remote.executable), ex.j.local_chunks(ex.fid, a.path))
    ex._make_dirs(a.path, target.parent)
    batch = blocks is not None

    def on_state(st: ResumeState) -> None:
        save_resume(ex.j, ex.fid, a.path, st)

    def before_swap(temp: Path) -> None:
        # From the exchange on, the temp may hold the user's bytes: never resumed into, kept over a crash.
        swapped.append(temp)
        with ex.j.transaction():
            forget_resume(ex.j, ex.fid, a.path)
            record_swap(ex.j, ex.fid, a.path, temp, remote.content_hash, exp)

    with contextlib.ExitStack() as stack:
        if progress is None:
            progress = stack.enter_context(ex.ctx.tracker.transfer(a.path, "down", remote.size))
        try:
            done = ex.ctx.downloader.download(
                remote, target, still_matches=lambda: _matches(ex.ctx.root, a.path, exp),
                find_local_block=ex.ctx.find_block, progress=progress, cancel=ex.ctx.cancel,
                tmp_dir=tmp_dir(ex.ctx.root),
                resume=None if batch else resume_state(ex.j, ex.fid, a.path, remote),
                on_state=None if batch else on_state,
                target_is_new=exp is None, displaced_matches=lambda p: _stat_matches(_stat_or_none(p), exp),
                before_swap=before_swap, blocks=blocks, sync_dir=not batch,
            )
        except (TargetChanged, CorruptDownload, DiskFull):
            with ex.j.transaction():  # the temp file is gone (no swap happened): nothing to resume
                forget_resume(ex.j, ex.fid, a.path)
                for temp in swapped:
                    clear_swap(ex.j, ex.fid, temp)
            raise
    # Index the new file's chunks, so the next edit of it downloads only the chunks that changed.
    chunks = _chunks(remote.blocks, done.block_lengths)
    inode, size, mtime_ns, executable = done.written
    local = LocalEntry(a.path, Kind.FILE, size, mtime_ns, inode, executable, remote.content_hash, remote.blocks)
    if done.displaced is not None:
        _keep_displaced(ex, a.path, done.displaced, result)
    return Landed(a, local, chunks, tuple(swapped))


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


def record_batch(ex: Executor, landed: Sequence[Landed]) -> None:
    """`record_landed` for many files in ONE transaction, with one statement per table (a batch of small files)."""
    j, fid = ex.j, ex.fid
    paths = [x.action.path for x in landed]
    resumable = {t.path for t in j.list_transfers(fid) if t.direction == "download"}  # a big download's leftover
    with j.transaction():
        j.put_locals(fid, [(x.local, x.chunks) for x in landed])
        j.put_many(fid, "synced", [merge_base(x.local, x.action.remote) for x in landed])
        j.add_activities(fid, [(x.action.path, "downloaded", str(x.action.remote.size)) for x in landed])
        j.clear_failures(fid, paths)
        for x in landed:
            if x.action.path in resumable:
                forget_resume(j, fid, x.action.path)
            for temp in x.swapped:
                clear_swap(j, fid, temp)
        ex._recheck(*paths)


def _keep_displaced(ex: Executor, path: str, displaced: Path, result: BatchResult) -> None:
    """A save the user made in the instant before the download's swap: keep it as a conflict copy."""
    when = ex.ctx.now()
    for _ in range(100):
        copy = conflict_name(path, ex.ctx.host, when, lambda p: stat_entry(ex.ctx.root, p) is not None)
        try:
            fsio.rename_noreplace(displaced, ex._abs(copy))
            break
        except FileExistsError:
            continue  # taken in between: pick the next free name
    else:  # pragma: no cover - a hundred names taken in a row
        raise OSError(f"no free conflict name for {path}")
    log.warning("%s: %s was saved while its download landed; kept as %s", ex.fid, path, copy)
    with ex.j.transaction():
        ex.j.add_conflict(ex.fid, copy, path)
        ex._recheck(copy)
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


