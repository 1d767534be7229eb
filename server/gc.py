"""Garbage collection: retention pruning, then block holdings nothing uses, then stored blocks nobody holds.

Runs inside `serve` (at start and every --gc-interval) and as `ferry-server gc` (optionally --dry-run). Safe with
several server processes and collectors at once: each block deletion is guarded by a delete mark in the database
(store/blockmarks.py), and a block an upload marked within the grace period is never collected.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from ferrysync.server.blocks.base import BlockStore
from ferrysync.server.store.base import MetaStore
from ferrysync.server.store.rows import now_ms

log = logging.getLogger("ferrysync.server.gc")
_BATCH = 500


@dataclass
class GcReport:
    revisions: int = 0
    tombstones: int = 0
    block_holdings: int = 0
    blocks: int = 0
    repacked_bytes: int = 0  # given back by repacking packs (the packed store); 0 for the other stores
    users: list[str] = field(default_factory=list)
    dry_run: bool = False

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        return (f"gc {verb} {self.revisions} revision(s), {self.tombstones} tombstone(s), "
                f"{self.block_holdings} block holding(s), {self.blocks} stored block(s)"
                + (f"; repacking freed {self.repacked_bytes} bytes" if self.repacked_bytes else ""))


def collect(meta: MetaStore, blocks: BlockStore, retention_ms: int, grace_ms: int,
            dry_run: bool = False) -> GcReport:
    now = now_ms()
    retention_cutoff, grace_cutoff = now - retention_ms, now - grace_ms
    if dry_run:
        prune, doomed = meta.preview_collectable(list(blocks.iter()), retention_cutoff, grace_cutoff)
        return GcReport(revisions=prune.revisions, tombstones=prune.tombstones, users=prune.users,
                        block_holdings=prune.block_holdings, blocks=len(doomed), dry_run=True)
    prune = meta.prune(retention_cutoff)
    holdings = meta.drop_unreferenced_blocks(grace_cutoff)
    deleted = sum(_sweep(meta, blocks, batch, grace_cutoff) for batch in _batches(blocks.iter()))
    meta.expire_block_marks(grace_cutoff)
    report = GcReport(revisions=prune.revisions, tombstones=prune.tombstones, users=prune.users,
                      block_holdings=holdings, blocks=deleted, repacked_bytes=blocks.compact())
    if report.revisions or report.tombstones or report.block_holdings or report.blocks or report.repacked_bytes:
        log.info(report.summary())
    return report


def _batches(digests: Iterator[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for digest in digests:
        batch.append(digest)
        if len(batch) >= _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _sweep(meta: MetaStore, blocks: BlockStore, batch: list[str], grace_cutoff_ms: int) -> int:
    """Delete the blocks of a batch nobody holds, each under its delete mark; the mark goes once it is done."""
    held = meta.blocks_held(batch)
    candidates = [d for d in batch if d not in held]
    if not candidates:
        return 0
    claimed = meta.claim_unheld_blocks(candidates, grace_cutoff_ms)
    try:
        # The store's own age test is a second guard (for blocks written by hand or by an older server).
        return sum(blocks.delete_if_older(d, grace_cutoff_ms / 1000) for d in claimed)
    finally:
        meta.release_block_claims(claimed)
