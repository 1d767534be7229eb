"""Server settings, as given on the command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ferrysync.server.limits import DEFAULT_GC_GRACE_HOURS, DEFAULT_GC_INTERVAL_S, DEFAULT_RETENTION_DAYS


@dataclass(frozen=True)
class ServerConfig:
    data_dir: Path
    database_url: str | None = None
    retention_days: float = DEFAULT_RETENTION_DAYS
    # Retention and garbage collection run at start and then this often inside `serve` (0: never).
    gc_interval_s: float = DEFAULT_GC_INTERVAL_S
    # Blocks uploaded (or held) this recently are never collected: uploads race commits and collections.
    gc_grace_hours: float = DEFAULT_GC_GRACE_HOURS
    # None: blocks under data_dir/blocks; "s3://bucket/prefix": an S3 bucket.
    blocks_url: str | None = None
    s3_endpoint_url: str | None = None

    @property
    def blocks_dir(self) -> Path:
        return self.data_dir / "blocks"

    @property
    def retention_ms(self) -> int:
        return int(self.retention_days * 86_400_000)

    @property
    def gc_grace_ms(self) -> int:
        return int(self.gc_grace_hours * 3_600_000)
