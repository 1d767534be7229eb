"""One sync folder: its local observer, its change-feed reader and the planning loop that joins them.

Observers report changed paths; the loop plans those paths (with their subtrees where a folder changed kind or
moved) and hands the actions to the executor. Successful actions are planned once more to confirm convergence;
actions whose guard failed wait a moment for the observers to catch up. At start every path of the three trees is
planned once, so whatever was left undone when the daemon stopped is picked up.

Threads with owners: the loop thread owns every piece of this folder's mutable state. Other threads talk to it
only by message — observers and the feed through `mark` (a locked set the loop drains), the control channel
through `_post` (commands the loop runs at the top of its next turn) — and read it only through `view`, an
immutable snapshot the loop replaces whole.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ferrysync.daemon import threads
from ferrysync.daemon.config import FolderConfig, Settings
from ferrysync.daemon.engine import exclusions
from ferrysync.daemon.engine.context import FolderContext
from ferrysync.daemon.engine.deletion_hold import DeletionHold
from ferrysync.daemon.engine.executor import BatchResult, Executor, Offline
from ferrysync.daemon.engine.failures import stale_failures
from ferrysync.daemon.engine.notices import notices, pending_transfers
from ferrysync.daemon.engine.rename_hold import RenameHold
from ferrysync.daemon.engine.resume import resumable_temps
from ferrysync.daemon.engine.swaps import recover_swaps
from ferrysync.daemon.local.fsprobe import probe_profile
from ferrysync.daemon.local.hasher import HashPool
from ferrysync.daemon.local.marker import RootUnavailable, check_marker, init_marker, tmp_dir, unnamed_dir
from ferrysync.daemon.local.names import TWIN_REASON, Profile
from ferrysync.daemon.local.ondisk import disk_path
from ferrysync.daemon.local.scanner import stat_entry
from ferrysync.daemon.local.watcher import LocalObserver
from ferrysync.daemon.model import Kind
from ferrysync.daemon.planner import (
    Action,
    KeepOut,
    PathRows,
    PlanContext,
    Skip,
    deletes_file,
    plan_batch,
    settled,
)
from ferrysync.daemon.planner.selective import normalise_exclusions, order, plan_excluded, spare_parents
from ferrysync.daemon.remote import Unauthorized
from ferrysync.daemon.remote.feed import FeedReader
from ferrysync.daemon.remote.mapping import normalize_prefix
from ferrysync.daemon.transfer import remove_stale_temps
from ferrysync.daemon.transfer.early import EarlySender

log = logging.getLogger(__name__)

GUARD_RETRY_S = 0.5  # a failed guard waits this long for the observers before the path is planned again
IDLE_TICK_S = 5.0  # how often an idle loop looks at the journal anyway
STALL_RETRY_S = 5.0  # a round that failed unexpectedly, or paths that do not converge, are planned again after this
VERIFY_POLL_S = 0.05  # how soon the journal check is tried again while the local observer is still indexing


def _frozen(d: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(d or {}))


@dataclass(frozen=True)
class FolderView:
    """What the status shows of one folder: an immutable snapshot the loop thread replaces whole, so a reader
    on another thread never sees it half-updated (nor a dict changing size under its iteration)."""

    pending_up: tuple[int, int] = (0, 0)  # count, bytes
    pending_down: tuple[int, int] = (0, 0)
    last_sync: float | None = None
    kept_out: Mapping[str, str] = field(default_factory=_frozen)
    held: Mapping[str, Action] = field(default_factory=_frozen)  # deletions waiting for the user's confirmation


class FolderSync:
    def __init__(self, cfg: FolderConfig, ctx: FolderContext, pool: HashPool,
                 settings: Callable[[], Settings], on_state: Callable[[], None],
                 notify: Callable[[str, str, str], None]) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self.journal = ctx.journal
        self.fid = cfg.id
        self.root = Path(cfg.local)
        self.settings = settings
        self._on_state = on_state
        self._notify = notify
        # Paths whose local change a folder shared read-only refused since start-up (restored from the server;
        # the user's version went to the folder's trash): shown in `ferry status` until the daemon restarts.
        self.refused: list[str] = []
        history = self.journal.list_activity(1, folder_id=cfg.id)  # survives restarts: it is in the journal
        self.view = FolderView(last_sync=history[0].ts if history else None)
        self._deletions = DeletionHold()  # owned by the loop thread; published through `view`
        self._kept_out: dict[str, str] = {}
        self.profile = Profile.current()
        self.error: str | None = None
        self.server_storage_full = False  # the last round failed because the server's disk refused its writes
        self.executor = Executor(ctx)
        s = settings()
        # Blocks go up as the indexer reads them; not an encrypted folder's (see transfer/early.py).
        self.early = None if cfg.encrypted else EarlySender(
            ctx.uploader, ctx.cancel, track=lambda path, size: ctx.tracker.transfer(path, "up", size))
        sink_for = self.early.sink_for if self.early is not None else (lambda path, size: None)
        sinks_done = self.early.flush if self.early is not None else (lambda: None)
        self.observer = LocalObserver(self.journal, self.fid, self.root, pool, quiet_period=s.quiet_period_s,
                                      rescan_interval=s.rescan_interval_s, on_changes=self.mark,
                                      on_error=self._observer_error, engine_writes=ctx.engine_writes,
                                      sink_for=sink_for, sinks_done=sinks_done)
        ctx.wake_indexer = self.observer.wake
        ctx.look_again = self.observer.look_again
        self.feed = FeedReader(self.journal, self.fid, normalize_prefix(cfg.remote), ctx.client,
                               on_changes=self.mark, on_state=self._feed_state, gate=ctx.remote_gate)
        self._lock = threading.Lock()
        self._inbox: queue.Queue[Callable[[], None]] = queue.Queue()  # commands for the loop thread
        self._pending: set[str] = set()
        self._retry: dict[str, float] = {}
        self._full = True  # plan every known path once at start
        # Set only when a pass over the journal's trees found no unsettled path and nothing was marked since:
        # "idle" is derived from the trees, never from the in-memory queues alone.
        self._verified = False
        self._lost_before: set[str] = set()
        self._verify_soon = False  # the journal check waits for the indexer: the loop ticks quickly meanwhile
        self._renames = RenameHold()  # a rename's halves waiting to be planned together (rename_hold.py)
        self._busy = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.clock: Callable[[], float] = time.monotonic  # when retries fall due (the simulation runs its own)
        # Selective sync. The exclusions themselves are `cfg.excluded` (config.toml, their one definition); the
        # engine replaces `persist` with a call that saves the folder's config. Loop-owned: exclusions whose disk
        # is still to be freed, and paths included again that must not be excluded anew as "new" (see _round).
        self.persist: Callable[[Callable[[FolderConfig], FolderConfig]], FolderConfig] = self._keep_cfg
        self._free: set[str] = set()
        self._included: set[str] = set()

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        self.prepare()
        self.observer.start()
        self.feed.start()
        self._thread = threads.start(self._run, f"ferry-sync-{self.fid}")
        self._wake.set()

    def prepare(self) -> None:
        """Check the root and its marker (write it on first use), probe the disk's name rules, drop stale temps."""
        try:
            if self.journal.get_marker_id(self.fid) is None:
                init_marker(self.root, self.fid, create_root=True)
                self.journal.set_marker_id(self.fid, self.fid)
            else:
                check_marker(self.root, self.fid)
        except RootUnavailable as exc:
            self.error = str(exc)  # the observer keeps checking and resumes when the root is back
        self.profile = self._profile()
        if self.error is None:
            # A swap a crash interrupted may have left a user's bytes in the temp folder: keep them first.
            recover_swaps(self.journal, self.fid, self.root, self.settings().conflict_host_name, self.ctx.now(),
                          lambda p: stat_entry(self.root, p) is not None)
            remove_stale_temps(tmp_dir(self.root), keep=frozenset(resumable_temps(self.journal, self.fid)))
            try:  # every start, before the watcher, which leaves it unwatched (older markers lack it)
                unnamed_dir(self.root).mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # made when a download first needs it (then watched: only slower)
                log.warning("%s: cannot make %s (%s)", self.fid, unnamed_dir(self.root), exc)

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop and join this folder's threads; True when none of them can touch the journal any more."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        self.ctx.cancel.set()
        self._wake.set()
        stopped = self.feed.stop(timeout)
        self.observer.stop()  # joins the watcher and the indexer
        if self.early is not None:
            self.early.close()
        if self._thread is not None:
            self._thread.join(max(0.1, deadline - time.monotonic()))
            if self._thread.is_alive():
                log.error("%s: the sync loop did not stop within %.0f s", self.fid, timeout)
                return False
        return stopped

    def _profile(self) -> Profile:
        rules = self.settings().name_rules
        if rules != "auto":
            return {"windows": Profile.WINDOWS, "macos": Profile.MACOS, "linux": Profile.LINUX}[rules]
        return probe_profile(tmp_dir(self.root)) if self.error is None else Profile.current()

    def conflict_copies(self) -> list[str]:
        """Conflicted copies still on disk: the user resolves a conflict by deleting or renaming its copy."""
        return [c.path for c in self.journal.list_conflicts(self.fid) if disk_path(self.root, c.path).exists()]

    def _forget_resolved_conflicts(self) -> None:
        gone = [c.path for c in self.journal.list_conflicts(self.fid) if not disk_path(self.root, c.path).exists()]
        if gone:
            self.journal.forget_conflicts(self.fid, gone)

    def name_issues(self) -> dict[str, str]:
        """Paths left out of the sync and why: names this disk cannot hold, and NFC/NFD twins found on it."""
        return dict(self.view.kept_out) | dict.fromkeys(self.observer.twins, TWIN_REASON)

    def kept_count(self) -> int:
        """Files still on this disk inside excluded paths (`excluded` lists them with why)."""
        return exclusions.kept_count(self.journal, self.fid, self.cfg.excluded)

    def _post(self, command: Callable[[], None]) -> None:
        """Run `command` on the loop thread at the top of its next turn (the only writer of the folder's state)."""
        self._inbox.put(command)
        self._wake.set()

    def _run_commands(self) -> None:
        while True:
            try:
                command = self._inbox.get_nowait()
            except queue.Empty:
                return
            try:
                command()
            finally:
                self._inbox.task_done()  # only now may `idle()` stop counting it

    def refresh_profile(self) -> None:
        """The name rules changed: plan every path again under the new ones."""
        def run() -> None:
            self.profile = self._profile()
            with self._lock:
                self._full = True
        self._post(run)

    def mark(self, paths: list[str]) -> None:
        with self._lock:
            self._pending.update(paths)
            self._verified = False
        self._wake.set()

    def set_paused(self, paused: bool) -> None:
        if paused:
            self.ctx.cancel.set()  # at once: transfers in flight check it between blocks
        else:
            self.ctx.cancel.clear()
            self._post(self._plan_all)
            self.feed.kick()
        self._wake.set()
        self._on_state()

    def server_changed(self, *, replaced: bool) -> None:
        """New credentials: the feed lists the server again; what the old token could not do runs again."""
        self.feed.server_changed(replaced=replaced)
        self._wake.set()

    def _keep_cfg(self, change: Callable[[FolderConfig], FolderConfig]) -> FolderConfig:
        self.cfg = change(self.cfg)
        return self.cfg

    def exclusions_changed(self, added: list[str], removed: list[str]) -> None:
        """The user excluded `added` and included `removed` again (already saved in config.toml): free the
        disk of what the added ones hold (next round, so not while paused), and plan the included ones again."""
        def run() -> None:
            self._free.difference_update(removed)
            self._free.update(added)
            self._included.update(removed)
            self._included.difference_update(added)
            with self._lock:
                self._full = True
            self.mark([*added, *removed])  # a settled subtree has no unsettled path: this makes the round run
        self._post(run)

    def approve_deletions(self) -> None:
        def run() -> None:
            approved = self._deletions.approve()
            with self._lock:
                self._pending.update(approved)
        self._post(run)

    def reject_deletions(self) -> None:
        """Keep the files: forget the merge base, so the planner sees them as new on the side that has them."""
        def run() -> None:
            held = self._deletions.reject()
            self._publish(held={})
            with self.journal.transaction():
                for path in held:
                    self.journal.delete_synced(self.fid, path)
            self.mark(list(held))
        self._post(run)

    def journal_writable(self) -> None:
        """The journal's disk takes writes again (after refusing them): what it refused goes on now, not at each
        thread's next retry; every unsettled path is planned again, as after a resume."""
        self.observer.retry_now()
        self._post(self._plan_all)
        self.feed.kick()

    def _plan_all(self) -> None:
        with self._lock:
            self._full = True

    def _publish(self, **changes: Any) -> None:
        """Replace the snapshot other threads read (loop thread only)."""
        self.view = replace(self.view, **changes)

    def idle(self) -> bool:
        """Nothing left to plan, run or observe, and the feed has caught up with the server.

        Asked in the order work travels: the observer and the feed hand paths to `_pending`, a command may add
        to it, a round takes them from it (`_busy` set under the same lock). A path moving on while we look is
        seen at the later stage, never missed between two; and a turn that takes nothing never reads as busy."""
        if self.error is not None or self.observer.error is not None or self.failure() is not None:
            return False
        if not self.observer.idle() or not self.feed.state.caught_up:
            return False
        if self._inbox.unfinished_tasks:  # a command still queued or running (it may mark paths)
            return False
        with self._lock:
            return not (self._pending or self._retry or self._full or not self._verified or self._busy)

    def failure(self) -> str | None:
        """Why this folder's work stopped although nobody stopped it (one of its threads died), or None.

        The status shows it instead of the last state the dead thread left behind ("Up to date")."""
        if self._stop.is_set():
            return None
        reason = threads.death(self._thread)
        if reason is not None:
            return f"its sync loop stopped ({reason})"
        return self.feed.failure() or self.observer.failure()

    # -- the loop --------------------------------------------------------------------------------------------

    def _observer_error(self, exc: Exception) -> None:
        self._on_state()

    def _feed_state(self) -> None:
        self._wake.set()  # e.g. back online: run what waited
        self._on_state()

    def _take(self, observer_idle: bool) -> set[str] | None:
        now = self.clock()
        caught_up = self._renames.released(now, observer_idle)
        with self._lock:
            due = {p for p, t in self._retry.items() if t <= now}
            if caught_up:  # paths that waited for a rename's other half go together, with what came meanwhile
                due |= {p for p in self._retry if p in self._renames}
            unsettled = self._unsettled_paths() if self._full else set()  # may raise: nothing is taken yet
            for p in due:
                del self._retry[p]
            if due or self._pending or self._full:
                self._verified = False
            self._full = False
            paths, self._pending = self._pending | due | unsettled, set()
            self._busy = bool(paths)  # with the paths, under the lock `idle()` reads them under
            return paths

    def _unsettled_paths(self) -> set[str]:
        """Every path whose three rows do not already agree: a restart over a settled folder plans nothing.

        The journal names the paths whose rows differ in any compared column (one indexed join in SQLite, so
        the cost of a settled folder does not grow in Python with its size); the planner's `settled` then judges
        those rows, so "settled" has one definition."""
        candidates = self.journal.maybe_unsettled(self.fid)
        if not candidates:
            return set()
        return {p for p, rows in self.journal.rows_for_paths(self.fid, candidates).items() if not settled(*rows)}

    def _verify(self) -> None:
        """The queues are empty: confirm from the journal that every path is settled.

        A path whose rows disagree and that nothing is waiting on (not kept out, not held for approval, not
        ignored, not backing off after a failure, not queued for a retry) was dropped somewhere: plan it again.
        Only when none is left does the folder count as idle."""
        self._verify_soon = not self.observer.idle()
        if self._verify_soon:
            return  # the indexer is writing the local tree: look again shortly, once it is done
        self.journal.clear_failures(self.fid, stale_failures(self.journal, self.fid, self.root))
        with self._lock:
            if self._verified:
                return
            waiting = set(self._retry)
        rules = self.observer.rules.get()
        skip = set(self._kept_out) | set(self._deletions.held) | waiting
        skip |= {f.path for f in self.journal.list_failures(self.fid)}
        lost = {p for p in self._unsettled_paths() if p not in skip and not rules.is_ignored(p)}
        lost -= exclusions.settled(self.journal, self.fid, self.cfg.excluded, lost,
                                   PlanContext(host=self.settings().conflict_host_name, when=self.ctx.now(),
                                               profile=self.profile))
        if lost:
            again = lost & self._lost_before  # planned last time and still unsettled: do not spin on them
            self._lost_before = lost
            log.debug("%s: %d unsettled paths taken up again: %s", self.fid, len(lost), sorted(lost)[:20])
            if again:
                log.warning("%s: %d paths do not converge (e.g. %s); retrying in %.0f s", self.fid, len(again),
                            sorted(again)[0], STALL_RETRY_S)
                with self._lock:
                    self._retry.update({p: self.clock() + STALL_RETRY_S for p in again})
            self.mark(sorted(lost - again))  # planned with whatever else was reported meanwhile
            return
        self._lost_before = set()
        self._forget_resolved_conflicts()
        with self._lock:
            if not self._pending and not self._full:
                self._verified = True

    def _timeout(self) -> float:
        base = VERIFY_POLL_S if self._verify_soon else IDLE_TICK_S
        with self._lock:
            if not self._retry:
                return base
            return min(base, max(0.0, min(self._retry.values()) - self.clock()))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._timeout())
            self._wake.clear()
            if self._stop.is_set():
                break
            self.step()

    def step(self) -> None:
        """One turn of the loop: plan and run what is pending, or check the journal when nothing is.

        The loop thread calls it on each wake-up; the race-and-crash simulation calls it directly, one turn at a
        time, so that the real planning and execution code runs under its control."""
        self._run_commands()
        if self.ctx.cancel.is_set() or self.observer.error is not None or not self.feed.state.online:
            self._on_state()
            return
        if self.error is not None:
            try:
                check_marker(self.root, self.fid)
                self.error = None
            except RootUnavailable:
                return
        # One look at the local observer for the whole turn: taking the paths and holding a rename's halves must
        # agree on it. Asked twice, "busy" at the take (the waiting old half of a rename stays out) and "idle" at
        # the hold (the new half goes alone) plans a folder rename as an upload plus a mass deletion.
        observer_idle = self.observer.idle()
        paths = self._take(observer_idle)
        if not paths:
            try:
                if landed := self.executor.settle(self.feed.state.catch_ups, observer_idle):  # waiting on feed/indexer
                    self.mark(sorted(landed))  # planned at the next turn, before anything says "Up to date"
                else:
                    self._verify()
            except Exception:  # tried again at the next idle tick; a refusing disk is in the status already
                if self.journal.write_trouble is None:
                    log.exception("%s: checking the journal for unsettled paths failed", self.fid)
            self._on_state()
            return
        self._on_state()
        try:
            self._round(paths, observer_idle)
            self.server_storage_full = False
        except Offline as exc:
            log.warning("%s: server unreachable mid-batch (%s)", self.fid, exc)
            # the server answers, but its disk refuses what this device sends: said in the status until a round
            # goes through (nothing is lost: the paths are planned again)
            self.server_storage_full = getattr(exc.__cause__, "code", "") == "storage_full"
            self.mark(list(paths))
            self.feed.kick()
        except Unauthorized as exc:
            self.error = f"the server refused this device ({exc}); run `ferry login` again"
            self.mark(list(paths))
        except RootUnavailable as exc:
            log.error("%s: %s; nothing is written until it is back", self.fid, exc)
            self.error = str(exc)
            self.mark(list(paths))
        except Exception:
            log.exception("%s: sync round failed", self.fid)
            with self._lock:
                now = self.clock()
                self._retry.update({p: now + STALL_RETRY_S for p in paths})
        finally:
            self._busy = False
            self._on_state()

    def _expand(self, paths: set[str]) -> dict[str, PathRows]:
        """Rows of each path, plus the subtree of any folder that vanished, moved or changed kind.

        Ignored paths are left out in both directions: their rows stay frozen, so adding a synced folder to
        .ferryignore deletes nothing anywhere, and what the server has there is not downloaded."""
        rules = self.observer.rules.get()
        found = self.journal.rows_for_paths(self.fid, (p for p in paths if not rules.is_ignored(p)))
        rows = {p: PathRows(p, *r) for p, r in found.items()}
        subtrees: set[str] = set()
        for p, r in found.items():
            present = [e for e in r if e is not None]
            if any(e.kind is Kind.DIR for e in present) and (len(present) < 3 or len({e.kind for e in present}) > 1):
                for tree in ("local", "remote", "synced"):
                    subtrees.update(e.path for e in self.journal.descendants(self.fid, tree, p)
                                    if e.path not in rows and not rules.is_ignored(e.path, e.kind is Kind.DIR))
        for p, r in self.journal.rows_for_paths(self.fid, subtrees).items():
            rows[p] = PathRows(p, *r)
        return rows

    def _round(self, paths: set[str], observer_idle: bool) -> None:
        paths = paths | self.executor.settle(self.feed.state.catch_ups, observer_idle)  # before anything is planned
        now = time.time()
        backed = self.journal.backed_off_paths(self.fid, now)
        if backed & paths:
            with self._lock:
                for p in backed & paths:
                    b = self.journal.get_backoff(self.fid, p)
                    self._retry[p] = self.clock() + max(0.5, (b.next_try - now) if b else STALL_RETRY_S)
            paths = paths - backed
        rows = self._expand(paths)
        held_now = self.clock()
        halves = self._renames.hold(rows, held_now, observer_idle, self._deletions.held)
        with self._lock:
            self._retry.update(dict.fromkeys(halves, held_now + GUARD_RETRY_S))
        s = self.settings()
        self.ctx.use_os_trash = s.trash == "os"
        self.ctx.host = s.conflict_host_name
        now_m = self.clock()
        threshold, approved = self._deletions.threshold(s, rows, now_m)
        plan_ctx = PlanContext(host=s.conflict_host_name, when=self.ctx.now(), profile=self.profile,
                               exists=self._exists, root_length=len(str(self.root)))
        if not self.cfg.auto_include_new:
            new = exclusions.new_top_folders(rows, self.cfg.excluded, self._included)
            if new:
                log.info("%s: new server folders not included (auto_include_new is off): %s", self.fid, new)
                self.persist(lambda c: replace(c, excluded=normalise_exclusions((*c.excluded, *new))))
        excluded_rows = exclusions.take_excluded(rows, self.cfg.excluded)
        plan = plan_batch(rows.values(), plan_ctx, lambda: self.journal.count(self.fid, "synced", Kind.FILE), threshold)
        # Excluded paths are planned one by one outside the batch: no moves, no deletion hold (their only local
        # deletions are the server's own or the user's choice), never a download or a server deletion.
        actions = spare_parents(plan.actions, self.cfg.excluded)
        actions += order(a for r in excluded_rows for a in plan_excluded(r, plan_ctx))
        freeing = set(self._free)  # forgotten once run: a round cut short (offline) frees them next time
        actions += exclusions.freeing(self.journal, self.fid, self.cfg.excluded, freeing)
        rows.update((r.path, r) for r in excluded_rows)  # what this round planned, for the reports below
        if log.isEnabledFor(logging.DEBUG):  # a user's log can explain where each file went
            for a in actions:
                r = rows.get(a.path)
                log.debug("%s: plan %r: %s | local=%s remote=%s synced=%s", self.fid, a.path, type(a).__name__,
                          r and r.local, r and r.remote, r and r.synced)
        kept = {a.path: a.reason for a in actions if isinstance(a, KeepOut | Skip)}
        self._kept_out = {p: r for p, r in self._kept_out.items() if p not in rows} | kept
        if self._deletions.planned(plan.held_deletions, rows):
            self._notify("Deletions waiting", f"{len(self._deletions.held)} deletions in {self.root} wait for your "
                         "approval: run `ferry deletions approve` or `ferry deletions reject`", "deletions")
        self._publish(kept_out=_frozen(self._kept_out), held=_frozen(self._deletions.held),
                      **pending_transfers(actions))
        result = self.executor.run(actions)
        self._free -= freeing
        self._deletions.done(now_m, sum(1 for a in plan.actions if deletes_file(a) and a.path in result.replan),
                             approved)
        self._absorb(result)

    def _exists(self, path: str) -> bool:
        return stat_entry(self.root, path) is not None or self.journal.get_remote(self.fid, path) is not None

    def _absorb(self, result: BatchResult) -> None:
        self._publish(pending_up=(0, 0), pending_down=(0, 0))
        now = self.clock()
        for title, body, kind in notices(result):
            self._notify(title, body, kind)
        self.refused = [*self.refused, *result.refused][-100:]
        replan = result.replan - result.retry - set(result.failed)
        try:  # what the engine did and recorded agrees in all three trees: planning it again would find nothing
            replan -= self.journal.settled_among(self.fid, replan)
        except Exception:  # planned again, as it would have been
            log.exception("%s: checking %d paths the round did failed; they are planned again", self.fid, len(replan))
        wall = time.time()
        with self._lock:
            for path in result.retry:
                self._retry.setdefault(path, now + GUARD_RETRY_S)
            for path in result.failed:  # retried by itself once its backoff has passed
                b = self.journal.get_backoff(self.fid, path)
                self._retry[path] = now + max(GUARD_RETRY_S, (b.next_try - wall) if b else STALL_RETRY_S)
            self._pending.update(replan)
        if result.done:
            self._publish(last_sync=time.time())
        self._wake.set()

