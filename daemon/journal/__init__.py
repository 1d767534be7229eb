"""The daemon's journal: one SQLite file (WAL) holding the three trees and everything needed to resume.
 See `store` for the one-writer concurrency discipline and corruption recovery, `schema` for migrations,
`trees` for tree rows and chunk lookups, `state` for the dirty queue, backoff, transfers, activity and folder
state.
"""

from __future__ import annotations

from ferrysync.daemon.journal.codec import TREES, Entry, Tree
from ferrysync.daemon.journal.schema import LATEST as SCHEMA_VERSION
from ferrysync.daemon.journal.schema import SchemaTooNew
from ferrysync.daemon.journal.state import (
    Activity,
    Conflict,
    Direction,
    DirtyPath,
    FolderState,
    PathFailure,
    StateOps,
    TransferState,
)
from ferrysync.daemon.journal.store import JournalError
from ferrysync.daemon.journal.trees import BlockLocation, StatKey, TreeOps, TreeRows
from ferrysync.daemon.paths import FerryPaths


class Journal(TreeOps, StateOps):
    """The journal API the engine, indexer and executor use (thread-safe; see `store` for the discipline)."""


def open_journal(paths: FerryPaths) -> Journal:
    return Journal(paths.journal_file)


__all__ = [
    "SCHEMA_VERSION",
    "TREES",
    "Activity",
    "BlockLocation",
    "Conflict",
    "Direction",
    "DirtyPath",
    "Entry",
    "FolderState",
    "Journal",
    "JournalError",
    "PathFailure",
    "SchemaTooNew",
    "StatKey",
    "TransferState",
    "Tree",
    "TreeRows",
    "open_journal",
]
