"""The actions the planner emits: what to do, the guard that makes doing it safe, and what to record after.

Every action carries the state it was planned against: a server ``base_rev`` (the server refuses the op if the
entry moved on) or an ``expect_local`` row (the executor touches the disk only if the file still matches it).
A failed guard is not an error: the executor drops the action, the observers update the trees, the planner
runs again. So actions may run in any order and any of them may fail; order (see :func:`phase`) only saves
round trips.

On success the executor updates the synced tree as each class's docstring says; a failed action records
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from ferrysync.daemon.model import Kind, LocalEntry, RemoteEntry, SyncedEntry


@dataclass(frozen=True, slots=True)
class Upload:
    """Put the local file's content at `path` (server op ``put`` with `base_rev`; None = create).

    Guard: the file on disk still hashes to `local`. Record: synced = the server's new entry + `local`'s stat.
    """

    path: str
    base_rev: int | None
    local: LocalEntry


@dataclass(frozen=True, slots=True)
class Download:
    """Fetch `remote`'s content into `path` (temp file, verify hash, then replace).

    Guard: what is at `path` on disk still matches `expect_local` (None = nothing is there). Missing parent
    folders are created. When `expect_local` already has `remote`'s content (an executable-bit change) the
    executor may just chmod. Record: synced = `remote` + the new file's stat.
    """

    path: str
    remote: RemoteEntry
    expect_local: LocalEntry | None


@dataclass(frozen=True, slots=True)
class DeleteLocal:
    """Move the local entry at `path` to the trash (a folder only if it is empty).

    Guard: the disk still matches `expect_local`. Record: forget synced at `path`.
    """

    path: str
    expect_local: LocalEntry


@dataclass(frozen=True, slots=True)
class DeleteRemote:
    """Delete the server entry at `path` (op ``delete`` with `base_rev`; a folder only if empty there).

    Record: forget synced at `path`. The server keeps the deleted revision for its retention period.
    """

    path: str
    base_rev: int
    kind: Kind


@dataclass(frozen=True, slots=True)
class MkdirLocal:
    """Create the folder `path` on disk (parents too). Record: synced = `remote` (+ the folder's stat)."""

    path: str
    remote: RemoteEntry


@dataclass(frozen=True, slots=True)
class MkdirRemote:
    """Create the folder on the server (op ``mkdir``, `base_rev`). Record: synced = server entry + `local`."""

    path: str
    base_rev: int | None
    local: LocalEntry


@dataclass(frozen=True, slots=True)
class MoveLocal:
    """Rename `src` to `dst` on disk, following a move made on the server (one action for a whole folder).

    Guard: `src` still matches `expect_local` and nothing is at `dst` (case-only renames go through a
    temporary name on case-insensitive disks). Record: re-root the synced rows under `src` to `dst`, changing
    nothing but their paths: the revs stay old on purpose, so an edit that travelled with the move (on either
    side) still shows as a change next round, and a plain move shows as a rev-only change (RecordSynced).
    """

    src: str
    dst: str
    remote: RemoteEntry
    expect_local: LocalEntry

    @property
    def path(self) -> str:
        return self.src


@dataclass(frozen=True, slots=True)
class MoveRemote:
    """Move `src` to `dst` on the server (op ``move`` with `base_rev`; a folder moves with its subtree).

    With `local` set it follows a move made on disk: record = re-root the synced rows under `src` to `dst`
    (paths only, old revs kept, as for MoveLocal). With `local` None it sets a server file aside under a
    conflict name to free `src` for a local folder: record = forget synced at `src` (the renamed file then
    downloads).
    """

    src: str
    dst: str
    base_rev: int
    local: LocalEntry | None

    @property
    def path(self) -> str:
        return self.src


@dataclass(frozen=True, slots=True)
class ConflictCopy:
    """Both sides changed `path` differently: rename the local version to `copy_name`, then download `remote`.

    Guard: `path` still matches `expect_local` and `copy_name` is free. The renamed file is a new local file
    and uploads on the next round. Record: forget synced at `path`; if `remote` was downloaded, synced =
    `remote`. `remote` is None when the other side is a folder: the folder then comes down on the next round.
    """

    path: str
    copy_name: str
    expect_local: LocalEntry
    remote: RemoteEntry | None


@dataclass(frozen=True, slots=True)
class RecordSynced:
    """Both sides already agree (same content, or a change of mtime only): store `row` as the merge base."""

    path: str
    row: SyncedEntry


@dataclass(frozen=True, slots=True)
class ForgetSynced:
    """Both sides deleted `path`: drop the merge base."""

    path: str


@dataclass(frozen=True, slots=True)
class KeepOut:
    """The server's `path` cannot exist on this disk (`reason`): leave it on the server untouched; tell why."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class Skip:
    """Ferry does not sync this entry by policy (e.g. a symlink); the user sees `reason`."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class Defer:
    """Not decidable yet (a file not hashed yet, or inside a folder being moved): plan the path again later."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class Noop:
    """Nothing to do: all three rows agree."""

    path: str


Action = (
    Upload | Download | DeleteLocal | DeleteRemote | MkdirLocal | MkdirRemote | MoveLocal | MoveRemote
    | ConflictCopy | RecordSynced | ForgetSynced | KeepOut | Skip | Defer | Noop
)

DELETIONS = (DeleteLocal, DeleteRemote)
INFORMATIONAL = (KeepOut, Skip, Defer, Noop)


def touched_paths(action: Action) -> tuple[str, ...]:
    """The paths of this disk that running `action` may change: a failed action's are looked at again."""
    if isinstance(action, MoveLocal):
        return action.src, action.dst
    if isinstance(action, ConflictCopy):
        return action.path, action.copy_name
    return (action.path,)


def is_deletion(action: Action) -> bool:
    """Whether the action removes an entry on one side (these wait behind the deletion threshold)."""
    return isinstance(action, DELETIONS)


def deletes_file(action: Action) -> bool:
    """Whether the action deletes a file (what the deletion threshold counts; folders ride along)."""
    if isinstance(action, DeleteLocal):
        return action.expect_local.kind is not Kind.DIR
    return isinstance(action, DeleteRemote) and action.kind is not Kind.DIR


def needs_work(action: Action) -> bool:
    """Whether the action changes anything (informational actions only report)."""
    return not isinstance(action, INFORMATIONAL)


# Phases of a batch, run in this order; actions within one phase are independent and may run concurrently.
PHASE_REPORT = 0  # KeepOut, Skip, Defer, Noop
PHASE_SET_ASIDE = 1  # conflict copies and set-aside moves free the names the rest needs
PHASE_CLEAR = 2  # deletion of a file where a folder will go (type changes)
PHASE_MKDIR = 3  # parents first, so moves and transfers find their folders
PHASE_MOVE = 4
PHASE_TRANSFER = 5  # uploads, downloads, merge-base records
PHASE_DELETE = 6  # other deletions: children before parents


def phase(action: Action) -> int:
    """The batch phase of an action kind (a type-change deletion is placed in PHASE_CLEAR by plan_batch)."""
    if isinstance(action, INFORMATIONAL):
        return PHASE_REPORT
    if isinstance(action, ConflictCopy) or (isinstance(action, MoveRemote) and action.local is None):
        return PHASE_SET_ASIDE
    if isinstance(action, MoveLocal | MoveRemote):
        return PHASE_MOVE
    if isinstance(action, MkdirLocal | MkdirRemote):
        return PHASE_MKDIR
    if is_deletion(action):
        return PHASE_DELETE
    return PHASE_TRANSFER
