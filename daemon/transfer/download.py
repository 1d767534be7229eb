"""Download one remote file safely: temp file in the same folder, verified, then replaced only if unchanged.

Blocks already on this disk (found through the engine's block index) are copied instead of fetched; the rest
come from the server, several at a time, and are written in order. Small files' blocks are fetched ahead, many
per request (`prefetch`), by the executor's batches, and handed in as `blocks`. Each block is verified before it is
written, so the temp file always holds a verified prefix: the resume state (temp path + lengths of that
prefix) lets a restarted daemon continue where it stopped. The target is replaced only if `still_matches()`
says the local file is still what the engine last saw; a full disk removes the temp, leaves the target alone.

The replacement itself never destroys bytes the engine has not seen: a new file is renamed into place only if the
name is still free, and an existing one is *exchanged* with the temp file atomically, so whatever the user saved
in the last instant before the swap ends up under the temp name, where `displaced_matches` decides whether it
was the expected old version (removed) or a user's newer save (handed back to the caller as `displaced`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import stat
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ferrysync.daemon.local import fsio
from ferrysync.daemon.local.chunker import block_hash, content_hash_of
from ferrysync.daemon.model import Kind, RemoteEntry
from ferrysync.daemon.remote.client import RemoteClient
from ferrysync.daemon.remote.errors import ProtocolError
from ferrysync.daemon.transfer.bandwidth import TokenBucket
from ferrysync.daemon.transfer.errors import CorruptDownload, DiskFull, TargetChanged, TransferCancelled

log = logging.getLogger(__name__)

TMP_PREFIX = ".ferry-tmp-"
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}

LocalBlockFinder = Callable[[str], "tuple[str, int, int] | None"]
Writer = Callable[[BinaryIO, bytes], object]


@dataclass(frozen=True, slots=True)
class ResumeState:
    """What the journal keeps of an unfinished download: the temp file and its verified block prefix."""

    temp_path: str
    content_hash: str | None
    block_lengths: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"temp_path": self.temp_path, "content_hash": self.content_hash,
                "block_lengths": list(self.block_lengths)}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ResumeState:
        lengths = tuple(int(n) for n in obj["block_lengths"])
        return cls(str(obj["temp_path"]), obj.get("content_hash"), lengths)


@dataclass(frozen=True, slots=True)
class DownloadResult:
    path: Path
    bytes_fetched: int  # from the server
    bytes_reused: int  # copied from local files (or earlier in the same file)
    # The identity of the bytes this download wrote (inode, size, mtime_ns, executable), taken from the temp file
    # before the rename: what the journal records, so any later change by the user is seen as a change.
    written: tuple[int, int, int, bool] = (0, 0, 0, False)
    # A user's save that was at the target at the moment of the swap, kept under this temp name (see module doc).
    displaced: Path | None = None
    block_lengths: tuple[int, ...] = ()  # of each block of the file, in order (the block index records them)


@dataclass(frozen=True, slots=True)
class Staged:
    """A download's verified bytes in a temp file, not yet at the target (`Downloader.stage`, then `install`)."""

    job: _Job
    # The identity of the bytes written (inode, size, mtime_ns, executable): see DownloadResult.written.
    written: tuple[int, int, int, bool]

    @property
    def temp(self) -> Path:
        return self.job.temp

    @property
    def file(self) -> Path | fsio.Unnamed:
        """What holds the bytes: the temp file, or the unnamed file (`fsio.sync_files` takes either)."""
        return self.job.unnamed or self.job.temp

    def discard(self) -> None:
        """Remove the temp file of a download that will not be installed."""
        self.job.discard()

    def release(self) -> None:
        """What a crash would do to it, and no more: an unnamed file vanishes, a named temp stays for the next
        start's clean-up. For a caller that stops half way (no disk step happens here)."""
        if self.job.unnamed is not None:
            self.job.unnamed.close()


# What a job's temp is before it has one. `Path()` each time was 3 % of the daemon's GIL samples while 10,000 small
# files landed (a Path is made through its class's flavour and parser; `_as_path` spares the same for a Path).
_NO_TEMP = Path()


def _as_path(p: str | os.PathLike[str]) -> Path:
    return p if isinstance(p, Path) else Path(p)


def _default_write(f: BinaryIO, data: bytes) -> object:
    """All of `data`, also to an unbuffered file, whose one write(2) may take only part of it (a disk filling up)."""
    view = memoryview(data)
    while view:
        n = f.write(view)
        if not n:  # None (would block) or 0: never from a regular file; refused rather than spun on
            raise OSError(errno.EIO, f"writing {len(view)} bytes to {getattr(f, 'name', f)!r} made no progress")
        view = view[n:]
    return len(data)


class Downloader:
    """Downloads through one RemoteClient; `parallel` blocks in flight per file, `throttle` shared."""

    def __init__(self, client: RemoteClient, *, throttle: TokenBucket | None = None, parallel: int = 4,
                 write: Writer = _default_write) -> None:
        self.client = client
        self.throttle = throttle
        self.parallel = max(1, parallel)
        self._write = write

    def prefetch(self, hashes: Sequence[str]) -> dict[str, bytes]:
        """Many blocks in one request, each verified (hash -> bytes); the caller keeps within the fetch limits."""
        return self.client.get_blocks(hashes, throttle=self.throttle)

    def download(
        self,
        entry: RemoteEntry,
        target: str | os.PathLike[str],
        *,
        still_matches: Callable[[], bool],
        find_local_block: LocalBlockFinder | None = None,
        resume: ResumeState | None = None,
        on_state: Callable[[ResumeState], None] | None = None,
        progress: Callable[[int], None] | None = None,
        cancel: threading.Event | None = None,
        tmp_dir: str | os.PathLike[str] | None = None,
        target_is_new: bool | None = None,
        displaced_matches: Callable[[Path], bool] | None = None,
        before_swap: Callable[[Path], None] | None = None,
        blocks: Mapping[str, bytes] | None = None,
        sync_dir: bool = True,
    ) -> DownloadResult:
        """Fetch `entry` onto `target`. Raises TargetChanged, DiskFull, TransferCancelled, CorruptDownload or
        a RemoteError; on cancel or network errors the temp file is kept (see `on_state`) for a resume.

        `blocks`: verified bytes fetched ahead (`prefetch`), used before the disk or the network. `sync_dir=False`
        leaves the fsync of the target's folder to the caller, who must do it before recording the result (one
        fsync for a batch of files landing in the same folder)."""
        staged = self.stage(entry, target, find_local_block=find_local_block, resume=resume, on_state=on_state,
                            progress=progress, cancel=cancel, tmp_dir=tmp_dir, blocks=blocks)
        return self.install(staged, still_matches=still_matches, target_is_new=target_is_new,
                            displaced_matches=displaced_matches, before_swap=before_swap, sync_dir=sync_dir)

    def stage(
        self,
        entry: RemoteEntry,
        target: str | os.PathLike[str],
        *,
        find_local_block: LocalBlockFinder | None = None,
        resume: ResumeState | None = None,
        on_state: Callable[[ResumeState], None] | None = None,
        progress: Callable[[int], None] | None = None,
        cancel: threading.Event | None = None,
        tmp_dir: str | os.PathLike[str] | None = None,
        blocks: Mapping[str, bytes] | None = None,
        durable: bool = True,
        unnamed: bool = False,
        unnamed_dir: str | os.PathLike[str] | None = None,
    ) -> Staged:
        """The first half of `download`: `entry`'s verified bytes in a temp file with their final mode and mtime.

        `durable=False` skips the temp's fsync: the caller must then make it durable (`fsio.sync_files`, one flush
        for a whole batch, of `Staged.file`) before `install`, or discard it. `unnamed=True` (nothing is at the
        target, no resume): the bytes are written to an unnamed file where the OS offers one (`fsio.Unnamed`),
        which `install` names in one step without replacing anything; the caller must install, discard or release
        it, or it holds a descriptor until then. It is made in `unnamed_dir` (default: the temp folder), which must
        be on the target's file system: the engine passes a folder the watcher does not watch, so the writes to a
        file that has no name yet reach no event handler (`inotify_observer.py`)."""
        if entry.kind is not Kind.FILE:
            raise ValueError(f"only files can be downloaded, {entry.path!r} is a {entry.kind.value}")
        if entry.content_hash is not None and content_hash_of(entry.blocks) != entry.content_hash:
            raise CorruptDownload(f"{entry.path}: the server's block list does not match its content hash")
        target = _as_path(target)
        folder = _as_path(tmp_dir) if tmp_dir is not None else target.parent
        nameless = _as_path(unnamed_dir) if unnamed_dir is not None else folder
        job = _Job(self, entry, target, find_local_block, on_state, progress, cancel, blocks or {})
        try:
            job.open_temp(folder, resume, nameless if unnamed else None)
        except FileNotFoundError:
            if tmp_dir is None:  # the target's own folder is the engine's to make (it guards the root)
                raise
            for made in (folder, nameless) if unnamed else (folder,):  # the temp folders, made when missing
                made.mkdir(parents=True, exist_ok=True)  # (not a mkdir a file)
            job.open_temp(folder, None, nameless if unnamed else None)
        try:
            job.fill()
            written = job.seal(durable)
        except OSError as exc:
            if exc.errno in _DISK_FULL:
                job.discard()
                raise DiskFull(f"not enough disk space to download {entry.path!r} ({entry.size} bytes) "
                               f"into {folder}: free some space, then Ferry will retry") from exc
            job.stop()
            raise
        except CorruptDownload:
            job.discard()
            raise
        except BaseException:
            job.stop()
            raise
        return Staged(job, written)

    def install(
        self,
        staged: Staged,
        *,
        still_matches: Callable[[], bool],
        target_is_new: bool | None = None,
        displaced_matches: Callable[[Path], bool] | None = None,
        before_swap: Callable[[Path], None] | None = None,
        sync_dir: bool = True,
    ) -> DownloadResult:
        """The second half of `download`: the staged temp put at its target, if the target is still what the engine
        last saw (see the module doc); the temp is gone afterwards unless it holds a user's displaced save."""
        job, temp, target = staged.job, staged.job.temp, staged.job.target
        try:
            # An unnamed file takes a name only if it is free, in the same step: asking first would only repeat it.
            if job.unnamed is None and not still_matches():
                raise TargetChanged(f"{target} changed while it was downloaded; not replaced")
            displaced = _install(job, temp, target, target_is_new, displaced_matches, before_swap)
        except BaseException:
            if not job.swapping:  # after the swap the temp may hold the user's bytes: never discarded here
                job.discard()
            raise
        if sync_dir:
            try:
                fsio.fsync_dir(target.parent)
            except (FileNotFoundError, NotADirectoryError):
                # The folder may go (deleted or replaced by the user) right after the file landed in it: no name is
                # then left to make durable, and that deletion is the user's, for the indexer to find.
                pass
            except OSError as exc:
                if displaced is None:
                    raise
                # Raising would lose sight of the save the exchange displaced (it would stay in the temp folder):
                # it comes first, handed back for the caller to keep. The folder's next flush makes both names
                # durable, and a crash before it is what the swap's record recovers at the next start.
                log.warning("%s: making its folder durable failed (%s); keeping the save it displaced first",
                            target, exc)
        return DownloadResult(target, job.fetched, job.reused, staged.written, displaced, tuple(job.lengths))


def _install(job: _Job, temp: Path, target: Path, target_is_new: bool | None,
             displaced_matches: Callable[[Path], bool] | None,
             before_swap: Callable[[Path], None] | None) -> Path | None:
    """Put the verified temp file at `target`; returns where a user's unexpected bytes were kept, if any.

    `target_is_new`: True when nothing may be there, False when the expected old file must be, None when either
    is fine (a caller that does not track the target). `before_swap(temp)` runs just before an exchange: from
    then on the temp file may hold the user's bytes, so the caller records that durably (a crash before it keeps
    them is recovered at the next start) and the temp is never discarded as a failed download's."""
    if job.unnamed is not None:  # staged for a new file only: named here, never over anything
        try:
            fsio.link_unnamed(job.unnamed, target)
        except FileExistsError as exc:
            raise TargetChanged(f"{target} appeared while it was downloaded; not replaced") from exc
        job.unnamed.close()
        return None
    if target_is_new is None and not os.path.lexists(target):
        target_is_new = True
    if target_is_new:
        try:
            fsio.rename_noreplace(temp, target)
        except FileExistsError as exc:
            raise TargetChanged(f"{target} appeared while it was downloaded; not replaced") from exc
        return None
    if before_swap is not None:
        before_swap(temp)
    job.swapping = True
    try:
        swapped = fsio.exchange(temp, target)
    except FileNotFoundError as exc:
        job.swapping = False
        raise TargetChanged(f"{target} vanished while it was downloaded; not replaced") from exc
    if not swapped:  # no atomic swap here: the check just made is all there is
        fsio.replace(temp, target)
        return None
    try:
        expected = displaced_matches is None or displaced_matches(temp)
    except OSError:  # cannot tell (an I/O error): kept as the user's; a copy too many beats a save lost
        expected = False
    if expected:
        fsio.unlink(temp, missing_ok=True)  # the old version the engine expected (the server keeps it)
        return None
    return temp


class _Job:
    """The state of one download (split from Downloader so each step stays small)."""

    def __init__(self, owner: Downloader, entry: RemoteEntry, target: Path,
                 finder: LocalBlockFinder | None, on_state: Callable[[ResumeState], None] | None,
                 progress: Callable[[int], None] | None, cancel: threading.Event | None,
                 fetched: Mapping[str, bytes]) -> None:
        self.owner, self.entry, self.target = owner, entry, target
        self.ahead = fetched
        self.finder, self.on_state, self.progress, self.cancel = finder, on_state, progress, cancel
        self.lengths: list[int] = []
        self.written: dict[str, tuple[int, int]] = {}  # hash → (offset, length) inside the temp file
        self.offset = 0
        self.fetched = 0
        self.reused = 0
        self.temp = _NO_TEMP
        self.f: BinaryIO | None = None
        self.unnamed: fsio.Unnamed | None = None  # the bytes' file when it has no name yet (`stage(unnamed=True)`)
        self.swapping = False  # the exchange with the target has begun: the temp may hold the user's bytes

    # -- temp file ----------------------------------------------------------------------------------------

    def open_temp(self, folder: Path, resume: ResumeState | None, unnamed_in: Path | None = None) -> Path:
        """A named temp in `folder` (or the one `resume` names), or an unnamed file in `unnamed_in` where given
        and the OS has them."""
        if resume is not None and self._try_resume(folder, resume):
            return self.temp
        if resume is not None:
            Path(resume.temp_path).unlink(missing_ok=True)
        if unnamed_in is not None and resume is None and (u := fsio.create_unnamed(unnamed_in)) is not None:
            self.unnamed, self.temp = u, Path(u.label)
            try:
                # Unbuffered: the file object is only a way to write its bytes (one write(2) a block). A buffered
                # one asks the descriptor for its position, whether it is a terminal, and again when it flushes:
                # five system calls a small file, each handing the daemon's GIL to another thread and back.
                self.f = os.fdopen(u.fd, "r+b", buffering=0, closefd=False)  # open until it is named
            except BaseException:
                u.close()
                raise
            return self.temp
        self.temp = folder / f"{TMP_PREFIX}{secrets.token_hex(8)}"
        self.f = fsio.create_exclusive(self.temp)
        return self.temp

    def _try_resume(self, folder: Path, resume: ResumeState) -> bool:
        temp = Path(resume.temp_path)
        if (resume.content_hash != self.entry.content_hash or temp.parent.resolve() != folder.resolve()
                or not temp.name.startswith(TMP_PREFIX) or not temp.is_file()):
            return False
        f = self.f = fsio.open_file(temp, "r+b")
        self.temp = temp
        for i, length in enumerate(resume.block_lengths[:len(self.entry.blocks)]):
            data = fsio.pread(f, length, self.offset, temp)
            if len(data) != length or block_hash(data) != self.entry.blocks[i]:
                break
            self._record(self.entry.blocks[i], length)
        f.truncate(self.offset)
        f.seek(self.offset)
        return True

    def _record(self, h: str, length: int) -> None:
        self.written.setdefault(h, (self.offset, length))
        self.lengths.append(length)
        self.offset += length

    def close(self) -> None:
        if self.f is not None:
            with contextlib.suppress(OSError):  # a failed flush only shortens the prefix a resume re-checks
                self.f.close()
            self.f = None

    def stop(self) -> None:
        """Stopped half way (cancelled, offline): a named temp stays for a resume; an unnamed file cannot resume."""
        if self.unnamed is not None:
            self.discard()
        else:
            self.close()

    def discard(self) -> None:
        self.close()
        if self.unnamed is not None:
            self.unnamed.close()  # it never had a name: letting go of it is all there is to remove
            return
        fsio.unlink(self.temp, missing_ok=True)

    # -- blocks -------------------------------------------------------------------------------------------

    def _fetch(self, h: str) -> tuple[bytes, bool]:
        """A block's verified bytes and whether they came from this disk."""
        ahead = self.ahead.get(h)
        if ahead is not None:
            return ahead, False  # verified on arrival (framing.decode_blocks)
        if self.finder is not None:
            found = self.finder(h)
            if found is not None:
                path, offset, length = found
                try:
                    with fsio.open_file(path, "rb") as f:
                        data = fsio.pread(f, length, offset, path)
                    if block_hash(data) == h:
                        return data, True
                except OSError:
                    pass  # moved or unreadable since indexed: fall back to the network
        try:
            return self.owner.client.get_block(h, throttle=self.owner.throttle), False
        except ProtocolError as exc:
            if exc.code != "hash_mismatch":
                raise
            return self.owner.client.get_block(h, throttle=self.owner.throttle), False  # one more try

    def fill(self) -> None:
        assert self.f is not None
        blocks = self.entry.blocks
        start = len(self.lengths)
        rest = blocks[start:]
        if self.owner.parallel == 1 or len(rest) <= 1 or all(h in self.ahead for h in rest):
            self._fill_in_turn(start)  # nothing to wait for in parallel: no threads to start
            return
        window = self.owner.parallel * 2  # blocks planned ahead of the one being written
        futures: dict[int, Future[tuple[bytes, bool]]] = {}
        planned: set[str] = set(self.written)
        nxt = start
        with ThreadPoolExecutor(max_workers=self.owner.parallel, thread_name_prefix="ferry-dl") as pool:
            try:
                for i in range(start, len(blocks)):
                    while nxt < len(blocks) and nxt < i + window:
                        if blocks[nxt] not in planned:  # a repeated block is copied from the temp file
                            planned.add(blocks[nxt])
                            futures[nxt] = pool.submit(self._fetch, blocks[nxt])
                        nxt += 1
                    if self.cancel is not None and self.cancel.is_set():
                        raise TransferCancelled(f"download of {self.entry.path!r} paused or cancelled")
                    fut = futures.pop(i, None)
                    if fut is None:
                        data, local = self._from_temp(blocks[i]), True
                    else:
                        data, local = fut.result()
                    self._append(blocks[i], data, local)
            finally:
                for fut in futures.values():
                    fut.cancel()

    def _fill_in_turn(self, start: int) -> None:
        """`fill`, one block after the other on the calling thread."""
        blocks = self.entry.blocks
        for i in range(start, len(blocks)):
            if self.cancel is not None and self.cancel.is_set():
                raise TransferCancelled(f"download of {self.entry.path!r} paused or cancelled")
            if blocks[i] in self.written:
                self._append(blocks[i], self._from_temp(blocks[i]), True)
            else:
                self._append(blocks[i], *self._fetch(blocks[i]))

    def _from_temp(self, h: str) -> bytes:
        assert self.f is not None
        self.f.flush()
        offset, length = self.written[h]
        data = fsio.pread(self.f, length, offset, self.temp)
        if block_hash(data) != h:
            raise CorruptDownload(f"{self.temp}: a block written moments ago reads back differently")
        return data

    def _append(self, h: str, data: bytes, local: bool) -> None:
        assert self.f is not None
        fsio.probe("write", "before", self.temp)
        self.owner._write(self.f, data)
        fsio.probe("write", "after", self.temp)
        self._record(h, len(data))
        if local:
            self.reused += len(data)
        else:
            self.fetched += len(data)
        if self.progress is not None:
            self.progress(len(data))
        if self.on_state is not None:
            self.f.flush()
            self.on_state(ResumeState(str(self.temp), self.entry.content_hash, tuple(self.lengths)))

    def seal(self, durable: bool = True) -> tuple[int, int, int, bool]:
        """Check the size, make the bytes durable (unless the caller will: `stage`) and give the temp its final
        metadata; what was written: (inode, size, mtime_ns, executable), from one stat after the mtime is set (a
        file system may round it) and before the mode is (which leaves the mtime as it is)."""
        assert self.f is not None
        if self.offset != self.entry.size:
            raise CorruptDownload(f"{self.entry.path}: blocks add up to {self.offset} bytes, "
                                  f"the server says {self.entry.size}")
        if durable:
            fsio.fsync(self.f, self.temp)
        else:
            self.f.flush()
        self.close()
        held = self.unnamed or self.temp
        fsio.utime(held, self.entry.mtime_ns)
        st = fsio.stat(held)
        made = mode = stat.S_IMODE(st.st_mode)
        if self.unnamed is None:  # an unnamed file is for a new target only: nothing there to take the mode of
            with contextlib.suppress(OSError):  # a new file keeps the umask-derived mode of the temp
                mode = stat.S_IMODE(fsio.stat(self.target).st_mode)
        mode = mode | ((mode & 0o444) >> 2) if self.entry.executable else mode & ~0o111
        if mode != made:
            fsio.chmod(held, mode)
        return st.st_ino, st.st_size, st.st_mtime_ns, bool(mode & 0o100)


def remove_stale_temps(folder: str | os.PathLike[str], keep: set[str] | frozenset[str] = frozenset()) -> int:
    """Delete leftover temp files in `folder` that no resume state refers to; returns how many."""
    removed = 0
    for p in Path(folder).glob(f"{TMP_PREFIX}*"):
        if str(p) not in keep and p.is_file():
            p.unlink(missing_ok=True)
            removed += 1
    return removed
