"""Move detection over a batch: a vanished path plus a new path that are the same file become one move.

Without it a rename is a delete plus an upload (or a download): correct, but it costs a transfer, loses the
file's server history and, for a folder, turns one rename into thousands of operations.

* Local side: a path that vanished from disk (still synced, still on the server as that file) and a new path
  on disk (unknown to both the merge base and the server) with the same inode -> MoveRemote. When either inode
  is unknown (0), the same content hash pairs two files, but only if that hash is unique on both sides.
* Remote side: a path the server dropped (still synced, still on disk) and a new server path carrying the same
  file_id -> MoveLocal.
* A folder whose descendants all moved along with it becomes ONE folder move; moves it implies are dropped,
  and every other path below the folder's old or new place waits for the next round (the move changes their
  rows). A folder without a usable inode still matches when all its moved descendants agree on one new root.
* Case-only renames (a -> A) are ordinary moves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ferrysync.daemon.model import Kind, LocalEntry, RemoteEntry, SyncedEntry
from ferrysync.daemon.planner.actions import MoveLocal, MoveRemote


@dataclass(frozen=True, slots=True)
class PathRows:
    """The three rows of one path, as the journal holds them (any may be None)."""

    path: str
    local: LocalEntry | None = None
    remote: RemoteEntry | None = None
    synced: SyncedEntry | None = None


@dataclass(slots=True)
class Moves:
    """Detected moves, and the paths they account for (no per-path planning for those this round)."""

    actions: list[MoveLocal | MoveRemote] = field(default_factory=list)
    # Sources and destinations of moves, implied ones included.
    consumed: set[str] = field(default_factory=set)
    # Other paths below a moved folder: deferred to the next round.
    covered: set[str] = field(default_factory=set)


def is_below(path: str, root: str) -> bool:
    return path.startswith(root + "/")


def _rebase(path: str, src: str, dst: str) -> str:
    return dst + path[len(src):]


def _pair_local(rows: Mapping[str, PathRows]) -> dict[str, str]:
    """src -> dst for moves made on disk."""
    vanished: dict[str, SyncedEntry] = {}
    appeared: dict[str, LocalEntry] = {}
    for r in rows.values():
        if r.local is None and r.synced is not None and r.remote is not None \
                and r.remote.file_id == r.synced.file_id and r.remote.kind is r.synced.kind:
            vanished[r.path] = r.synced
        elif r.local is not None and r.synced is None and r.remote is None \
                and r.local.kind is not Kind.SYMLINK:
            appeared[r.path] = r.local
    pairs: dict[str, str] = {}
    by_inode: dict[tuple[Kind, int], list[str]] = {}
    for path, loc in appeared.items():
        if loc.inode:
            by_inode.setdefault((loc.kind, loc.inode), []).append(path)
    for path, syn in vanished.items():
        found = by_inode.get((syn.kind, syn.inode), []) if syn.inode else []
        if len(found) == 1:
            pairs[path] = found[0]
    # Content fallback for files whose inode is unknown on either side, among hashes unique on both sides.
    left = {p: s for p, s in vanished.items() if p not in pairs and s.kind is Kind.FILE and s.content_hash}
    taken = set(pairs.values())
    right = {p: a for p, a in appeared.items() if p not in taken and a.kind is Kind.FILE and a.content_hash}
    left_count = Counter(s.content_hash for s in left.values())
    right_by_hash: dict[str | None, list[str]] = {}
    for p, a in right.items():
        right_by_hash.setdefault(a.content_hash, []).append(p)
    for p, s in left.items():
        cands = right_by_hash.get(s.content_hash, [])
        if left_count[s.content_hash] == 1 and len(cands) == 1 and (not s.inode or not right[cands[0]].inode):
            pairs[p] = cands[0]
    _infer_folders(pairs, {p for p, s in vanished.items() if s.kind is Kind.DIR},
                   {p for p, a in appeared.items() if a.kind is Kind.DIR})
    return pairs


def _pair_remote(rows: Mapping[str, PathRows], name_ok: Callable[[str], bool]) -> dict[str, str]:
    """src -> dst for moves made on the server (same file_id at a new path)."""
    vanished: dict[str, SyncedEntry] = {}
    appeared: dict[str, RemoteEntry] = {}
    for r in rows.values():
        if r.remote is None and r.synced is not None and r.local is not None \
                and r.local.kind is r.synced.kind:
            vanished[r.synced.file_id] = r.synced
        elif r.remote is not None and r.synced is None and r.local is None and name_ok(r.path):
            appeared[r.remote.file_id] = r.remote
    return {syn.path: appeared[fid].path for fid, syn in vanished.items()
            if fid in appeared and appeared[fid].kind is syn.kind}


def _infer_folders(pairs: dict[str, str], vanished_dirs: set[str], appeared_dirs: set[str]) -> None:
    """Pair folders with no usable inode: all their paired descendants must point below one new folder."""
    taken = set(pairs.values())
    for folder in sorted(vanished_dirs - pairs.keys(), key=lambda p: -p.count("/")):
        roots = set()
        for src, dst in pairs.items():
            if is_below(src, folder):
                rel = src[len(folder):]
                roots.add(dst[: -len(rel)] if dst.endswith(rel) else None)
        if len(roots) == 1:
            root = roots.pop()
            if root is not None and root in appeared_dirs and root not in taken:
                pairs[folder] = root
                taken.add(root)


def _collapse(pairs: dict[str, str], rows: Mapping[str, PathRows], moves: Moves) -> list[tuple[str, str]]:
    """Keep the outermost moves; record implied ones as consumed and the rest of a moved folder as covered."""
    kept: list[tuple[str, str]] = []
    for src in sorted(pairs, key=lambda p: p.count("/")):
        dst = pairs[src]
        implied = any(is_below(src, s) and dst == _rebase(src, s, d) for s, d in kept)
        moves.consumed.update((src, dst))
        if not implied:
            kept.append((src, dst))
    for s, d in kept:
        if rows[s].synced is not None and rows[s].synced.kind is Kind.DIR:  # type: ignore[union-attr]
            moves.covered.update(p for p in rows if is_below(p, s) or is_below(p, d))
    moves.covered -= moves.consumed
    return kept


def detect_moves(rows: Mapping[str, PathRows], name_ok: Callable[[str], bool]) -> Moves:
    """Find moves on either side of a batch; `name_ok(path)`: may this server path exist on this disk?"""
    moves = Moves()
    local_pairs = _pair_local(rows)
    remote_pairs = _pair_remote(rows, name_ok)
    for src, dst in _collapse(local_pairs, rows, moves):
        base = rows[src].remote
        assert base is not None
        moves.actions.append(MoveRemote(src, dst, base.rev, rows[dst].local))
    for src, dst in _collapse(remote_pairs, rows, moves):
        remote, local = rows[dst].remote, rows[src].local
        assert remote is not None
        assert local is not None
        moves.actions.append(MoveLocal(src, dst, remote, local))
    return moves
