"""The executor: runs the planner's actions against the disk and the server, and records the merge base.

Every action carries a guard (the disk still matches the row it was planned from, or the server's base_rev). A
failed guard is not an error: nothing is recorded, the observers catch up and the path is planned again. On
success the trees change in ONE journal transaction, so a kill at any point leaves either the old or the new
state, never half of it. Uploads of many files share missing-block calls, batch requests and one commit call;
downloads run on a small pool. A server that stops answering aborts the batch (`Offline`); the rest is re-planned.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ferrysync.daemon.engine.context import FolderContext
from ferrysync.daemon.engine.download_batch import SmallDownloads, is_small
from ferrysync.daemon.engine.held_records import HeldRecords
from ferrysync.daemon.engine.landing import land, record_landed
from ferrysync.daemon.engine.local_actions import (
    GuardFailed,
    conflict_copy,
    delete_local,
    mkdir_local,
    move_local,
    reroot,
)
from ferrysync.daemon.engine.write_notes import CommitNotes, LandingNotes, WriteNotes
from ferrysync.daemon.local import fsio
from ferrysync.daemon.local.chunker import FileChangedWhileReading, FileDigest
from ferrysync.daemon.local.marker import RootUnavailable, check_marker
from ferrysync.daemon.local.ondisk import disk_path
from ferrysync.daemon.local.scanner import stat_entry
from ferrysync.daemon.local.trash import move_to_trash
from ferrysync.daemon.model import Kind, LocalEntry, RemoteEntry
from ferrysync.daemon.planner import (
    Action,
    ConflictCopy,
    Defer,
    DeleteLocal,
    DeleteRemote,
    Download,
    ForgetSynced,
    KeepOut,
    MkdirLocal,
    MkdirRemote,
    MoveLocal,
    MoveRemote,
    RecordSynced,
    Skip,
    Upload,
    merge_base,
    needs_work,
    phase,
    touched_paths,
)
from ferrysync.daemon.remote import (
    CommitOp,
    CommitResult,
    DeleteOp,
    InsufficientStorage,
    MkdirOp,
    MoveOp,
    PutOp,
    ServerUnavailable,
    Unauthorized,
)
from ferrysync.daemon.remote.mapping import from_server, to_server
from ferrysync.daemon.transfer.errors import TargetChanged, TransferCancelled
from ferrysync.daemon.transfer.pipeline import pipelined, rounds
from ferrysync.daemon.transfer.upload import UploadItem, UploadOutcome

log = logging.getLogger(__name__)


class Offline(Exception):
    """The server stopped answering in the middle of a batch."""


@dataclass
class BatchResult:
    replan: set[str] = field(default_factory=set)  # done: plan once more to confirm convergence
    retry: set[str] = field(default_factory=set)  # guard failed or deferred: plan again after a short wait
    failed: dict[str, str] = field(default_factory=dict)  # path -> error (recorded in the backoff table)
    conflicts: list[str] = field(default_factory=list)  # conflict copies made
    refused: list[str] = field(default_factory=list)  # changes a read-only shared folder refused (restored)
    trashed: list[str] = field(default_factory=list)  # saves a download displaced, kept in the folder's trash
    done: int = 0


def _account_full(detail: str) -> str:
    """What a file refused by the server's quota (at commit or at block upload alike) records as its failure."""
    return f"not uploaded: your account on the server is full ({detail}); it will be retried"


class Executor:
    def __init__(self, ctx: FolderContext) -> None:
        self.ctx = ctx
        self.j = ctx.journal
        self.fid = ctx.folder_id
        self.held = HeldRecords()  # downloads that landed and that the journal refused to record
        self.notes = WriteNotes(self.j, self.fid)  # commits and landings whose record may go missing

    def settle(self, catch_ups: int, indexed: bool) -> set[str]:
        """Before a plan, and at idle turns: record the downloads held since the journal refused their record
        (held_records.py), then settle the notes of writes whose record was lost (write_notes.py; `catch_ups`
        and `indexed` as there). The paths whose merge base moved, to plan. Raises if the journal refuses."""
        self.held.record(self)  # first: a note whose write it records is then simply dropped
        return self.notes.settle(catch_ups, indexed)

    # -- batch orchestration ---------------------------------------------------------------------------------

    def run(self, actions: Iterable[Action]) -> BatchResult:
        """Run actions phase by phase (the planner's order). Raises Offline or Unauthorized."""
        result = BatchResult()
        group: list[Action] = []
        for action in actions:
            if group and phase(group[-1]) != phase(action):
                self._run_group(group, result)
                group = []
            group.append(action)
        if group:
            self._run_group(group, result)
        return result

    def _run_group(self, group: list[Action], result: BatchResult) -> None:
        if self.ctx.cancel.is_set():
            result.retry.update(a.path for a in group)
            return
        remote_ops = [a for a in group if isinstance(a, MkdirRemote | DeleteRemote | MoveRemote)]
        uploads = [a for a in group if isinstance(a, Upload)]
        downloads = [a for a in group if isinstance(a, Download)]
        for a in group:
            if not isinstance(a, MkdirRemote | DeleteRemote | MoveRemote | Upload | Download):
                self._guarded(a, result, self._run_one)
        if remote_ops:
            self._commit_group(remote_ops, result)
        if uploads:
            self._upload(uploads, result)
        if downloads:
            self._download_all(downloads, result)

    def _guarded(self, action: Action, result: BatchResult, fn: Callable[[Action, BatchResult], None], *,
                 settle: bool = True, step: str = "done") -> bool:
        """Run one action; map its failure to re-plan, backoff or offline. True if it succeeded.

        settle=False: the caller counts the success and clears the path's failure itself (with the batch's
        journal transaction). `step`: what the log says succeeded (a batch's first step is not the action done)."""
        try:
            fn(action, result)
            log.debug("%s: %s %r %s", self.fid, type(action).__name__, action.path, step)
            # A report (kept out, skipped) changes nothing: planning it again is idle work.
            if settle and needs_work(action):
                result.done += 1
                result.replan.add(action.path)
                self.j.clear_failure(self.fid, action.path)
            return True
        except (GuardFailed, TargetChanged, FileChangedWhileReading, FileNotFoundError, NotADirectoryError,
                IsADirectoryError) as exc:
            log.debug("%s: %s re-planned: %s", self.fid, action.path, exc)
            also = exc.also if isinstance(exc, GuardFailed) else ()
            if isinstance(exc, NotADirectoryError):  # a file stands where a parent folder was
                also = _ancestors(action.path)
            for path in (action.path, *also):
                self._disk_disagreed(path, result)
        except TransferCancelled:
            result.retry.add(action.path)
        except (ServerUnavailable, ConnectionError) as exc:
            raise Offline(str(exc)) from exc
        except (Unauthorized, RootUnavailable):
            raise
        except Exception as exc:  # noqa: BLE001 - one action's failure (disk full, permissions, a file held open
            # elsewhere, or a bug) is recorded against its path and retried later; the batch goes on
            message = _describe(exc)
            log.warning("%s: %s failed: %s", self.fid, action.path, message)
            # What it did on disk before it failed is looked at again: a journal that could not record a conflict
            # copy's rename or a landed download (a full disk) would otherwise leave them unknown, never synced.
            # (A look that finds nothing new there leaves the failure, its backoff and the error shown alone.)
            touched = touched_paths(action)
            try:
                with self.j.transaction():
                    self.j.record_failure(self.fid, action.path, message)
                    self._recheck(*touched)
            except Exception:  # the journal refuses this too (the round fails): there is no failure to clear,
                self.ctx.look_again(touched)  # and the local observer holds them in memory until it takes them
                raise
            result.failed[action.path] = message
        return False

    # -- local-only actions ----------------------------------------------------------------------------------

    def _run_one(self, a: Action, result: BatchResult) -> None:
        j, fid = self.j, self.fid
        if isinstance(a, RecordSynced):
            j.put_synced(fid, a.row)
        elif isinstance(a, ForgetSynced):
            j.delete_synced(fid, a.path)
        elif isinstance(a, KeepOut | Skip):
            pass  # reported by the folder from the plan itself
        elif isinstance(a, Defer):
            result.retry.add(a.path)
        elif isinstance(a, DeleteLocal):
            delete_local(self, a)
        elif isinstance(a, MkdirLocal):
            mkdir_local(self, a)
        elif isinstance(a, MoveLocal):
            move_local(self, a)
        elif isinstance(a, ConflictCopy):
            conflict_copy(self, a, result)
        else:  # pragma: no cover - every action class is handled above
            raise TypeError(f"unexpected action {a!r}")

    def _abs(self, path: str) -> Path:
        return disk_path(self.ctx.root, path)  # an NFD name on disk keeps its spelling

    def _writable(self) -> None:
        """No write may happen under a root whose marker is missing (an unmounted disk, a moved folder): a
        stand-in created there would later look like deletions. Raises RootUnavailable; the folder stops."""
        check_marker(self.ctx.root, self.fid)

    def _recheck(self, *paths: str) -> None:
        """Queue paths the engine just wrote for the local observer (inside the caller's transaction).

        The journal records what the engine wrote; a change the user makes right after (or while) the engine
        writes shows as a stat that differs from that record, and the indexer's look makes it a local change."""
        self.j.mark_dirty(self.fid, paths, 0.0, rearm=False)

    def _make_dirs(self, path: str, folder: Path) -> None:
        """Create `folder` and its parents for `path`; a file where one of them must go is planned first.

        One level at a time from the root down, never the root itself: if the root vanishes in the middle (a
        disk unmounted), nothing is created where it was (invariant 4)."""
        if os.path.isdir(folder):
            return  # the common case (files landing in a folder that is there): one stat, no mkdir per level
        current = self.ctx.root
        made: list[str] = []
        try:
            for part in folder.relative_to(self.ctx.root).parts:
                current = current / part
                if os.path.isdir(current):
                    continue
                try:
                    fsio.mkdir(current, exist_ok=True)
                except FileNotFoundError as exc:  # the root or a folder above went away meanwhile
                    raise GuardFailed(f"{current.parent} vanished while {path} was placed") from exc
                except (FileExistsError, NotADirectoryError) as exc:
                    raise GuardFailed(f"a file stands where {path} needs a folder", also=_ancestors(path)) from exc
                made.append(current.relative_to(self.ctx.root).as_posix())
        finally:
            if made:  # what the engine wrote is looked at, not left to an event (a folder deleted meanwhile
                # may be waiting for its rename's other half: its rows say gone while the disk has it again)
                try:
                    self._recheck(*made)
                except Exception:  # the journal refuses (a full disk): the local observer holds them in memory
                    self.ctx.look_again(made)  # (found by the simulation's seed 1000046)
                    raise
                self.ctx.wake_indexer()

    def _disk_disagreed(self, path: str, result: BatchResult) -> None:
        """The disk is not what the local tree says: have the observer look (its event may still be on the way,
        or was lost), and plan the path again once it has."""
        self.j.mark_dirty(self.fid, [path], 0.0, rearm=False)
        self.ctx.wake_indexer()
        result.retry.add(path)

    def _check_disk(self, path: str, expect: LocalEntry | None) -> None:
        disk = stat_entry(self.ctx.root, path)
        if expect is None:
            if disk is not None:
                raise GuardFailed(f"{path} appeared on disk")
            return
        if disk is None or disk.kind is not expect.kind:
            raise GuardFailed(f"{path} changed on disk")
        if disk.kind is Kind.FILE and (disk.size, disk.mtime_ns, disk.inode) != (
            expect.size, expect.mtime_ns, expect.inode
        ):
            raise GuardFailed(f"{path} changed on disk")

    # -- server ops ------------------------------------------------------------------------------------------

    def _op(self, a: MkdirRemote | DeleteRemote | MoveRemote) -> CommitOp:
        p = self.ctx.prefix
        if isinstance(a, MkdirRemote):
            return MkdirOp(to_server(p, a.path), a.base_rev)
        if isinstance(a, DeleteRemote):
            return DeleteOp(to_server(p, a.path), a.base_rev)
        return MoveOp(to_server(p, a.src), to_server(p, a.dst), a.base_rev)

    def _commit_group(self, actions: list[MkdirRemote | DeleteRemote | MoveRemote], result: BatchResult) -> None:
        moved = self.notes.commits.moves(a for a in actions if isinstance(a, MoveRemote))
        # a move is noted as an upload is (write_notes.py); no feed page between the request and its record
        # (FolderContext.remote_gate)
        with self.notes.commits.in_flight(moved) as note, self.ctx.remote_gate:
            try:
                results = self.ctx.client.commit([self._op(a) for a in actions])  # split within the server's limits
            except ServerUnavailable as exc:
                raise Offline(str(exc)) from exc
            self._record_commits(actions, results, result)
            self.notes.commits.answered(note)

    def _record_commits(self, actions: list[MkdirRemote | DeleteRemote | MoveRemote], results: list[CommitResult],
                        result: BatchResult) -> None:
        for a, r in zip(actions, results, strict=True):
            if not r.ok or r.entry is None:
                self._note_refusal(a.path, r, result)
                continue
            entry = r.entry.entry
            rel = from_server(self.ctx.prefix, entry.path) or a.path
            remote = entry.at(rel)
            with self.j.transaction():
                if isinstance(a, MkdirRemote):
                    self.j.put_remote(self.fid, remote)
                    self.j.put_synced(self.fid, merge_base(a.local, remote))
                elif isinstance(a, DeleteRemote):
                    self.j.delete_remote(self.fid, a.path)
                    self.j.delete_synced(self.fid, a.path)
                    self.j.add_activity(self.fid, a.path, "deleted", "up")
                else:
                    reroot(self, "remote", a.src, a.dst)
                    if a.local is not None:
                        reroot(self, "synced", a.src, a.dst)
                        self.j.add_activity(self.fid, a.dst, "moved", f"up from {a.src}")
                    else:
                        self.j.delete_synced(self.fid, a.src)
                    result.replan.add(a.dst)
                self.j.clear_failure(self.fid, a.path)
            log.debug("%s: %s %r done", self.fid, type(a).__name__, a.path)
            result.replan.add(a.path)
            result.done += 1

    def _note_refusal(self, path: str, r: CommitResult, result: BatchResult) -> None:
        if r.code == "read_only":
            self._refused_read_only(path, result)
            return
        if r.code in ("conflict", "missing_blocks", "not_empty"):
            log.debug("%s: %s refused by the server (%s): re-planned", self.fid, path, r.code)
            result.retry.add(path)
            if r.current is not None:  # learn the server's state now rather than at the next feed page
                rel = from_server(self.ctx.prefix, r.current.path)
                cur = self.j.get_remote(self.fid, rel) if rel else None
                if rel and not r.current.deleted and (cur is None or cur.rev <= r.current.entry.rev):
                    self.j.put_remote(self.fid, r.current.entry.at(rel))
            return
        if r.code == "quota_exceeded":
            message = _account_full(r.message)
        else:
            message = f"the server refused {path}: {r.code} {r.message}".strip()
        self.j.record_failure(self.fid, path, message)
        result.failed[path] = message

    def _refused_read_only(self, path: str, result: BatchResult) -> None:
        """The path is in a folder shared with this user read-only, so the server refused the change.

        Never lose the user's bytes, never keep a copy that lies about the server: what this device holds at the
        path moves to the folder's own trash (`ferry trash list`), and the path's local change is forgotten, so
        the next plan restores the server's version (a refused deletion or move downloads it again)."""
        kept = None
        if stat_entry(self.ctx.root, path) is not None:
            self._writable()
            kept = move_to_trash(self.ctx.root, path, use_os_trash=False)
        note = ("refused: the folder is shared with you read-only; your version is in this folder's trash and "
                "the server's is restored" if kept is not None else
                "refused: the folder is shared with you read-only; the server's version is restored")
        with self.j.transaction():
            self.j.delete_local(self.fid, path)
            self.j.delete_synced(self.fid, path)
            self.j.add_activity(self.fid, path, "refused", note)
            self._recheck(path)
        log.warning("%s: %s %s", self.fid, path, note)
        self.ctx.wake_indexer()
        result.refused.append(path)
        result.replan.add(path)

    # -- transfers -------------------------------------------------------------------------------------------

    def _upload(self, uploads: list[Upload], result: BatchResult) -> None:
        """Upload in rounds (pipeline.py): round k+1's blocks are sent while round k is committed and recorded."""
        items: dict[str, UploadItem] = {}
        known = self.j.local_chunks_many(self.fid, (a.path for a in uploads))  # one query, not one per file
        for a in uploads:
            chunks = tuple(known.get(a.path, ()))
            digest = None
            if a.local.content_hash and chunks and tuple(c.hash for c in chunks) == a.local.blocks:
                digest = FileDigest(a.local.content_hash, chunks, a.local.size)
            items[a.path] = UploadItem(self._abs(a.path), to_server(self.ctx.prefix, a.path), a.base_rev,
                                       digest, a.local.mtime_ns, a.local.executable)
        total = sum(a.local.size for a in uploads)
        label = uploads[0].path if len(uploads) == 1 else f"{len(uploads)} files"
        todo = rounds(uploads, lambda a: a.local.size)
        with self.ctx.tracker.transfer(label, "up", total) as progress:

            def send(group: list[Upload], cancel: threading.Event) -> list[UploadOutcome]:
                return self.ctx.uploader.upload_many([items[a.path] for a in group], progress=progress, cancel=cancel)

            done = 0
            try:
                with contextlib.closing(pipelined(todo, send, self.ctx.cancel)) as sent:
                    for group, outcomes in sent:
                        self._commit_uploads(group, outcomes, result)
                        done += 1
            except TransferCancelled:
                result.retry.update(a.path for group in todo[done:] for a in group)
            except InsufficientStorage as exc:  # a quota refusal of blocks: nothing lost, tried again later
                message = _account_full(exc.message)
                for a in (a for group in todo[done:] for a in group):
                    self.j.record_failure(self.fid, a.path, message)
                    result.failed[a.path] = message
            except ServerUnavailable as exc:
                raise Offline(str(exc)) from exc

    def _commit_uploads(self, uploads: list[Upload], outcomes: list[UploadOutcome], result: BatchResult) -> None:
        ready = [(a, o.op) for a, o in zip(uploads, outcomes, strict=True) if o.op is not None]
        for a, o in zip(uploads, outcomes, strict=True):
            if isinstance(o.error, _DISK_MOVED_ON):
                self._disk_disagreed(a.path, result)
            elif o.error is not None:
                message = _describe(o.error)
                self.j.record_failure(self.fid, a.path, message)
                result.failed[a.path] = message
        if not ready:
            return
        failing = {f.path for f in self.j.list_failures(self.fid)}
        # noted, so an answer never recorded is settled (write_notes.py); no feed page between the request and its
        # record (FolderContext.remote_gate)
        noted = CommitNotes.files([(a.path, a.local, a.base_rev) for a, _ in ready])
        with self.notes.commits.in_flight(noted) as note, self.ctx.remote_gate:
            results = self.ctx.client.commit([op for _, op in ready])
            self._record_uploads(ready, results, failing, result, note)

    def _record_uploads(self, ready: list[tuple[Upload, PutOp]], results: list[CommitResult], failing: set[str],
                        result: BatchResult, note: str | None) -> None:
        with self.j.transaction():  # one transaction for the whole round: thousands of small files commit at once
            self.notes.commits.answered(note)
            remotes: list[RemoteEntry] = []
            activities: list[tuple[str, str, str]] = []
            for (a, _), r in zip(ready, results, strict=True):
                if not r.ok or r.entry is None:
                    self._note_refusal(a.path, r, result)
                    continue
                remotes.append(r.entry.entry.at(a.path))
                if a.path in failing:
                    self.j.clear_failure(self.fid, a.path)
                activities.append((a.path, "uploaded", str(a.local.size)))
                log.debug("%s: Upload %r done (rev %d)", self.fid, a.path, remotes[-1].rev)
                result.replan.add(a.path)
                result.done += 1
            locals_ = {a.path: a.local for a, _ in ready}
            self.j.add_activities(self.fid, activities)
            self.j.put_many(self.fid, "remote", remotes)  # a statement per tree for the round, not per file
            self.j.put_many(self.fid, "synced", [merge_base(locals_[r.path], r) for r in remotes])

    def _download_all(self, downloads: list[Download], result: BatchResult) -> None:
        small = [d for d in downloads if is_small(d.remote)]
        big = [d for d in downloads if not is_small(d.remote)]
        if len(small) > 1:
            try:
                SmallDownloads(self).run(small, result)
            except (ServerUnavailable, ConnectionError) as exc:
                raise Offline(str(exc)) from exc
        else:
            big = small + big
        if len(big) == 1 or self.ctx.download_workers <= 1:
            for d in big:
                self._guarded(d, result, self._download)
            return
        with ThreadPoolExecutor(self.ctx.download_workers, thread_name_prefix="ferry-dl") as pool:
            futures = [pool.submit(self._guarded, d, result, self._download) for d in big]
            errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None:
                raise error

    def _download(self, a: Action, result: BatchResult) -> None:
        assert isinstance(a, Download)
        # noted, so a landing never recorded is settled from what the indexer finds (write_notes.py)
        with self.notes.landings.in_flight(LandingNotes.files([a])) as note:
            landed = land(self, a, result)
            try:
                with self.j.transaction():
                    record_landed(self, landed)
                    self.notes.landings.answered(note)
            except Exception:
                self.held.hold(self, [landed])  # on disk all the same: recorded before the next plan (held_records.py)
                raise
        self.ctx.wake_indexer()

# What reading or writing a path raises when the disk is no longer what its row says: re-plan, not an error.
_DISK_MOVED_ON = (FileChangedWhileReading, FileNotFoundError, NotADirectoryError, IsADirectoryError)


def _ancestors(path: str) -> tuple[str, ...]:
    parts = path.split("/")
    return tuple("/".join(parts[:i]) for i in range(1, len(parts)))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename or exc}"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full: free some space, Ferry retries by itself"
    if isinstance(exc, OSError) and exc.errno in (errno.EBUSY, errno.EACCES, errno.ETXTBSY):
        return f"in use by another program, retrying: {exc}"
    return str(exc) or type(exc).__name__
