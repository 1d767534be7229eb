"""Which recorded failures no longer apply, so that a folder whose work is all done does not show one for ever.

A failure is recorded against a path by whoever met it: the executor (an upload, a download, a move) or the
indexer (a file it could not read). The executor clears it when an action on the path next succeeds, the indexer
when it next reads the path. But a path can also settle by another route: a failed upload's bytes reached the
server after all (its commit answered, then the journal refused the record on a full disk) and came back through
the feed; a failed download's file was deleted on the server meanwhile. Nothing then acts on the path again, and
the failure stayed, the folder showing an error while every device agreed.

A failure is stale when the path's three rows agree (nothing is left to do there) and the disk holds what its
local row describes: a file the indexer could not read differs from its row (its stat changed; that is why it was
read), so an indexer failure that still applies is never taken for a stale one.
"""

from __future__ import annotations

from pathlib import Path

from ferrysync.daemon.journal import Journal
from ferrysync.daemon.local.indexer import stat_key
from ferrysync.daemon.local.scanner import stat_entry, unchanged
from ferrysync.daemon.planner import settled


def stale_failures(journal: Journal, folder_id: str, root: Path) -> list[str]:
    """The paths whose recorded failure no longer applies (see the module doc)."""
    failures = [f.path for f in journal.list_failures(folder_id)]
    if not failures:  # asked at every idle tick: one query when there is nothing to forget
        return []
    rows = journal.rows_for_paths(folder_id, failures)
    stale = []
    for path in failures:
        local, remote, synced = rows.get(path, (None, None, None))
        no_rows = local is None and remote is None and synced is None  # nothing to do there either
        if not (no_rows or settled(local, remote, synced)):
            continue  # something is left to do there
        try:
            disk = stat_entry(root, path)
        except OSError:  # cannot look: it stays
            continue
        as_recorded = disk is None if local is None else (disk is not None and unchanged(stat_key(local), disk))
        if as_recorded:
            stale.append(path)
    return stale
