"""Local discovery and the disk: what is on this disk, and the engine's only way of touching it.

watcher (native events) → indexer (stat, re-hash what changed) → the journal's local tree; scanner walks a root;
hasher/chunker cut content into blocks; ignore, marker, names and ondisk say which paths belong to the sync and
how they map to disk names; fsio is the one seam every engine disk step goes through; trash takes deletions.
"""
