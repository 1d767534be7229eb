"""The decision table for one path: three rows (local, remote, synced) in, the actions that converge them out.

Each side's row is first compared with the merge base (synced) and classified:

* ABSENT  - no row (deleted since the merge base, or never there);
* SAME    - equal to the merge base;
* META    - same content and executable bit, only stat (mtime, inode) or revision moved;
* CHANGED - new, different content or executable bit, or a different kind (file <-> folder);
* UNKNOWN - a local file whose stat changed but which is not hashed yet (-> Defer).

Then, in this order:

1. A symlink on either side -> Skip. A name this disk cannot hold (remote only) -> KeepOut.
2. Both sides present and agreeing (same kind; for files same content and executable bit) -> Noop if the merge
   base already says so, else RecordSynced. Same content is never a conflict, and an mtime-only change is not
   transferred: mtimes travel with content, they never cause a transfer by themselves.
3. One side unchanged (SAME/META) -> the other side's change wins: Upload / Download / Mkdir* / Delete*.
4. A modification meets a deletion -> the modification wins (re-upload with base_rev None, or re-download).
5. Both changed differently -> never lose bytes: ConflictCopy for the local file (its content uploads under
   the conflict name, the remote version downloads); when the local side is a folder and the server's a file,
   the server file is set aside under the conflict name (MoveRemote with local=None) so the folder can go up.

File <-> folder changes against an unchanged other side replace it in two rounds (delete, then create);
plan_batch turns the delete into a set-aside when the folder's contents still need the place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from ferrysync.daemon.local.conflicts import conflict_name
from ferrysync.daemon.local.names import Profile, check_name, check_server_path
from ferrysync.daemon.model import Kind, LocalEntry, RemoteEntry, SyncedEntry
from ferrysync.daemon.planner.actions import (
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
    MoveRemote,
    Noop,
    RecordSynced,
    Skip,
    Upload,
)

SYMLINK_REASON = (
    "symbolic links are not synced: they mean different things on Windows, macOS and Linux, and a link can "
    "point outside the folder, so following it could upload (or overwrite) files the user never put in the "
    "folder"
)
UNHASHED_REASON = "the local file changed and is not hashed yet"


def _never_exists(_path: str) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class PlanContext:
    """What the planner needs from the world, passed in so planning stays pure.

    `when` is the local wall-clock time used in conflict names; `exists` says whether a path is taken (on disk
    or on the server) so conflict names are free — pass a lookup over the journal's trees (plan_batch adds the
    batch's own rows); `root_length` is the sync root's path length for MAX_PATH checks.
    """

    host: str
    when: datetime
    profile: Profile = field(default_factory=Profile.current)
    exists: Callable[[str], bool] = _never_exists
    root_length: int = 0

    def conflict_path(self, path: str) -> str:
        return conflict_name(path, self.host, self.when, self.exists)


class State(Enum):
    """How one side differs from the merge base (see the module docstring)."""

    ABSENT = "absent"
    SAME = "same"
    META = "meta"
    CHANGED = "changed"
    UNKNOWN = "unknown"


UNCHANGED = (State.SAME, State.META)


def local_state(local: LocalEntry | None, synced: SyncedEntry | None) -> State:
    """How the disk differs from the merge base."""
    if local is None:
        return State.ABSENT
    if local.kind is Kind.FILE and local.content_hash is None:
        if synced is not None and synced.kind is Kind.FILE and _same_stat(local, synced) \
                and local.executable == synced.executable:
            return State.SAME
        return State.UNKNOWN
    if synced is None or local.kind is not synced.kind:
        return State.CHANGED
    if local.kind is Kind.DIR:
        return State.SAME
    if local.content_hash != synced.content_hash or local.executable != synced.executable:
        return State.CHANGED
    return State.SAME if _same_stat(local, synced) else State.META


def remote_state(remote: RemoteEntry | None, synced: SyncedEntry | None) -> State:
    """How the server differs from the merge base."""
    if remote is None:
        return State.ABSENT
    if synced is None or remote.kind is not synced.kind:
        return State.CHANGED
    if remote.rev == synced.rev and remote.file_id == synced.file_id:
        return State.SAME
    if remote.kind is Kind.DIR:
        return State.META
    if remote.content_hash != synced.content_hash or remote.executable != synced.executable:
        return State.CHANGED
    return State.META


def settled(local: LocalEntry | None, remote: RemoteEntry | None, synced: SyncedEntry | None) -> bool:
    """Whether a path's three rows already agree: nothing is left to do there (the one definition of "settled")."""
    return local_state(local, synced) is State.SAME and remote_state(remote, synced) is State.SAME


def _same_stat(local: LocalEntry, synced: SyncedEntry) -> bool:
    return (local.size, local.mtime_ns, local.inode) == (synced.size, synced.mtime_ns, synced.inode)


def agree(local: LocalEntry, remote: RemoteEntry) -> bool:
    """Whether disk and server already hold the same thing (kind; content and executable bit for files)."""
    if local.kind is not remote.kind:
        return False
    if local.kind is Kind.DIR:
        return True
    return local.content_hash == remote.content_hash and local.executable == remote.executable


def merge_base(local: LocalEntry, remote: RemoteEntry) -> SyncedEntry:
    """The synced row for a path where both sides agree: the server's identity, the disk's stat."""
    return SyncedEntry(
        path=remote.path, kind=remote.kind, file_id=remote.file_id, rev=remote.rev, size=remote.size,
        mtime_ns=local.mtime_ns, inode=local.inode, executable=remote.executable,
        content_hash=remote.content_hash, blocks=remote.blocks,
    )


def _without_exec_bit(
    local: LocalEntry, remote: RemoteEntry | None, synced: SyncedEntry | None,
) -> LocalEntry:
    """On a disk with no executable bit (Windows) a file keeps the bit the synced (or remote) side has."""
    known = synced.executable if synced is not None else remote.executable if remote is not None else False
    return local if local.executable == known else dataclasses.replace(local, executable=known)


def plan_path(  # noqa: C901 - the module docstring's decision table, one case per branch, read top to bottom
    local: LocalEntry | None, remote: RemoteEntry | None, synced: SyncedEntry | None, ctx: PlanContext,
) -> list[Action]:
    """The actions that converge one path's three rows (see the module docstring for the table)."""
    row = local or remote or synced
    if row is None:
        return []
    path = row.path
    if any(r is not None and r.kind is Kind.SYMLINK for r in (local, remote)):
        return [Skip(path, SYMLINK_REASON)]
    if local is None and remote is not None:
        reason = check_name(path, ctx.profile, ctx.root_length)
        if reason is not None:
            return [KeepOut(path, reason)]
    if local is not None and remote is None:
        reason = check_server_path(path)
        if reason is not None:
            return [Skip(path, reason)]
    if local is not None and local.kind is Kind.FILE and not ctx.profile.executable_bit:
        local = _without_exec_bit(local, remote, synced)
    ls, rs = local_state(local, synced), remote_state(remote, synced)
    if ls is State.UNKNOWN:
        return [Defer(path, UNHASHED_REASON)]
    if local is not None and remote is not None and agree(local, remote):
        if ls is State.SAME and rs is State.SAME:
            return [Noop(path)]
        return [RecordSynced(path, merge_base(local, remote))]
    if local is None and remote is None:
        return [ForgetSynced(path)] if synced is not None else []
    if remote is None:
        assert local is not None
        return _remote_absent(path, local, ls)
    if local is None:
        return _local_absent(path, remote, rs)
    if rs in UNCHANGED:
        return _local_changed(path, local, remote)
    if ls in UNCHANGED:
        return _remote_changed(path, local, remote)
    return _both_changed(path, local, remote, ctx)


def _remote_absent(path: str, local: LocalEntry, ls: State) -> list[Action]:
    if ls in UNCHANGED:  # deleted (or never created) on the server, untouched here: delete here
        return [DeleteLocal(path, local)]
    if local.kind is Kind.DIR:  # new here, or changed here while deleted there: changes beat deletions
        return [MkdirRemote(path, None, local)]
    return [Upload(path, None, local)]


def _local_absent(path: str, remote: RemoteEntry, rs: State) -> list[Action]:
    if rs in UNCHANGED:  # deleted here, untouched there: delete there
        return [DeleteRemote(path, remote.rev, remote.kind)]
    if remote.kind is Kind.DIR:
        return [MkdirLocal(path, remote)]
    return [Download(path, remote, None)]


def _local_changed(path: str, local: LocalEntry, remote: RemoteEntry) -> list[Action]:
    """The server still has the merge base's content; the disk has something else."""
    if local.kind is remote.kind:  # two folders always agree, so these are files
        return [Upload(path, remote.rev, local)]
    # A kind change here: clear the server's (synced, unchanged) entry first; the new kind goes up next round.
    return [DeleteRemote(path, remote.rev, remote.kind)]


def _remote_changed(path: str, local: LocalEntry, remote: RemoteEntry) -> list[Action]:
    """The disk still has the merge base's content; the server has something else."""
    if local.kind is remote.kind:
        return [Download(path, remote, local)]
    # A kind change there: remove the unchanged local entry (to the trash; a folder only once empty), the new
    # kind comes down next round.
    return [DeleteLocal(path, local)]


def _both_changed(path: str, local: LocalEntry, remote: RemoteEntry, ctx: PlanContext) -> list[Action]:
    if local.kind is Kind.FILE:
        download = remote if remote.kind is Kind.FILE else None
        return [ConflictCopy(path, ctx.conflict_path(path), local, download)]
    # A local folder against a server file: the folder cannot go up while the file holds the name.
    return [MoveRemote(path, ctx.conflict_path(path), remote.rev, None)]
