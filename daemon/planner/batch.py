"""Planning a batch of changed paths: moves, name clashes, kind-change fix-ups, safe order, held deletions.

The engine hands over the rows of every dirty path (for a folder that changed kind or moved, its subtree too)
and gets back the actions in a safe sequential order, plus the deletions it must hold for the user when the
batch would delete more files than the threshold allows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from ferrysync.daemon.local.names import check_name, find_clashes, fold
from ferrysync.daemon.model import Kind
from ferrysync.daemon.planner.actions import (
    PHASE_CLEAR,
    PHASE_DELETE,
    PHASE_MOVE,
    Action,
    ConflictCopy,
    Defer,
    DeleteLocal,
    DeleteRemote,
    Download,
    KeepOut,
    MkdirLocal,
    MkdirRemote,
    MoveLocal,
    MoveRemote,
    Noop,
    Skip,
    Upload,
    deletes_file,
    is_deletion,
    phase,
)
from ferrysync.daemon.planner.moves import Moves, PathRows, detect_moves, is_below
from ferrysync.daemon.planner.table import PlanContext, State, plan_path, remote_state

MOVED_FOLDER_REASON = "inside a folder that moves in this batch: planned again once the move is done"
CLASH_REASON = "another entry already uses this name on this disk (names differ only in case or Unicode form)"
UNDER_LINK_REASON = "inside a path that is a symbolic link on this disk: left alone on both sides"


# Below this many deletions a batch is never held for its ratio alone: deleting 1 of 1 or 2 of 3 files is what
# tidying a small folder looks like, while 5 or more files that are most of a folder look like an accident.
RATIO_MIN_FILES = 5


@dataclass(frozen=True, slots=True)
class DeletionThreshold:
    """When a batch deletes so many files that it looks like an accident (unmounted disk, wiped folder).

    A batch is held if it would delete more than `max_files` files, or at least `min_files_for_ratio` files
    that are more than `max_ratio` of the folder's files. Folder deletions ride along with the file deletions.
    `max_files` and `max_ratio` have no defaults here: they are the user's settings (declared with their defaults
    in `settings_schema`, the one place defaults live), so the planner can never apply a limit that disagrees with
    what the user sees.
    """

    max_files: int
    max_ratio: float
    min_files_for_ratio: int = RATIO_MIN_FILES
    # Files this folder deleted in the last few minutes without the user's approval: a wipe that reaches the
    # journal in several small batches (a slow `rm -r`, events arriving in pieces) counts as one.
    recently_deleted: int = 0
    # Deletions of other paths already held for approval (their files still count in the folder).
    waiting: int = 0

    def exceeded(self, deleting: int, file_count: int) -> bool:
        if deleting <= 0:
            return False
        total = deleting + self.recently_deleted + self.waiting
        if total > self.max_files:
            return True
        return total >= self.min_files_for_ratio and total > self.max_ratio * max(file_count + self.recently_deleted, 0)


NO_THRESHOLD = DeletionThreshold(max_files=2**62, max_ratio=1.0, min_files_for_ratio=2**62)


class BatchPlan(NamedTuple):
    """`actions` to run in order (no Noop); `held_deletions` wait for the user's confirmation (else empty)."""

    actions: list[Action]
    held_deletions: list[Action]


def plan_batch(
    changes: Iterable[PathRows],
    ctx: PlanContext,
    file_count: int | Callable[[], int],
    threshold: DeletionThreshold,
) -> BatchPlan:
    """Plan the rows of many paths together.

    `changes` holds the rows of every dirty path (a folder that vanished, moved or changed kind with its
    subtree); `file_count` is the number of files in the folder now, for the threshold's ratio (or a function
    giving it, called only when the batch deletes something: counting a big folder's files costs a pass over its
    rows, which a batch without deletions need not pay). Returns the
    actions in a safe order (no Noop) and, when the batch deletes too much, its deletions held apart.
    """
    rows = {r.path: r for r in changes}
    links = {p for p, r in rows.items() if r.local is not None and r.local.kind is Kind.SYMLINK}
    under_link = sorted(p for p in rows if any(is_below(p, link) for link in links))
    for p in under_link:
        del rows[p]
    taken = {p for p, r in rows.items() if r.local is not None or r.remote is not None}
    outer = ctx.exists
    ctx = dataclasses.replace(ctx, exists=lambda p: p in taken or outer(p))

    refused: set[str] = set()

    def move_ok(path: str) -> bool:
        return path not in refused and check_name(path, ctx.profile, ctx.root_length) is None

    # A server rename onto a name this disk already uses in another spelling is no move here, and neither is
    # one that would need another move to free its name first (two such moves can wait on each other forever).
    # Dropping a move keeps its source in place, which can make another destination clash: repeat until no
    # move is refused (each pass refuses at least one, so this ends).
    while True:
        moves = detect_moves(rows, move_ok)
        kept_out = _clashes(rows, moves, ctx)
        clashing = {m.dst for m in moves.actions if isinstance(m, MoveLocal) and m.dst in kept_out}
        clashing |= _waiting_moves(rows, moves, ctx)
        if not clashing:
            break
        refused |= clashing
    actions: list[Action] = [*moves.actions, *(Skip(p, UNDER_LINK_REASON) for p in under_link)]
    for path in sorted(rows):
        if path in moves.consumed:
            continue
        if path in moves.covered:
            actions.append(Defer(path, MOVED_FOLDER_REASON))
        elif path in kept_out:
            actions.append(KeepOut(path, CLASH_REASON))
        else:
            r = rows[path]
            actions.extend(a for a in plan_path(r.local, r.remote, r.synced, ctx) if not isinstance(a, Noop))
    actions, clearing = _fix_folder_deletions(actions, rows, ctx)
    ordered = sorted(actions, key=lambda a: _order_key(a, clearing))
    deletions = [a for a in ordered if is_deletion(a)]
    deleting = sum(1 for a in deletions if deletes_file(a))
    if deleting and threshold.exceeded(deleting, file_count() if callable(file_count) else file_count):
        return BatchPlan([a for a in ordered if not is_deletion(a)], deletions)
    return BatchPlan(ordered, [])


def _clashes(rows: dict[str, PathRows], moves: Moves, ctx: PlanContext) -> set[str]:
    """Server paths that would land on a name this disk already uses in another spelling.

    What is on disk keeps its name, except what a server move is about to rename (so a case-only rename a -> A
    is no clash). Then come the server paths that would be created here (new or changed there; move
    destinations included), those known to the merge base first.
    """
    leaving = [m.src for m in moves.actions if isinstance(m, MoveLocal)]
    settled = [p for p, r in sorted(rows.items())
               if r.local is not None and not any(p == s or is_below(p, s) for s in leaving)]
    incoming = [p for p, r in sorted(rows.items(), key=lambda item: (item[1].synced is None, item[0]))
                if r.local is None and r.remote is not None and p not in moves.covered
                and remote_state(r.remote, r.synced) is State.CHANGED]
    return find_clashes([*settled, *incoming], ctx.profile) & set(incoming)


def _prefixes(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _waiting_moves(rows: dict[str, PathRows], moves: Moves, ctx: PlanContext) -> set[str]:
    """Destinations of server moves whose name is held here, in another spelling, by another move's source.

    Only disks that fold names (case, Unicode form) have these; such a move would wait for the other one.
    """
    local_moves = [m for m in moves.actions if isinstance(m, MoveLocal)]
    if not local_moves or not (ctx.profile.case_insensitive or ctx.profile.normalization_insensitive):
        return set()
    sources = {m.src for m in local_moves}
    on_disk: dict[str, set[str]] = {}
    for p, r in rows.items():
        if r.local is not None:
            for q in _prefixes(p):
                on_disk.setdefault(fold(q, ctx.profile), set()).add(q)
    waiting: set[str] = set()
    for m in local_moves:
        for q in _prefixes(m.dst):
            for holder in on_disk.get(fold(q, ctx.profile), set()) - {q}:
                if holder == m.src or is_below(holder, m.src):
                    continue  # a case-only rename of the move's own entry
                if any(s != m.src and s in sources for s in _prefixes(holder)):
                    waiting.add(m.dst)
    return waiting


def _survivors(actions: list[Action], rows: dict[str, PathRows]) -> tuple[set[str], set[str]]:
    """Paths that will still hold something on disk, and on the server, once the batch has run."""
    local = {p for p, r in rows.items() if r.local is not None}
    remote = {p for p, r in rows.items() if r.remote is not None}
    for a in actions:
        if isinstance(a, DeleteLocal):
            local.discard(a.path)
        elif isinstance(a, DeleteRemote):
            remote.discard(a.path)
        elif isinstance(a, MoveLocal):
            local.discard(a.src)
            local.add(a.dst)
        elif isinstance(a, MoveRemote):
            remote.discard(a.src)
            remote.add(a.dst)
        elif isinstance(a, ConflictCopy):
            local.add(a.copy_name)
        elif isinstance(a, Download | MkdirLocal):
            local.add(a.path)
        elif isinstance(a, Upload | MkdirRemote):
            remote.add(a.path)
    return local, remote


def _fix_folder_deletions(actions: list[Action], rows: dict[str, PathRows],
                          ctx: PlanContext) -> tuple[list[Action], set[str]]:
    """Never delete a folder that will still hold something; mark file deletions that clear a place.

    A folder deleted on one side but still holding entries on the other that stay (changes, new files,
    symlinks, kept-out names) comes back instead of being deleted: MkdirRemote / MkdirLocal. If that side has
    a file where the folder was (a file <-> folder change), the file gives way: a local file becomes a
    conflict copy, a server file is set aside under a conflict name.
    """
    local_stays, remote_stays = _survivors(actions, rows)
    fixed: list[Action] = []
    clearing: set[str] = set()
    for a in actions:
        r = rows.get(a.path)
        if r is None:
            fixed.append(a)
            continue
        if isinstance(a, DeleteRemote) and a.kind is Kind.DIR and r.remote is not None \
                and any(is_below(p, a.path) for p in remote_stays):
            if r.local is None:
                on_disk = [p for p, row in sorted(rows.items()) if row.local is not None]
                if a.path in find_clashes([*on_disk, a.path], ctx.profile):
                    fixed.append(KeepOut(a.path, CLASH_REASON))
                else:
                    fixed.append(MkdirLocal(a.path, r.remote))
                continue
            if r.local.kind is Kind.FILE:
                fixed.append(ConflictCopy(a.path, ctx.conflict_path(a.path), r.local, None))
                continue
        if isinstance(a, DeleteLocal) and a.expect_local.kind is Kind.DIR \
                and any(is_below(p, a.path) for p in local_stays):
            if r.remote is None:
                fixed.append(MkdirRemote(a.path, None, a.expect_local))
                continue
            if r.remote.kind is Kind.FILE:
                fixed.append(MoveRemote(a.path, ctx.conflict_path(a.path), r.remote.rev, None))
                continue
        if _clears_place(a, r):
            clearing.add(a.path)
        fixed.append(a)
    return fixed, clearing


def _clears_place(action: Action, rows: PathRows) -> bool:
    """A file deletion where the other side has a folder: it runs early, so the folder's contents find room.

    A folder deletion stays with the other deletions instead: its children must go before it.
    """
    if isinstance(action, DeleteRemote):
        return action.kind is Kind.FILE and rows.local is not None and rows.local.kind is Kind.DIR
    if isinstance(action, DeleteLocal):
        remote = rows.remote
        return action.expect_local.kind is Kind.FILE and remote is not None and remote.kind is Kind.DIR
    return False


def _order_key(action: Action, clearing: set[str]) -> tuple[int, int, str]:
    """Phase first; parents before children, except deletions (children first); moves by destination depth."""
    ph = PHASE_CLEAR if action.path in clearing and is_deletion(action) else phase(action)
    if ph == PHASE_DELETE:
        return ph, -action.path.count("/"), action.path
    if ph == PHASE_MOVE and isinstance(action, MoveLocal | MoveRemote):
        return ph, action.dst.count("/"), action.dst
    return ph, action.path.count("/"), action.path
