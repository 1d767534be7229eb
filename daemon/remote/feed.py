"""The remote observer: follows the server's change feed into the folder's remote tree.

It only observes: entries under the folder's prefix become remote rows (tombstones delete them) in the same
transaction as the new cursor, so a crash never skips or double-applies a page. Rows only move forward in rev:
an executor that already recorded a newer server entry (from a commit result) is not rolled back by an older
feed page. Between pulls it long-polls, so another device's commit arrives within a round trip. While the server
is unreachable it backs off exponentially with jitter and says so ("offline"), resuming by itself.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ferrysync.daemon import threads
from ferrysync.daemon.journal import Journal
from ferrysync.daemon.local.names import is_safe_relative
from ferrysync.daemon.model import RemoteEntry, SyncedEntry
from ferrysync.daemon.remote import (
    CertificateError,
    CursorExpired,
    FeedEntry,
    ProtocolError,
    RemoteClient,
    RemoteError,
    ServerUnavailable,
    Unauthorized,
)
from ferrysync.daemon.remote.cursor import START, Cursor, behind, is_start
from ferrysync.daemon.remote.mapping import from_server

log = logging.getLogger(__name__)

WAIT_S = 50  # long-poll timeout asked of the server
BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 60.0
REFUSED_RETRY_S = 30.0  # a refused device asks the server again this often
REFUSED_LOOK_S = 2.0  # ...and looks for a new login on this machine (a local read) this often


REPLACED, CHECK = "replaced", "check"  # what a pending re-listing after a new login assumes of the server


def relist_key(folder_id: str) -> str:
    return f"relist:{folder_id}"


def anchor_key(folder_id: str) -> str:
    """Journal meta: the newest change this folder's feed applied, as [seq, server path, file id]."""
    return f"feed-anchor:{folder_id}"


def request_relist(journal: Journal, folder_id: str, *, replaced: bool) -> None:
    """Remember (in the journal) that the folder's next pull lists the server again; never downgrades."""
    key = relist_key(folder_id)
    if replaced or journal.get_meta(key) != REPLACED:
        journal.set_meta(key, REPLACED if replaced else CHECK)


@dataclass
class FeedState:
    online: bool = False
    caught_up: bool = False  # the last pull reached the server's sequence
    error: str | None = None  # e.g. the device token was revoked
    retry_at: float | None = None  # when offline: the next attempt (unix time)
    server_seq: Cursor = 0  # the server's feed position last seen (for status)
    catch_ups: int = 0  # pulls that reached the server's sequence so far (engine/write_notes.py waits on it)


class FeedReader:
    def __init__(self, journal: Journal, folder_id: str, prefix: str, client: RemoteClient,
                 on_changes: Callable[[list[str]], None], on_state: Callable[[], None],
                 gate: threading.Lock | None = None) -> None:
        self.journal = journal
        self.folder_id = folder_id
        self.prefix = prefix
        self.client = client
        self._on_changes = on_changes
        self._on_state = on_state
        self.state = FeedState()
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._thread: threading.Thread | None = None
        # Held by the feed thread whenever it reads or writes the journal; shared with the executor, which holds it
        # from a commit request until its result is recorded (executor.py, FolderContext.remote_gate): a page
        # applied between the two would be overwritten by the older result.
        self._gate = gate or threading.Lock()
        # At start and after every time the server was out of reach: before following the feed again, check that
        # the server still holds the newest change this folder applied (see `_history_holds`).
        self._check_history = True
        # Asked when the server refuses this device: True if newer credentials were found and taken up (a
        # `ferry login` the daemon was not told about), so the feed retries at once instead of waiting.
        self.on_refused: Callable[[], bool] = lambda: False

    def start(self) -> None:
        self._thread = threads.start(self._run, f"ferry-feed-{self.folder_id}")

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop; True once the feed thread can no longer touch the journal.

        The thread may sit in a long-poll for up to a minute, which nothing can cut short: it is a daemon
        thread and ends with the answer. Everything it does with the journal happens under `_gate`, after a
        look at `_stop`; so once stop holds the gate, whatever the thread was recording is committed and it
        will record nothing more."""
        self._stop.set()
        self._kick.set()
        if not self._gate.acquire(timeout=timeout):
            log.error("%s: the change-feed reader did not stop within %.0f s", self.folder_id, timeout)
            return False
        self._gate.release()
        return True

    def failure(self) -> str | None:
        """Why the feed stopped following the server although nobody stopped it, or None."""
        if self._stop.is_set():
            return None
        reason = threads.death(self._thread)
        return None if reason is None else f"its change-feed reader stopped ({reason})"

    def kick(self) -> None:
        """Retry now (e.g. the executor saw the server come back, or the user resumed)."""
        self._kick.set()

    def _sleep(self, seconds: float) -> None:
        self._kick.wait(seconds)
        self._kick.clear()

    def _wait_refused(self, seconds: float) -> None:
        """Refused: ask the server again later, but look for a new login on this machine every few seconds."""
        deadline = time.monotonic() + seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            if self._kick.wait(min(REFUSED_LOOK_S, max(0.0, deadline - time.monotonic()))):
                self._kick.clear()
                return
            if self.on_refused():
                return

    def _run(self) -> None:
        backoff = BACKOFF_MIN_S
        while not self._stop.is_set():
            try:
                with self._gate:
                    if self._stop.is_set():
                        break
                    self.poll_once()
                    cursor = self.journal.get_cursor(self.folder_id)
                backoff = BACKOFF_MIN_S
                result = self.client.wait_changes(cursor, timeout=WAIT_S)  # outside the gate: stop need not wait
                with self._gate:
                    if self._stop.is_set():
                        break
                    if behind(result.cursor, cursor):
                        self._rewound(cursor, result.cursor)
                        continue
                self.state.server_seq = result.cursor
                if result.changes:
                    self.state.caught_up = False
            except Unauthorized as exc:
                if self.on_refused():
                    continue
                self._set(online=False, error=f"the server refused this device ({exc}); run `ferry login` again",
                          retry_at=None)
                self._wait_refused(REFUSED_RETRY_S)
            except CertificateError as exc:
                # Not "offline": retrying cannot help until the user logs in again with a new pin or CA (or the
                # server's certificate goes back). Checked again as seldom as a refused token, and at once when a
                # new login arrives.
                self._check_history = True
                if self.state.error != exc.detail:
                    log.error("%s: %s", self.folder_id, exc)
                if self.on_refused():
                    continue
                self._set(online=False, error=exc.detail, retry_at=None)
                self._wait_refused(REFUSED_RETRY_S)
            except (ServerUnavailable, ProtocolError, RemoteError, OSError) as exc:
                self._check_history = True  # it may come back restored from a backup
                delay = min(BACKOFF_MAX_S, backoff) * (0.5 + random.random() / 2)
                backoff = min(BACKOFF_MAX_S, backoff * 2)
                if self.state.online or self.state.retry_at is None:
                    log.warning("%s: server unreachable (%s); retrying in %.0f s", self.folder_id, exc, delay)
                self._set(online=False, error=None, retry_at=time.time() + delay)
                self._sleep(delay)
            except Exception:
                log.exception("%s: change feed failed", self.folder_id)
                self._set(online=False, error=None, retry_at=time.time() + BACKOFF_MAX_S)
                self._sleep(BACKOFF_MAX_S)

    def poll_once(self) -> None:
        """Pull what is new and count as online (the thread's step; the simulation calls it directly)."""
        self.pull()
        self._set(online=True, error=None, retry_at=None)

    def _set(self, *, online: bool, error: str | None, retry_at: float | None) -> None:
        changed = (self.state.online, self.state.error, self.state.retry_at) != (online, error, retry_at)
        self.state.online, self.state.error, self.state.retry_at = online, error, retry_at
        if changed:
            self._on_state()

    def _rewound(self, ours: Cursor, theirs: Cursor) -> None:
        """The server's sequence is behind a cursor it once gave us: it was restored from a backup or replaced."""
        log.warning("%s: the server's history ends at %s, before this device's cursor %s (restored from a backup "
                    "or replaced): listing it again; what this device holds that the server lost goes up again",
                    self.folder_id, theirs, ours)
        self.relist(rebase=True)

    def server_changed(self, *, replaced: bool) -> None:
        """New credentials (`ferry login`): list the server again before following its feed.

        `replaced` (another URL or account) rebases like a server that went back in time; otherwise the listing
        decides whether this is still the server the folder synced with. The request is kept in the journal
        until the listing is done, so a restart in between does not skip it."""
        request_relist(self.journal, self.folder_id, replaced=replaced)
        self.state.caught_up = False  # not "Up to date" until the new server has been listed
        self.kick()

    def pull(self) -> None:
        """Apply every page after the stored cursor; mark the touched paths for planning."""
        asked = self.journal.get_meta(relist_key(self.folder_id))
        if asked is not None:
            self.relist(rebase=True if asked == REPLACED else None)
            if self.journal.get_meta(relist_key(self.folder_id)) == asked:
                self.journal.delete_meta(relist_key(self.folder_id))
            return
        cursor = self.journal.get_cursor(self.folder_id)
        if is_start(cursor):
            self.relist(rebase=False)
            return
        while True:
            try:
                page = self.client.changes(cursor)
            except CursorExpired:
                log.warning("%s: the server cannot continue from cursor %s (history pruned, or the folders shared "
                            "with this account changed): listing the folder again", self.folder_id, cursor)
                self.relist(rebase=False)
                return
            if behind(page.cursor, cursor):
                self._rewound(cursor, page.cursor)
                return
            if self._check_history:
                if not self._history_holds():
                    log.warning("%s: the server no longer holds the changes this device saw up to cursor %s "
                                "(restored from a backup and written to since?): listing it again; what this "
                                "device holds that the server lost goes up again", self.folder_id, cursor)
                    self.relist(rebase=True)
                    return
                self._check_history = False
            if page.entries:  # behind until they are applied and their paths handed to the planner; a pull that
                self.state.caught_up = False  # finds nothing new must not flash "Syncing" (every long-poll ends so)
            touched = self._apply(page.entries, cursor=page.cursor)
            cursor = page.cursor
            self.state.server_seq = cursor
            if touched:
                self._on_changes(touched)
            if not page.has_more:
                break
        self._caught_up()

    def _caught_up(self) -> None:
        self.state.caught_up = True
        self.state.catch_ups += 1
        self._on_state()

    def _history_holds(self) -> bool:
        """Whether the server still holds the newest change this folder's feed applied.

        A server restored from a backup is caught by its sequence falling behind our cursor, until another
        device writes to it: its sequence numbers then run past our cursor again, carrying other changes, and
        following the feed from our cursor would skip them and never re-send what the restore lost. Every
        change the server makes is kept as a revision whose rev is its seq (superseded ones for the retention
        period; a device away for longer meets an expired cursor first), so the same server still has that
        revision, at that path, with that file id."""
        raw = self.journal.get_meta(anchor_key(self.folder_id))
        if raw is None:
            return True  # nothing applied since this journal was made: the cursor check alone
        seq, path, file_id = json.loads(raw)
        return any(r.rev == seq and r.file_id == file_id for r in self.client.revisions(path))

    def _anchor(self, newest: FeedEntry | None) -> None:
        """Remember the newest change applied (inside the caller's transaction, with the cursor)."""
        if newest is not None:
            self.journal.set_meta(anchor_key(self.folder_id),
                                  json.dumps([newest.seq, newest.path, newest.entry.file_id]))

    def relist(self, *, rebase: bool | None) -> None:
        """List the whole folder from cursor 0, staged: nothing is planned from a partial listing.

        Every page is collected first; the remote tree is then replaced in ONE transaction together with the
        new cursor, so a listing cut short (offline, killed) leaves the old tree and cursor in place. With
        `rebase` (the server went back in time or is a new one) the merge base cannot be trusted either: a
        path the server lost would look deleted there. Its synced rows are rebased onto what the server has
        now, so whatever this disk holds beyond that is a local change and goes up again (nothing is deleted
        here because the server forgot it). `rebase=None` decides from the listing: see `_is_stranger`."""
        self.state.caught_up = False  # until the listing is swapped in and its paths handed to the planner
        staged: dict[str, FeedEntry] = {}
        newest: FeedEntry | None = None  # the listing's newest change, in any folder: the history anchor
        known: set[str] = set()  # every file id the server has ever shown us, live or deleted, in any folder
        cursor: Cursor = START
        while True:
            page = self.client.changes(cursor)
            for fe in page.entries:
                known.add(fe.entry.file_id)
                if newest is None or fe.seq > newest.seq:
                    newest = fe
                rel = from_server(self.prefix, fe.path)
                if rel is None or not is_safe_relative(rel):
                    continue
                if fe.deleted:
                    staged.pop(rel, None)
                else:
                    staged[rel] = fe
            cursor = page.cursor
            if not page.has_more:
                break
        touched: set[str] = set(staged)
        if rebase is None:
            rebase = self._is_stranger(known)
        with self.journal.transaction():
            for old in list(self.journal.iter_tree(self.folder_id, "remote")):
                if old.path not in staged:
                    self.journal.delete_remote(self.folder_id, old.path)
                    touched.add(old.path)
            # one statement for the listing, not a savepoint and a statement a path (10,000 paths: 0.19 s -> ~0.05 s)
            self.journal.put_many(self.folder_id, "remote", [fe.entry.at(rel) for rel, fe in staged.items()])
            if rebase:
                touched |= self._rebase(staged)
            if newest is None:
                self.journal.delete_meta(anchor_key(self.folder_id))  # the server holds nothing to check
            self._anchor(newest)
            self.journal.set_cursor(self.folder_id, cursor)
        self._check_history = False
        self.state.server_seq = cursor
        if touched:
            self._on_changes(sorted(touched))
        self._caught_up()

    def _is_stranger(self, known: set[str]) -> bool:
        """Whether the server is not the one this folder synced with: it knows none of the synced file ids.

        File ids are random and a server keeps a tombstone for every file it deleted (until retention prunes
        it), so the server this folder synced with knows at least one of them; a replaced, emptied or other
        server knows none. Treating a stranger as the same server would take every file it lacks for a remote
        deletion; treating the same server as a stranger would take a newer remote edit for an older one."""
        ours = {s.file_id for s in self.journal.iter_tree(self.folder_id, "synced")
                if isinstance(s, SyncedEntry) and s.file_id}
        stranger = bool(ours) and ours.isdisjoint(known)
        if stranger:
            log.warning("%s: the server knows none of the %d entries this folder synced with it (a new or emptied "
                        "server): what this device holds goes up again, nothing is deleted here", self.folder_id,
                        len(ours))
        return stranger

    def _rebase(self, staged: dict[str, FeedEntry]) -> set[str]:
        """Synced rows follow the server's present state (see `relist`); returns the paths touched."""
        touched: set[str] = set()
        rebased: list[SyncedEntry] = []
        for synced in list(self.journal.iter_tree(self.folder_id, "synced")):
            fe = staged.get(synced.path)
            touched.add(synced.path)
            if fe is None:
                self.journal.delete_synced(self.folder_id, synced.path)  # local-only now: uploaded again
                continue
            e = fe.entry
            rebased.append(SyncedEntry(synced.path, e.kind, e.file_id, e.rev, e.size, e.mtime_ns, 0, e.executable,
                                       e.content_hash, e.blocks))
        self.journal.put_many(self.folder_id, "synced", rebased)
        return touched

    def _apply(self, entries: tuple[FeedEntry, ...], *, cursor: Cursor) -> list[str]:
        touched: list[str] = []
        mine = [(rel, fe) for fe in entries
                if (rel := from_server(self.prefix, fe.path)) is not None and is_safe_relative(rel)]
        # outside this folder, or a path no server should send: never stored. The page is applied as the
        # entries one by one would be, on rows read in one query and written in one statement per kind.
        with self.journal.transaction():
            rows: dict[str, RemoteEntry | None] = dict(self.journal.get_remotes(self.folder_id,
                                                                                (rel for rel, _ in mine)))
            changed: dict[str, RemoteEntry | None] = {}
            for rel, fe in mine:
                current = rows.get(rel)
                if current is not None and current.rev > fe.seq:
                    continue  # the executor already recorded a newer state of this path
                if fe.deleted:
                    if current is not None:
                        rows[rel] = changed[rel] = None
                        touched.append(rel)
                    continue
                entry = fe.entry.at(rel)
                if entry == current:
                    continue  # recorded already (the executor's own commit, read back): nothing new to plan
                rows[rel] = changed[rel] = entry
                touched.append(rel)
            for rel, row in changed.items():
                if row is None:
                    self.journal.delete_remote(self.folder_id, rel)
            self.journal.put_many(self.folder_id, "remote", [row for row in changed.values() if row is not None])
            self._anchor(max(entries, key=lambda fe: fe.seq, default=None))
            self.journal.set_cursor(self.folder_id, cursor)
        return touched

