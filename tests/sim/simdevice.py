"""One simulated desktop for the simulation (simworld.py): a folder, a state dir, and the daemon's real engine built
over its journal, whose threads the simulation turns one at a time.

The stand-ins here keep the schedule deterministic: hashing and the early sender's sends run where they are
called (`InlinePool`, `InlineExecutor`), and the journal's writer can be made to refuse a COMMIT as a full disk does
(`_JournalDisk`). A `Crash` is the kill: a BaseException no engine code catches.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ferrysync.daemon.config import FolderConfig, Settings
from ferrysync.daemon.engine.context import FolderContext
from ferrysync.daemon.engine.executor import BatchResult
from ferrysync.daemon.engine.folder import FolderSync
from ferrysync.daemon.engine.progress import TransferTracker
from ferrysync.daemon.journal import Journal
from ferrysync.daemon.local.chunker import ChunkSink
from ferrysync.daemon.local.hasher import HashPool, HashResult
from ferrysync.daemon.local.ignore import MARKER_NAME as MARKER_DIR
from ferrysync.daemon.local.scanner import scan_folder
from ferrysync.daemon.local.trash import INFO_FILE as TRASH_INFO_FILE
from ferrysync.daemon.planner import Action, DeleteRemote, Download, MkdirLocal
from ferrysync.daemon.planner.selective import is_excluded
from ferrysync.daemon.remote import RemoteError
from ferrysync.daemon.transfer import Downloader, Uploader

if TYPE_CHECKING:
    from simworld import Simulation

PREFIX = "Shared"  # the folder's place on the server (as normalize_prefix gives it)


class Crash(BaseException):
    """The daemon was killed here (a BaseException: no engine `except Exception` may swallow it)."""


class InlinePool(HashPool):
    """Hashing on the calling thread: the injector's decisions stay in one deterministic order."""

    def __init__(self) -> None:
        super().__init__(1)

    def hash_many(self, paths: Iterable[Path], sink_for: Callable[[Path], ChunkSink | None] = lambda path: None,
                  size_of: Callable[[Path], int] | None = None) -> Iterator[HashResult]:
        for p in paths:  # in order, not completion order (a set underneath): the schedule stays exact
            yield self.submit(p, sink_for).result()

    def submit(self, path: Path, sink_for: Callable[[Path], ChunkSink | None] = lambda path: None
               ) -> Future[HashResult]:
        f: Future[HashResult] = Future()
        f.set_result(self.hash_one(path, sink_for))
        return f


T = TypeVar("T")


class InlineExecutor(Executor):
    """Runs each task where it is submitted (the early sender's sends: see `Device.boot`). A Crash is raised
    there, as a kill would stop the thread that was sending; any other error is the future's, as in a pool."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        f: Future[T] = Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - a pool hands every error to the future
            f.set_exception(exc)
        return f


class Device:
    """One desktop: a folder, a FERRY_HOME-like state dir, and the real engine built over its journal."""

    def __init__(self, sim: Simulation, name: str) -> None:
        self.sim = sim
        self.name = name
        self.root = sim.base / name / "folder"
        self.state = sim.base / name / "state"
        self.state.mkdir(parents=True)
        self.token = sim.cloud.device_token(name)
        self.cfg = FolderConfig(id=f"fld-{name}", local=self.root, remote=PREFIX)
        self.settings = Settings(trash="folder", conflict_host_name=name, quiet_period_s=0.0, name_rules="linux")
        self.events: list[str] = []  # user changes the watcher has seen, not yet queued in the journal
        self.crashes = 0
        self.paused = False  # the user paused it: kept over a crash, as a paused daemon starts paused
        self.running: set[str] = set()  # which of the engine's threads is mid-turn (none runs twice at once)
        self.journal: Journal
        self.folder: FolderSync
        self.boot(first=True)

    def boot(self, *, first: bool = False) -> None:
        """Start the engine from what is on disk (after a crash: exactly what a restarted daemon would see)."""
        self.journal = Journal(self.state / "journal.db")
        self.journal._writer = _JournalDisk(self.journal._writer, self)  # type: ignore[assignment]
        client = self.sim.cloud.client(self.token, self.sim.http_hook(self))
        ctx = FolderContext(journal=self.journal, folder_id=self.cfg.id, root=self.root, prefix=PREFIX,
                            client=client, uploader=Uploader(client, parallel=1),
                            downloader=Downloader(client, parallel=1), cancel=threading.Event(),
                            find_block=self._find_block, tracker=TransferTracker(), download_workers=1)
        self.folder = FolderSync(self.cfg, ctx, InlinePool(), lambda: self.settings, lambda: None,
                                 lambda title, body, kind: None)
        self.folder.clock = self.sim.now
        if self.folder.early is not None:  # small files' blocks go up early: in the schedule, not on a thread
            self.folder.early.pool = InlineExecutor()
        self.folder.persist = self._persist  # config.toml: what a restart reads back
        run = self.folder.executor.run

        def run_checked(actions: Iterable[Action]) -> BatchResult:
            """Invariant 11: an excluded path never yields a download nor a server deletion."""
            todo = list(actions)
            self.sim.violations += [f"{self.name}: {a!r}" for a in todo if isinstance(a, Download | MkdirLocal
                                    | DeleteRemote) and is_excluded(a.path, self.folder.cfg.excluded)]
            return run(todo)
        self.folder.executor.run = run_checked  # type: ignore[method-assign]
        ctx.now = lambda: datetime(2026, 12, 1) + timedelta(seconds=self.sim.now())
        self.folder.prepare()
        if self.paused:
            self.folder.set_paused(True)
        scan_folder(self.journal, self.cfg.id, self.root, self.folder.observer.rules.get(), now=0.0)

    def _find_block(self, block_hash: str) -> tuple[str, int, int] | None:
        loc = self.journal.find_block(block_hash)
        if loc is None:
            return None
        return str(self.root.joinpath(*loc.path.split("/"))), loc.offset, loc.length

    def _persist(self, change: Callable[[FolderConfig], FolderConfig]) -> FolderConfig:
        self.cfg = self.folder.cfg = change(self.cfg)
        return self.cfg

    def toggle_exclusion(self, path: str) -> None:
        """The user excludes `path` on this device, or includes it again (`ferry exclude` / `ferry include`)."""
        on = path not in self.cfg.excluded
        self._persist(lambda c: replace(c, excluded=(path,) if on else ()))
        self.folder.exclusions_changed([path] if on else [], [] if on else [path])

    def toggle_pause(self) -> None:
        self.paused = not self.paused
        self.folder.set_paused(self.paused)

    def crash_and_restart(self) -> None:
        self.crashes += 1
        self.running.clear()
        self.journal.close()  # an open transaction is rolled back, as SQLite does for a killed process
        self.boot()

    # -- the engine's threads, one turn each ------------------------------------------------------------------

    @contextmanager
    def _thread(self, name: str) -> Iterator[None]:
        self.running.add(name)
        try:
            yield
        finally:
            self.running.discard(name)

    def index(self) -> None:
        with self._thread("index"):
            self._index()

    def _index(self) -> None:
        if self.events:
            events, self.events = self.events, []
            try:
                self.journal.mark_dirty(self.cfg.id, events, 0.0)
            except BaseException:
                self.events = events + self.events  # as the real watcher: kept for the next attempt
                raise
        if self.folder.observer.watcher.pending():  # paths the engine asked to be looked at again (`look_again`)
            self.folder.observer.watcher._flush()  # the real watcher's flush, its echo filter included
        changed = self.folder.observer.indexer.drain().changed
        if changed:
            self.folder.mark(changed)

    def pull(self) -> None:
        """The feed thread's turn: it pulls when its long-poll would have returned (the server moved on)."""
        feed = self.folder.feed
        if feed.state.caught_up and self.sim.cloud.seq() <= int(self.journal.get_cursor(self.cfg.id)):
            return
        with self._thread("pull"):
            try:
                feed.poll_once()
            except RemoteError as exc:  # the feed thread says "offline" and tries again later
                feed._set(online=False, error=None, retry_at=None)
                self.sim.injections.append(f"  {self.name} feed offline: {exc}")

    def turn(self) -> None:
        """What the daemon's threads do when woken: index, follow the feed, one planning step."""
        for thread in (self.index, self.pull):
            try:
                thread()
            except Exception as exc:  # noqa: BLE001 - as the real threads: they log any error and try again later
                self.sim.injections.append(f"  ({self.name} {thread.__name__} failed: {exc!r})")
        self.folder.step()
        # A step's landings are recorded (or failed) by its end: a path left marked as the engine's own write
        # would keep the indexer from ever looking at it (engine_writes.py).
        assert not self.folder.ctx.engine_writes, f"{self.name}: paths left marked as being written by the engine"

    def idle(self) -> bool:
        return not self.events and self.folder.idle()

    def failures(self) -> list[str]:
        """What the status shows as errors ("could not sync"): a device with any is not "Up to date"."""
        return [f"{f.path}: {f.message}" for f in self.journal.list_failures(self.cfg.id)]

    # -- what a user sees -----------------------------------------------------------------------------------------

    def disk(self) -> dict[str, bytes | None]:
        """The folder as the user sees it (Ferry's own .ferry dir excluded)."""
        return {key: None if p is None else p.read_bytes() for key, p in self._entries()}

    def modes(self) -> dict[str, bool]:
        """Each file's executable bit (the user's, as the engine reads it: owner's x)."""
        return {key: bool(p.stat().st_mode & 0o100) for key, p in self._entries() if p is not None}

    def _entries(self) -> Iterator[tuple[str, Path | None]]:
        """Every folder (None) and file (its path) of the folder as the user sees it, by relative path."""
        for dirpath, dirnames, filenames in os.walk(self.root):
            rel = os.path.relpath(dirpath, self.root)
            if rel == ".":
                dirnames[:] = [d for d in dirnames if d != MARKER_DIR]
            else:
                yield rel.replace(os.sep, "/"), None
            for f in filenames:
                p = os.path.join(dirpath, f)
                yield os.path.relpath(p, self.root).replace(os.sep, "/"), Path(p)

    def trash_contents(self) -> set[bytes]:
        trash = self.root / MARKER_DIR / "trash"
        return {p.read_bytes() for p in trash.rglob("*") if p.is_file() and p.name != TRASH_INFO_FILE}


class _JournalDisk:
    """The journal's writer connection on a disk that is full now and then (`Knobs.disk_full`): a COMMIT fails
    with SQLITE_FULL and leaves its transaction open, as SQLite may (journal/store.py must roll it back)."""

    def __init__(self, conn: sqlite3.Connection, device: Device) -> None:
        self.conn = conn
        self.device = device

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        if sql == "COMMIT":
            self.device.sim.journal_commit(self.device)
        return self.conn.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)
