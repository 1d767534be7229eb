"""The actions that change only this disk: a server's deletion, folder or move followed here, a conflict copy.

Each checks its guard (the disk still matches the row it was planned from; nothing stands where it writes), writes,
and records the change in one journal transaction; a guard that fails raises `GuardFailed`, and the path is
planned again once the observers catch up. Split from the executor, which dispatches to them.
"""

from __future__ import annotations

import errno
import os
from dataclasses import replace
from typing import TYPE_CHECKING

from ferrysync.daemon.journal import Tree
from ferrysync.daemon.local import fsio
from ferrysync.daemon.local.scanner import stat_entry
from ferrysync.daemon.local.trash import move_to_trash
from ferrysync.daemon.model import Kind, LocalEntry
from ferrysync.daemon.planner import ConflictCopy, DeleteLocal, Download, MkdirLocal, MoveLocal, merge_base

if TYPE_CHECKING:
    from ferrysync.daemon.engine.executor import BatchResult, Executor


class GuardFailed(Exception):
    """The disk or the server moved on since planning: re-plan, record nothing (and `also`, the paths that
    stand in the way, e.g. a file where this path needs a folder)."""

    def __init__(self, message: str, also: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.also = also


def delete_local(ex: Executor, a: DeleteLocal) -> None:
    """A deletion from the server: a file goes to the trash (never unlinked), a folder only when empty."""
    ex._writable()
    ex._check_disk(a.path, a.expect_local)
    target = ex._abs(a.path)
    if a.expect_local.kind is Kind.DIR:
        try:
            fsio.rmdir(target)  # only an empty folder: its content was planned on its own
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise GuardFailed(f"{a.path} is not empty") from exc
            raise
    else:
        move_to_trash(ex.ctx.root, a.path, use_os_trash=ex.ctx.use_os_trash)
    with ex.j.transaction():
        ex.j.delete_local(ex.fid, a.path)
        ex.j.delete_synced(ex.fid, a.path)
        ex.j.add_activity(ex.fid, a.path, "deleted", "local")
        ex._recheck(a.path)
    ex.ctx.wake_indexer()


def _local_row(ex: Executor, path: str) -> LocalEntry:
    """A folder's row as it is now (a folder has no content the user could change under us)."""
    disk = stat_entry(ex.ctx.root, path)
    if disk is None:
        raise GuardFailed(f"{path} vanished")
    return disk.to_local()


def mkdir_local(ex: Executor, a: MkdirLocal) -> None:
    """A folder from the server, made one level at a time (never the root: invariant 4)."""
    ex._writable()
    target = ex._abs(a.path)
    disk = stat_entry(ex.ctx.root, a.path)
    if disk is not None and disk.kind is not Kind.DIR:
        raise GuardFailed(f"{a.path} is a {disk.kind.value} on disk")
    ex._make_dirs(a.path, target)
    local = _local_row(ex, a.path)
    with ex.j.transaction():
        ex.j.put_local(ex.fid, local)
        ex.j.put_synced(ex.fid, merge_base(local, a.remote))
        ex._recheck(a.path)
    ex.ctx.wake_indexer()


def reroot(ex: Executor, tree: Tree, src: str, dst: str) -> None:
    """Move a row and its subtree from `src` to `dst` in one tree, changing nothing but paths."""
    top = ex.j.get(ex.fid, tree, src)
    rows = ([top] if top is not None else []) + ex.j.descendants(ex.fid, tree, src)
    for e in rows:
        moved = replace(e, path=dst + e.path[len(src):])
        if isinstance(e, LocalEntry) and isinstance(moved, LocalEntry):
            chunks = ex.j.local_chunks(ex.fid, e.path)  # keep the block index for chunk reuse
            ex.j.delete_local(ex.fid, e.path)
            ex.j.put_local(ex.fid, moved, chunks)
        else:
            ex.j.delete(ex.fid, tree, e.path)
            ex.j.put(ex.fid, tree, moved)


def move_local(ex: Executor, a: MoveLocal) -> None:
    """A move from the server: one rename for a file or a whole folder, which never replaces a name taken."""
    ex._writable()
    ex._check_disk(a.src, a.expect_local)
    dst = ex._abs(a.dst)
    if a.src.casefold() != a.dst.casefold() and stat_entry(ex.ctx.root, a.dst) is not None:
        raise GuardFailed(f"{a.dst} is taken on disk")
    ex._make_dirs(a.dst, dst.parent)
    src = ex._abs(a.src)
    # noted as a download is, so a move never recorded is settled from what the indexer finds (write_notes.py)
    with ex.notes.landings.in_flight(ex.notes.landings.moves(a)) as note:
        try:
            if a.src.casefold() == a.dst.casefold():  # case-only rename: via a temporary name (case-insensitive)
                tmp = src.with_name(f".ferry-tmp-mv-{os.getpid()}-{src.name}")
                fsio.rename_noreplace(src, tmp)
                fsio.rename_noreplace(tmp, dst)
            else:
                fsio.rename_noreplace(src, dst)  # a name the user took meanwhile is never overwritten
        except FileExistsError as exc:
            raise GuardFailed(f"{a.dst} is taken on disk") from exc
        with ex.j.transaction():
            reroot(ex, "local", a.src, a.dst)
            reroot(ex, "synced", a.src, a.dst)
            ex.j.add_activity(ex.fid, a.dst, "moved", f"down from {a.src}")
            ex._recheck(a.src, a.dst)
            ex.notes.landings.answered(note)
    ex.ctx.wake_indexer()


def conflict_copy(ex: Executor, a: ConflictCopy, result: BatchResult) -> None:
    """Both sides changed: the disk's version is renamed aside (uploaded later), then the server's downloads."""
    ex._writable()
    ex._check_disk(a.path, a.expect_local)
    if stat_entry(ex.ctx.root, a.copy_name) is not None:
        raise GuardFailed(f"{a.copy_name} is taken")
    try:
        fsio.rename_noreplace(ex._abs(a.path), ex._abs(a.copy_name))
    except FileExistsError as exc:
        raise GuardFailed(f"{a.copy_name} is taken") from exc
    with ex.j.transaction():
        reroot(ex, "local", a.path, a.copy_name)
        ex.j.delete_synced(ex.fid, a.path)
        ex.j.add_conflict(ex.fid, a.copy_name, a.path)
        ex._recheck(a.path, a.copy_name)
    ex.ctx.wake_indexer()
    result.conflicts.append(a.copy_name)
    result.retry.add(a.copy_name)  # the renamed file uploads once the observer has indexed it
    if a.remote is not None and a.remote.kind is Kind.FILE:
        ex._download(Download(a.path, a.remote, None), result)
