"""The sync engine: per-folder observation (local observer, change feed) feeding the planner and executor.

`Engine` owns the folders, the server connection, pause/resume and the status the control channel serves.
Discovery (observers write the local and remote trees) is kept apart from propagation (the executor runs the
planner's actions and records the merge base), Nextcloud-style, so a restart at any moment resumes from the trees.
"""

from ferrysync.daemon.engine.engine import Engine

__all__ = ["Engine"]
