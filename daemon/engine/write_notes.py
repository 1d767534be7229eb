"""Writes whose record may go missing: an upload's commit, a download's landing. Noted before, settled after.

The executor records what it wrote as the new merge base, in the journal transaction that follows the write. A
daemon killed between the write and that record, an answer lost on its way back (the network dropped after the
server committed), or a journal that refused the record (a full disk) leaves the write done and the merge base
older. Alone that is harmless: the feed, or the indexer, brings the new version, and it matches the other side.
But once the other side changes too, both look changed since the merge base, and the planner keeps a conflicted
copy of the device's own write, which nobody else touched. An upload and a download were found that way by
tests/e2e/test_journal_disk_refuses.py (a daemon killed with -9), moves by reading the code after them; all are
replayed in tests/sim/test_commit_answer_lost.py and tests/sim/test_download_record_lost.py:

- an upload, or a move made on the disk: the server committed it, the user saved the file again before the
  restart;
- a download, or a move from the server: it reached its name, another device uploaded the next version before
  the restart.

So before the write the executor notes in the journal what it is about to write, one meta row per request (a
commit) or batch (a landing), and the transaction that records the write removes the note. A note still there is
an orphan, and before each plan the folder settles the orphans against the journal's rows:

- a commit (`CommitNotes`), file by file: content and executable bit, the stat the upload read (the merge base's
  disk half) and the server revision it builds on. A move is noted the same way, each file under its new name (a
  folder's: every file inside it).
  - The server's row is a newer revision with exactly the noted content, and the merge base is older: the upload
    landed. The merge base becomes that revision with the noted stat, as the lost record would have made it.
  - The server holds a newer revision with other content, or the merge base moved past the noted base: the note
    tells nothing any more and is dropped (a real conflict stays one).
  - Otherwise the answer may still be on its way through the feed. The note waits until a pull of the feed that
    began after the orphan was first seen has caught up: by then the server shows every commit made before, so
    the upload never landed, and the note is dropped.
- a landing (`LandingNotes`), file by file: the server's entry it writes (a move from the server followed on the
  disk: each file under its new name, with the merge base the record would re-root there).
  - The indexer's row for the path holds exactly the noted content, and the merge base is older than the noted
    revision: the download landed (those bytes on the disk are proof enough, whoever wrote them). The merge base
    becomes the noted revision with the disk's stat, as the lost record would have made it.
  - The merge base reached the noted revision (the record was made after all: held_records.py), or every path is
    indexed and the disk holds other content or nothing: the note is dropped. Other content is the one ambiguous
    case: an edit of the download cannot be told from an edit of the version before, so it stays a conflict, and
    both are kept.
  - Otherwise the indexer has not looked at the path since the start: the note waits.

Without orphans settling costs nothing: one look at the journal after a start, or after a write that raised, then
none.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from ferrysync.daemon.journal import TreeRows
from ferrysync.daemon.model import Kind, LocalEntry, RemoteEntry, SyncedEntry
from ferrysync.daemon.planner import Download, MoveLocal, MoveRemote, merge_base

if TYPE_CHECKING:
    from ferrysync.daemon.journal import Journal

log = logging.getLogger(__name__)
_NO_ROWS = TreeRows(None, None, None)  # a path no tree holds


@dataclass(frozen=True, slots=True)
class _Commit:
    """One file of a commit: what was put at `path`, on top of server revision `base_rev` (0: a new file)."""

    path: str
    content_hash: str | None
    executable: bool
    size: int
    mtime_ns: int
    inode: int
    base_rev: int

    def encode(self) -> list[Any]:
        return [self.path, self.content_hash, self.executable, self.size, self.mtime_ns, self.inode, self.base_rev]

    @staticmethod
    def decode(raw: list[Any]) -> _Commit:
        p, h, x, s, m, i, b = raw
        return _Commit(str(p), h, bool(x), int(s), int(m), int(i), int(b))

    def landed_as(self, remote: RemoteEntry) -> bool:
        return (remote.kind is Kind.FILE and remote.rev > self.base_rev and remote.content_hash == self.content_hash
                and remote.executable == self.executable)

    def merge_base(self, remote: RemoteEntry) -> SyncedEntry:
        local = LocalEntry(self.path, Kind.FILE, self.size, self.mtime_ns, self.inode, self.executable,
                           self.content_hash)
        return merge_base(local, remote)


@dataclass(frozen=True, slots=True)
class _Landing:
    """One file of a landing: the server's entry written at its path."""

    remote: RemoteEntry

    @property
    def path(self) -> str:
        return self.remote.path

    def encode(self) -> list[Any]:
        r = self.remote
        # a one-block file's block is its content (the common small file): not written twice
        blocks = None if r.blocks == (r.content_hash,) else list(r.blocks)
        return [r.path, r.file_id, r.rev, r.size, r.mtime_ns, r.executable, r.content_hash, blocks]

    @staticmethod
    def decode(raw: list[Any]) -> _Landing:
        p, f, rev, s, m, x, h, blocks = raw
        return _Landing(RemoteEntry(str(p), Kind.FILE, str(f), int(rev), int(s), int(m), bool(x), h,
                                    (h,) if blocks is None else tuple(blocks)))


N = TypeVar("N", _Commit, _Landing)


class _Notes(Generic[N]):
    """One kind of note of one folder: a meta row `<kind>:<folder id>:<uuid>` per write in flight."""

    kind: ClassVar[str]
    item: type[N]

    def __init__(self, journal: Journal, folder_id: str) -> None:
        self.j = journal
        self.fid = folder_id
        self._prefix = f"{self.kind}:{folder_id}:"
        self._look = True  # the journal may hold orphans not looked at yet: after a start, after a write that raised
        self._noted: dict[str, list[N]] = {}  # written and not answered yet (a batch's may be answered in part)
        self._orphans: dict[str, int] = {}  # orphans seen, by key: the feed's catch-up count when first seen

    def note(self, items: Sequence[N]) -> str | None:
        """Durably note `items` before they are written; the key, which the record passes to `answered` (None for
        no items). Raises, and nothing must be written, if the journal refuses."""
        if not items:
            return None
        key = self._prefix + uuid.uuid4().hex
        self.j.set_meta(key, json.dumps([i.encode() for i in items]))
        self._noted[key] = list(items)
        return key

    @contextmanager
    def in_flight(self, items: Sequence[N]) -> Iterator[str | None]:
        """`note`, around a write: one that raises leaves its note an orphan, to settle before the next plan (a kill
        leaves it to the next start)."""
        key = self.note(items)
        try:
            yield key
        except BaseException:
            self.missed()
            raise

    def missed(self) -> None:
        """A write since the last settling raised: its note may be an orphan."""
        self._look = True

    def answered(self, key: str | None, paths: Iterable[str] | None = None) -> None:
        """The write is recorded, for all its paths or only `paths` (call inside the transaction that records it).
        Those not recorded stay noted, as orphans."""
        if key is None:
            return
        noted = self._noted.pop(key, [])
        if paths is not None:
            done = set(paths)
            rest = [n for n in noted if n.path not in done]
            if rest:
                self.j.set_meta(key, json.dumps([n.encode() for n in rest]))
                self._look = True
                return
        self.j.delete_meta(key)

    def _load(self, catch_ups: int) -> dict[str, list[N]]:
        """The orphans in the journal ({} without a look when none can be there). No write is in flight while the
        folder settles: one noted and never answered raised, or was cut short, and its note is an orphan."""
        if self._noted:
            self._noted.clear()
            self._look = True
        if not self._look and not self._orphans:
            return {}
        notes = {key: [self.item.decode(x) for x in json.loads(raw)]
                 for key, raw in self.j.meta_with_prefix(self._prefix).items()}
        self._look = False
        self._orphans = {key: self._orphans.get(key, catch_ups) for key in notes}
        return notes

    def _settle(self, notes: dict[str, list[N]], judge: Callable[[str, N, TreeRows], SyncedEntry | bool],
                what: str) -> set[str]:
        """Judge each orphan against its path's rows: a merge base to write (the write landed), True to keep the
        note waiting, False to drop it. Writes the merge bases and the notes that changed in one transaction (none
        if nothing did); the paths whose merge base moved."""
        if not notes:
            return set()
        rows = self.j.rows_for_paths(self.fid, (n.path for ns in notes.values() for n in ns))
        landed: dict[str, SyncedEntry] = {}
        kept: dict[str, list[N]] = {}
        for key, ns in notes.items():
            kept[key] = []
            for n in ns:
                verdict = judge(key, n, rows.get(n.path, _NO_ROWS))
                if isinstance(verdict, SyncedEntry):
                    landed[n.path] = verdict
                elif verdict:
                    kept[key].append(n)
        changed = {key: ns for key, ns in kept.items() if len(ns) != len(notes[key])}
        if landed or changed:
            with self.j.transaction():
                self.j.put_many(self.fid, "synced", list(landed.values()))
                for key, ns in changed.items():
                    if ns:
                        self.j.set_meta(key, json.dumps([n.encode() for n in ns]))
                    else:
                        self.j.delete_meta(key)
        self._orphans = {key: seen for key, seen in self._orphans.items() if kept[key]}
        if landed:
            log.info("%s: %d %s before a stop or failure kept their record from the journal: recorded now (e.g. %s)",
                     self.fid, len(landed), what, next(iter(landed)))
        return set(landed)


class CommitNotes(_Notes[_Commit]):
    """The journal's notes of commits of uploads in flight (module docstring)."""

    kind = "commit"
    item = _Commit

    @staticmethod
    def files(files: Sequence[tuple[str, LocalEntry, int | None]]) -> list[_Commit]:
        """The notes of a commit's files, each as (path, the disk's row, the server revision it replaces or None)."""
        return [_Commit(path, e.content_hash, e.executable, e.size, e.mtime_ns, e.inode, base or 0)
                for path, e, base in files]

    def moves(self, moves: Iterable[MoveRemote]) -> list[_Commit]:
        """The notes of moves that follow the disk: each file that the record would re-root, under its new name
        with the disk's row there (a folder's move: every file inside it that has a merge base)."""
        out: list[tuple[str, LocalEntry, int | None]] = []
        for a in moves:
            if a.local is None or a.local.kind is Kind.SYMLINK:
                continue
            if a.local.kind is Kind.FILE:
                out.append((a.dst, a.local, None))
                continue
            local = {e.path: e for e in self.j.descendants(self.fid, "local", a.dst)}
            for e in self.j.descendants(self.fid, "synced", a.src):
                row = local.get(a.dst + e.path[len(a.src):])
                if e.kind is Kind.FILE and isinstance(row, LocalEntry) and row.kind is Kind.FILE:
                    out.append((row.path, row, None))
        return self.files(out)

    def settle(self, catch_ups: int) -> set[str]:
        """Write the merge bases of the orphans' uploads that landed; `catch_ups` counts the feed's pulls that
        reached the server's sequence. The paths whose merge base moved. Raises, keeping the orphans, if the
        journal refuses."""

        def judge(key: str, n: _Commit, rows: TreeRows) -> SyncedEntry | bool:
            _, remote, synced = rows
            synced_rev = synced.rev if synced is not None else 0
            if remote is not None and n.landed_as(remote) and synced_rev < remote.rev:
                return n.merge_base(remote)
            expired = catch_ups >= self._orphans[key] + 2  # a pull begun after the first look has caught up
            # dropped when it tells nothing any more
            return not ((remote is not None and remote.rev > n.base_rev) or synced_rev > n.base_rev or expired)

        return self._settle(self._load(catch_ups), judge, "uploads reached the server")


class LandingNotes(_Notes[_Landing]):
    """The journal's notes of downloads landing (module docstring)."""

    kind = "landing"
    item = _Landing

    @staticmethod
    def files(downloads: Iterable[Download]) -> list[_Landing]:
        return [_Landing(d.remote if d.remote.path == d.path else replace(d.remote, path=d.path)) for d in downloads]

    def moves(self, a: MoveLocal) -> list[_Landing]:
        """The notes of a move followed on the disk: each file whose merge base the record re-roots, under its new
        name, as the record would make it (its revision kept: module docstring of planner/actions.py, MoveLocal)."""
        rows = [*([] if a.expect_local.kind is Kind.DIR else [self.j.get_synced(self.fid, a.src)]),
                *self.j.descendants(self.fid, "synced", a.src)]
        return [_Landing(RemoteEntry(a.dst + e.path[len(a.src):], Kind.FILE, e.file_id, e.rev, e.size, e.mtime_ns,
                                     e.executable, e.content_hash, e.blocks))
                for e in rows if isinstance(e, SyncedEntry) and e.kind is Kind.FILE]

    def settle(self, indexed: bool) -> set[str]:
        """Write the merge bases of the orphans' downloads found on the disk; `indexed`: the indexer has no path left
        to look at. The paths whose merge base moved. Raises, keeping the orphans, if the journal refuses."""

        def judge(key: str, n: _Landing, rows: TreeRows) -> SyncedEntry | bool:
            local, _, synced = rows
            if synced is not None and synced.rev >= n.remote.rev:
                return False  # recorded after all, or moved on since
            if local is not None and local.kind is Kind.FILE and local.content_hash == n.remote.content_hash:
                return merge_base(local, n.remote)
            return not indexed  # kept while the disk's row may predate the landing

        return self._settle(self._load(0), judge, "downloads landed")


class WriteNotes:
    """Both kinds of note of one folder's executor, settled together."""

    def __init__(self, journal: Journal, folder_id: str) -> None:
        self.commits = CommitNotes(journal, folder_id)
        self.landings = LandingNotes(journal, folder_id)

    def settle(self, catch_ups: int, indexed: bool) -> set[str]:
        """Settle the orphans of both kinds (module docstring); `catch_ups` counts the feed's pulls that reached the
        server's sequence, `indexed` says the indexer has no path left to look at. The paths whose merge base
        moved, to plan. Raises, keeping the orphans, if the journal refuses."""
        return self.commits.settle(catch_ups) | self.landings.settle(indexed)
