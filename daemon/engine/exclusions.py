"""Selective sync in the folder loop: the journal reads around the pure rules of `planner.selective`.

The loop thread calls these; the exclusions are the folder's `cfg.excluded` (config.toml, their one definition).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from ferrysync.daemon.journal import Journal
from ferrysync.daemon.model import Kind
from ferrysync.daemon.planner import Action, PathRows, PlanContext, needs_work
from ferrysync.daemon.planner.selective import is_excluded, order, plan_excluded, removals

log = logging.getLogger(__name__)


def kept_count(journal: Journal, fid: str, excluded: Sequence[str]) -> int:
    """Files still on this disk inside excluded paths."""
    return sum(1 for p in excluded for e in journal.iter_tree(fid, "local", p) if e.kind is not Kind.DIR)


def new_top_folders(rows: dict[str, PathRows], excluded: Sequence[str], included: set[str]) -> list[str]:
    """Top-level server folders new to this device (no local, no synced row), not excluded, not just included
    again by the user: what `auto_include_new = false` excludes."""
    return sorted(p for p, r in rows.items() if "/" not in p and r.remote is not None and r.remote.kind is Kind.DIR
                  and r.local is None and r.synced is None and p not in included and not is_excluded(p, excluded))


def take_excluded(rows: dict[str, PathRows], excluded: Sequence[str]) -> list[PathRows]:
    """Remove the rows of excluded paths from `rows` and return them."""
    out = [r for p, r in rows.items() if is_excluded(p, excluded)]
    for r in out:
        del rows[r.path]
    return out


def settled(journal: Journal, fid: str, excluded: Sequence[str], paths: Iterable[str], ctx: PlanContext) -> set[str]:
    """Paths that disagree only because they are excluded (the server's files this disk does not hold, a kept file
    whose newer server version is not downloaded): nothing is waiting on them, so the folder can be idle."""
    mine = {p for p in paths if is_excluded(p, excluded)}
    if not mine:
        return set()
    found = journal.rows_for_paths(fid, mine)
    return {p for p, r in found.items()
            if not any(needs_work(a) for a in plan_excluded(PathRows(p, *r), ctx))} | (mine - set(found))


def freeing(journal: Journal, fid: str, excluded: Sequence[str], prefixes: Iterable[str]) -> list[Action]:
    """The deletions that free this disk of what the user just excluded: only files that disk, merge base and
    server agree on, and folders left empty by them; what stays is reported by the `excluded` method."""
    out: list[Action] = []
    for prefix in sorted(p for p in prefixes if is_excluded(p, excluded)):
        paths = {e.path for e in journal.iter_tree(fid, "local", prefix)}
        found = journal.rows_for_paths(fid, paths)
        deletions, kept = removals(PathRows(p, *r) for p, r in found.items())
        if kept:
            path, why = min(kept.items())
            log.info("%s: %d files stay in the excluded %s (e.g. %s: %s)", fid, len(kept), prefix, path, why)
        out += deletions
    return order(out)
