"""Selective sync, the pure part: which paths are excluded, what the planner may do there, what an exclusion
frees on this disk, and why a file stays.

One invariant rules this module: **an excluded path never yields a remote deletion nor a download.** An exclusion
is a choice about this disk only, so nothing on the server changes because of it, and what the server has there is
not fetched. Local work inside an excluded path still goes up (a file made there later is uploaded, never silently
kept off the server); anything that would need the server's version on this disk (a newer revision, both sides
changed) is left as it is and reported.

Freeing the disk is a separate, one-time step run when the user excludes a path (`removals`): a file leaves this
disk (to the trash) only when disk, merge base and server hold the same content; a folder only when everything in
it leaves. Because it is not a standing rule, a file created in an excluded folder later stays on this disk once
uploaded. No I/O happens here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ferrysync.daemon.local.names import check_server_path, nfc
from ferrysync.daemon.model import Kind
from ferrysync.daemon.planner.actions import (
    Action,
    ConflictCopy,
    DeleteLocal,
    DeleteRemote,
    Download,
    ForgetSynced,
    MkdirLocal,
    MoveLocal,
    MoveRemote,
    Noop,
    Skip,
    is_deletion,
    phase,
)
from ferrysync.daemon.planner.moves import PathRows
from ferrysync.daemon.planner.table import UNCHANGED, PlanContext, State, local_state, plan_path, remote_state

MARKER = ".ferry"  # the sync root's own area: never synced, so never excluded either
NOT_UPLOADED = "not uploaded yet: it stays on this disk until the server has it"
SERVER_NEWER = "the server has another version (not downloaded: the path is excluded)"
BOTH_CHANGED = "changed here and on the server: kept here as it is while the path is excluded"
KEPT = "on the server too; kept on this disk (created or changed here after the exclusion)"
NOT_REGULAR = "not a regular file (symbolic links are not synced)"


def check_excluded_path(path: str) -> str:
    """`path` as an exclusion is stored (NFC, no surrounding '/'); ValueError saying why it cannot be one."""
    norm = nfc(path.strip().strip("/"))
    if not norm:
        raise ValueError("name a path inside the folder (the whole folder cannot be excluded: remove it instead)")
    why = check_server_path(norm)
    if why is not None:
        raise ValueError(f"{path!r} is not a path inside the folder: {why}")
    if norm == MARKER or norm.startswith(MARKER + "/"):
        raise ValueError(f"{MARKER} is Ferry's own folder and is never synced")
    return norm


def normalise_exclusions(paths: Iterable[str]) -> tuple[str, ...]:
    """Sorted, without duplicates and without paths already inside another excluded path (it covers them)."""
    out: list[str] = []
    for p in sorted(set(paths)):
        if not any(is_excluded(p, (q,)) for q in out):
            out.append(p)
    return tuple(out)


def is_excluded(path: str, excluded: Sequence[str]) -> bool:
    """Whether `path` is an excluded path or lies below one (an exclusion covers its whole subtree)."""
    return any(path == e or path.startswith(e + "/") for e in excluded)


def covering(path: str, excluded: Sequence[str]) -> str | None:
    """The exclusion that covers `path`, or None."""
    return next((e for e in excluded if path == e or path.startswith(e + "/")), None)


def plan_excluded(rows: PathRows, ctx: PlanContext) -> list[Action]:
    """The actions for one path inside an excluded subtree: the ordinary table, minus anything that would
    download or delete on the server.

    Nothing on disk: nothing to do, and a merge base left over (the subtree was freed, or a stale journal still
    lists files the exclusion removed) is forgotten instead of turned into a server deletion. Something on disk:
    the table decides (no Noop: the executor takes only work and reports), but a download, a local mkdir, a
    server deletion, a server set-aside or a conflict copy (which downloads) becomes a report; uploads, local
    deletions the server asked for and merge-base records stay.
    """
    if rows.local is None:
        return [ForgetSynced(rows.path)] if rows.synced is not None else []
    out: list[Action] = []
    for a in plan_path(rows.local, rows.remote, rows.synced, ctx):
        if isinstance(a, Download | MkdirLocal | Noop):
            continue  # the disk keeps what it has; kept_reason says why
        if isinstance(a, ConflictCopy | DeleteRemote | MoveRemote | MoveLocal):
            out.append(Skip(a.path, BOTH_CHANGED))
        else:
            out.append(a)
    return out


def spare_parents(actions: Iterable[Action], excluded: Sequence[str]) -> list[Action]:
    """The batch's actions with each server folder deletion that holds an excluded path turned into ForgetSynced.

    The user deleted a folder here that holds an excluded subtree this disk never showed them: what they could see
    goes (planned path by path), the excluded part stays on the server, and so does the folder (the server refuses
    to delete a folder that is not empty, which would be retried for ever). With its merge base forgotten, the
    folder comes back here, empty, as any folder still holding something on the other side does."""
    out: list[Action] = []
    for a in actions:
        if isinstance(a, DeleteRemote) and a.kind is Kind.DIR and any(e.startswith(a.path + "/") for e in excluded):
            out.append(ForgetSynced(a.path))
        else:
            out.append(a)
    return out


def removable(rows: PathRows) -> bool:
    """A file this disk may give up: disk, merge base and server all hold the same content."""
    local, remote, synced = rows.local, rows.remote, rows.synced
    if local is None or remote is None or synced is None:
        return False
    if not (local.kind is remote.kind is synced.kind is Kind.FILE):
        return False
    return local_state(local, synced) in UNCHANGED and remote_state(remote, synced) in UNCHANGED


def kept_reason(rows: PathRows) -> str:
    """Why a local entry inside an excluded path is still on this disk."""
    local, remote, synced = rows.local, rows.remote, rows.synced
    if local is None:
        return ""
    if local.kind is not Kind.FILE:
        return NOT_REGULAR if local.kind is not Kind.DIR else KEPT
    ls = local_state(local, synced)
    same_content = remote is not None and remote.kind is Kind.FILE and local.content_hash == remote.content_hash
    if same_content and ls is not State.UNKNOWN:
        return KEPT
    if ls in UNCHANGED:
        return SERVER_NEWER
    if remote is not None and remote_state(remote, synced) not in UNCHANGED and synced is not None:
        return BOTH_CHANGED
    return NOT_UPLOADED


def removals(rows: Iterable[PathRows]) -> tuple[list[Action], dict[str, str]]:
    """What excluding a subtree frees on this disk: the deletions (files, then folders left empty by them,
    children first) and the files that stay, with why.

    `rows` are the rows of every path in the subtree. A folder goes only if every local entry below it goes."""
    by_path = {r.path: r for r in rows if r.local is not None}
    kept: dict[str, str] = {}
    deletions: list[DeleteLocal] = []
    staying: set[str] = set()
    for path, r in by_path.items():
        assert r.local is not None
        if r.local.kind is Kind.DIR:
            continue
        if removable(r):
            deletions.append(DeleteLocal(path, r.local))
        else:
            kept[path] = kept_reason(r)
            staying.add(path)
    dirs = [p for p, r in by_path.items() if r.local is not None and r.local.kind is Kind.DIR]
    for d in dirs:
        if not any(s.startswith(d + "/") for s in staying):
            row = by_path[d]
            assert row.local is not None
            deletions.append(DeleteLocal(d, row.local))
    return order(deletions), kept


def order(actions: Iterable[Action]) -> list[Action]:
    """Actions of an excluded subtree in the executor's phase order; deletions children first, the rest parents
    first (a folder is created before what goes in it)."""
    def key(a: Action) -> tuple[int, int, str]:
        depth = a.path.count("/")
        return phase(a), -depth if is_deletion(a) else depth, a.path
    return sorted(actions, key=key)


def immediate_dirs(paths: Iterable[str], parent: str) -> list[str]:
    """The folders directly below `parent` ('' = the root) among `paths` (which are folders), sorted."""
    depth = parent.count("/") + 1 if parent else 0
    prefix = parent + "/" if parent else ""
    return sorted(p for p in paths if p.startswith(prefix) and p.count("/") == depth)
