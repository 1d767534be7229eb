"""The remote observer: follows the server's change feed into the folder's remote tree.

It only observes: entries under the folder's prefix become remote rows (tombstones delete them) in the same
transaction as the new cursor, so a crash never skips or double-applies a page. Rows only move forward in rev:
an executor that already recorded a newer server entry (from a commit result) is not rolled back by an older
feed page. Between pulls it long-polls, so another device's commit arrives within a round trip. While the server
is unreachable it backs off exponentially with jitter and says so ("offline"), resuming by itself.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from ferrysync.daemon.engine.mapping import from_server
from ferrysync.daemon.journal import Journal
from ferrysync.daemon.model import SyncedEntry
from ferrysync.daemon.names import is_safe_relative
from ferrysync.daemon.remote import (
    CursorExpired,
    FeedEntry,
    ProtocolError,
    RemoteClient,
    RemoteError,
    ServerUnavailable,
    Unauthorized,
)

log = logging.getLogger(__name__)

WAIT_S = 50  # long-poll timeout asked of the server
BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 60.0


@dataclass
class FeedState:
    online: bool = False
    caught_up: bool = False  # the last pull reached the server's sequence
    error: str | None = None  # e.g. the device token was revoked
    retry_at: float | None = None  # when offline: the next attempt (unix time)
    server_seq: int = 0


class FeedReader:
    def __init__(self, journal: Journal, folder_id: str, prefix: str, client: RemoteClient,
                 on_changes: Callable[[list[str]], None], on_state: Callable[[], None]) -> None:
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

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"ferry-feed-{self.folder_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        # The thread may sit in a long-poll: it is a daemon thread and ends with the next answer.

    def kick(self) -> None:
        """Retry now (e.g. the executor saw the server come back, or the user resumed)."""
        self._kick.set()

    def _sleep(self, seconds: float) -> None:
        self._kick.wait(seconds)
        self._kick.clear()

    def _run(self) -> None:
        backoff = BACKOFF_MIN_S
        while not self._stop.is_set():
            try:
                self.pull()
                backoff = BACKOFF_MIN_S
                self._set(online=True, error=None, retry_at=None)
                cursor = self.journal.get_cursor(self.folder_id)
                result = self.client.wait_changes(cursor, timeout=WAIT_S)
                if result.cursor < cursor:
                    self._rewound(cursor, result.cursor)
                    continue
                self.state.server_seq = result.cursor
                if result.changes:
                    self.state.caught_up = False
            except Unauthorized as exc:
                self._set(online=False, error=f"the server refused this device ({exc}); run `ferry login` again",
                          retry_at=None)
                self._sleep(30)
            except (ServerUnavailable, ProtocolError, RemoteError, OSError) as exc:
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

    def _set(self, *, online: bool, error: str | None, retry_at: float | None) -> None:
        changed = (self.state.online, self.state.error, self.state.retry_at) != (online, error, retry_at)
        self.state.online, self.state.error, self.state.retry_at = online, error, retry_at
        if changed:
            self._on_state()

    def _rewound(self, ours: int, theirs: int) -> None:
        """The server's sequence is behind a cursor it once gave us: it was restored from a backup or replaced."""
        log.warning("%s: the server's history ends at %d, before this device's cursor %d (restored from a backup "
                    "or replaced): listing it again; what this device holds that the server lost goes up again",
                    self.folder_id, theirs, ours)
        self.relist(rebase=True)

    def pull(self) -> None:
        """Apply every page after the stored cursor; mark the touched paths for planning."""
        self.state.caught_up = False  # until the pages are applied and their paths handed to the planner
        cursor = self.journal.get_cursor(self.folder_id)
        if cursor == 0:
            self.relist(rebase=False)
            return
        while True:
            try:
                page = self.client.changes(cursor)
            except CursorExpired:
                log.warning("%s: the server pruned history past cursor %d: listing the folder again", self.folder_id,
                            cursor)
                self.relist(rebase=False)
                return
            if page.cursor < cursor:
                self._rewound(cursor, page.cursor)
                return
            touched = self._apply(page.entries, cursor=page.cursor)
            cursor = page.cursor
            self.state.server_seq = max(self.state.server_seq, cursor)
            if touched:
                self._on_changes(touched)
            if not page.has_more:
                break
        self._caught_up()

    def _caught_up(self) -> None:
        self.state.caught_up = True
        self._on_state()

    def relist(self, *, rebase: bool) -> None:
        """List the whole folder from cursor 0, staged: nothing is planned from a partial listing.

        Every page is collected first; the remote tree is then replaced in ONE transaction together with the
        new cursor, so a listing cut short (offline, killed) leaves the old tree and cursor in place. With
        `rebase` (the server went back in time or is a new one) the merge base cannot be trusted either: a
        path the server lost would look deleted there. Its synced rows are rebased onto what the server has
        now, so whatever this disk holds beyond that is a local change and goes up again (nothing is deleted
        here because the server forgot it)."""
        staged: dict[str, FeedEntry] = {}
        cursor = 0
        while True:
            page = self.client.changes(cursor)
            for fe in page.entries:
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
        with self.journal.transaction():
            for old in list(self.journal.iter_tree(self.folder_id, "remote")):
                if old.path not in staged:
                    self.journal.delete_remote(self.folder_id, old.path)
                    touched.add(old.path)
            for rel, fe in staged.items():
                self.journal.put_remote(self.folder_id, replace(fe.entry, path=rel))
            if rebase:
                touched |= self._rebase(staged)
            self.journal.set_cursor(self.folder_id, cursor)
        self.state.server_seq = cursor
        if touched:
            self._on_changes(sorted(touched))
        self._caught_up()

    def _rebase(self, staged: dict[str, FeedEntry]) -> set[str]:
        """Synced rows follow the server's present state (see `relist`); returns the paths touched."""
        touched: set[str] = set()
        for synced in list(self.journal.iter_tree(self.folder_id, "synced")):
            fe = staged.get(synced.path)
            touched.add(synced.path)
            if fe is None:
                self.journal.delete_synced(self.folder_id, synced.path)  # local-only now: uploaded again
                continue
            e = fe.entry
            self.journal.put_synced(self.folder_id, SyncedEntry(
                synced.path, e.kind, e.file_id, e.rev, e.size, e.mtime_ns, 0, e.executable, e.content_hash,
                e.blocks))
        return touched

    def _apply(self, entries: tuple[FeedEntry, ...], *, cursor: int) -> list[str]:
        touched: list[str] = []
        with self.journal.transaction():
            for fe in entries:
                rel = from_server(self.prefix, fe.path)
                if rel is None or not is_safe_relative(rel):
                    continue  # outside this folder; or a path no server should send: never stored
                current = self.journal.get_remote(self.folder_id, rel)
                if current is not None and current.rev > fe.seq:
                    continue  # the executor already recorded a newer state of this path
                if fe.deleted:
                    if current is not None:
                        self.journal.delete_remote(self.folder_id, rel)
                        touched.append(rel)
                    continue
                self.journal.put_remote(self.folder_id, replace(fe.entry, path=rel))
                touched.append(rel)
            self.journal.set_cursor(self.folder_id, cursor)
        return touched

