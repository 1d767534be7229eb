"""Uploads whose commit may have reached the server without its answer being recorded.

The executor records the server's answer to a commit as the new merge base. A daemon killed between the commit
and that record, an answer lost on its way back (the network dropped after the server committed), or a journal
that refused the record (a full disk) leaves the server holding this device's upload while the journal still
holds the older merge base. Alone that is harmless: the feed brings the new revision, and it matches the disk.
But once the user saves the file again, both sides look changed since the merge base, and the planner keeps the
save as a conflicted copy of the device's own upload, which nobody else touched (found by
tests/e2e/test_journal_disk_refuses.py, a daemon killed with -9 right after a commit; replayed in
tests/sim/test_commit_answer_lost.py).

So before each commit of uploads the executor notes in the journal what it is about to put, file by file: the
content and executable bit, the stat it read (the merge base's disk half) and the server revision it builds on.
A file's move is noted the same way under its new name: its record would have made the merge base there too.
The transaction that records the answer removes the note. A note still there is an orphan, and before each plan
the folder settles the orphans against the journal's rows:

- the server's row is a newer revision with exactly the noted content, and the merge base is older: the upload
  landed. The merge base becomes that revision with the noted stat, as the lost record would have made it, so a
  later save is an edit of it, not a conflict with it;
- the server holds a newer revision with other content, or the merge base moved past the noted base: the note
  tells nothing any more and is dropped (a real conflict stays one);
- otherwise the answer may still be on its way through the feed; the note waits until a pull of the feed that
  began after the orphan was first seen has caught up. By then the server shows every commit made before, so
  the upload never landed, and the note is dropped.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ferrysync.daemon.model import Kind, LocalEntry, RemoteEntry, SyncedEntry
from ferrysync.daemon.planner import merge_base

if TYPE_CHECKING:
    from ferrysync.daemon.journal import Journal

log = logging.getLogger(__name__)


def _prefix(folder_id: str) -> str:
    return f"commit:{folder_id}:"


@dataclass(frozen=True, slots=True)
class _Note:
    """One file of a commit: what was put at `path`, on top of server revision `base_rev` (0: a new file)."""

    path: str
    content_hash: str | None
    executable: bool
    size: int
    mtime_ns: int
    inode: int
    base_rev: int

    def landed_as(self, remote: RemoteEntry) -> bool:
        return (remote.kind is Kind.FILE and remote.rev > self.base_rev and remote.content_hash == self.content_hash
                and remote.executable == self.executable)

    def merge_base(self, remote: RemoteEntry) -> SyncedEntry:
        local = LocalEntry(self.path, Kind.FILE, self.size, self.mtime_ns, self.inode, self.executable,
                           self.content_hash)
        return merge_base(local, remote)


def _encode(notes: Sequence[_Note]) -> str:
    return json.dumps([[n.path, n.content_hash, n.executable, n.size, n.mtime_ns, n.inode, n.base_rev]
                       for n in notes])


def _decode(raw: str) -> list[_Note]:
    return [_Note(str(p), h, bool(x), int(s), int(m), int(i), int(b)) for p, h, x, s, m, i, b in json.loads(raw)]


class CommitNotes:
    """The journal's notes of commits in flight, and the settling of those whose answer was never recorded."""

    def __init__(self, journal: Journal, folder_id: str) -> None:
        self.j = journal
        self.fid = folder_id
        # Orphans seen, by journal key: the feed's catch-up count when first seen (see `settle`).
        self._orphans: dict[str, int] = {}
        self._look = True  # the journal may hold orphans not looked at yet: after a start, after a failed commit

    @contextmanager
    def in_flight(self, files: Sequence[tuple[str, LocalEntry, int | None]]) -> Iterator[str | None]:
        """Around a commit: durably note the files it puts, each as (path, the disk's row, the server revision it
        replaces or None), and yield the note's key (None for no files), which the record of the answer passes to
        `answered`. Raises before the commit, and nothing must be sent, if the journal refuses the note. A commit
        that raises leaves its note an orphan, settled before the next plan (a kill leaves it to the next start)."""
        key = None
        if files:
            key = _prefix(self.fid) + uuid.uuid4().hex
            self.j.set_meta(key, _encode([_Note(path, e.content_hash, e.executable, e.size, e.mtime_ns, e.inode,
                                                base or 0) for path, e, base in files]))
        try:
            yield key
        except BaseException:
            if key is not None:
                self._look = True
            raise

    def answered(self, key: str | None) -> None:
        """The commit's answer is recorded (call inside the transaction that records it)."""
        if key is not None:
            self.j.delete_meta(key)

    def settle(self, catch_ups: int) -> set[str]:
        """Settle the orphans (module docstring); `catch_ups` counts the feed's pulls that reached the server's
        sequence. Returns the paths whose merge base moved, to plan. Raises, keeping them, if the journal
        refuses."""
        if not self._look and not self._orphans:
            return set()
        notes = {key: _decode(raw) for key, raw in self.j.meta_with_prefix(_prefix(self.fid)).items()}
        self._look = False
        self._orphans = {key: self._orphans.get(key, catch_ups) for key in notes}
        if not notes:
            return set()
        rows = self.j.rows_for_paths(self.fid, (n.path for ns in notes.values() for n in ns))
        landed: dict[str, SyncedEntry] = {}
        kept: dict[str, list[_Note]] = {}
        for key, ns in notes.items():
            expired = catch_ups >= self._orphans[key] + 2  # a pull begun after the first look has caught up
            kept[key] = []
            for n in ns:
                _, remote, synced = rows.get(n.path, (None, None, None))
                synced_rev = synced.rev if synced is not None else 0
                if remote is not None and n.landed_as(remote) and synced_rev < remote.rev:
                    landed[n.path] = n.merge_base(remote)
                elif (remote is not None and remote.rev > n.base_rev) or synced_rev > n.base_rev or expired:
                    pass  # tells nothing any more
                else:
                    kept[key].append(n)
        changed = {key: ns for key, ns in kept.items() if len(ns) != len(notes[key])}
        if landed or changed:
            with self.j.transaction():
                self.j.put_many(self.fid, "synced", list(landed.values()))
                for key, ns in changed.items():
                    if ns:
                        self.j.set_meta(key, _encode(ns))
                    else:
                        self.j.delete_meta(key)
        self._orphans = {key: seen for key, seen in self._orphans.items() if kept[key]}
        if landed:
            log.info("%s: %d uploads reached the server before a stop or failure kept their answer from the "
                     "journal: recorded now (e.g. %s)", self.fid, len(landed), next(iter(landed)))
        return set(landed)
