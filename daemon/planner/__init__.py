"""The sync planner: pure decisions from the three trees (local, remote, synced) to actions that converge
them.

A short guide (docs/sync-model.md has the full table):

* :func:`plan_path` decides for one path. Each side is compared with the merge base (synced row) and classed
  as absent, same, meta-only (same content, other mtime/rev), changed or unknown (not hashed yet). One side
  unchanged -> the other side's change wins; both sides equal -> record the merge base, no transfer; modify vs
  delete -> modify wins; both changed differently -> the local file becomes a conflict copy and the server
  version comes down. Symlinks are skipped (visible reason); server names this disk cannot hold are kept out.
* :func:`plan_batch` plans many paths at once: it turns vanished+new pairs into moves (inode or content hash
  on disk, file_id on the server; one action per moved folder), keeps out case/Unicode twins, resolves file
  <-> folder changes whose contents need the place, orders the actions safely (set-asides, clears, moves,
  mkdirs, transfers, then deletions children-first) and holds the deletions when a batch would delete more
  than the threshold.

Every action carries its guard (server base_rev, or the local row the disk must still match), so actions may
fail or run out of order: the engine re-plans from the updated trees until nothing is left to do. No I/O
happens here.
"""

from ferrysync.daemon.planner.actions import (
    PHASE_CLEAR,
    PHASE_DELETE,
    PHASE_MKDIR,
    PHASE_MOVE,
    PHASE_REPORT,
    PHASE_SET_ASIDE,
    PHASE_TRANSFER,
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
    MoveLocal,
    MoveRemote,
    Noop,
    RecordSynced,
    Skip,
    Upload,
    deletes_file,
    is_deletion,
    needs_work,
    phase,
    touched_paths,
)
from ferrysync.daemon.planner.batch import (
    CLASH_REASON,
    MOVED_FOLDER_REASON,
    NO_THRESHOLD,
    RATIO_MIN_FILES,
    UNDER_LINK_REASON,
    BatchPlan,
    DeletionThreshold,
    plan_batch,
)
from ferrysync.daemon.planner.moves import PathRows, detect_moves
from ferrysync.daemon.planner.table import (
    SYMLINK_REASON,
    UNHASHED_REASON,
    PlanContext,
    State,
    agree,
    local_state,
    merge_base,
    plan_path,
    remote_state,
    settled,
)

__all__ = [
    "CLASH_REASON", "MOVED_FOLDER_REASON", "NO_THRESHOLD", "PHASE_CLEAR", "PHASE_DELETE", "PHASE_MKDIR",
    "PHASE_MOVE", "PHASE_REPORT", "PHASE_SET_ASIDE", "PHASE_TRANSFER", "RATIO_MIN_FILES", "SYMLINK_REASON",
    "UNDER_LINK_REASON", "UNHASHED_REASON", "Action", "BatchPlan", "ConflictCopy", "Defer", "DeleteLocal",
    "DeleteRemote", "DeletionThreshold", "Download", "ForgetSynced", "KeepOut", "MkdirLocal",
    "MkdirRemote", "MoveLocal", "MoveRemote", "Noop", "PathRows", "PlanContext", "RecordSynced", "Skip",
    "State", "Upload", "agree", "deletes_file", "detect_moves", "is_deletion", "local_state",
    "merge_base", "needs_work", "phase", "plan_batch", "plan_path", "remote_state", "settled", "touched_paths",
]
