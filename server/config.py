"""Server settings, as given on the command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ferrysync.server.limits import (
    DEFAULT_ADDRESS_FREE_FAILURES,
    DEFAULT_GC_GRACE_HOURS,
    DEFAULT_GC_INTERVAL_S,
    DEFAULT_HASH_QUEUE,
    DEFAULT_HASH_SLOTS,
    DEFAULT_LOGIN_DELAY_STEPS,
    DEFAULT_LOGIN_FREE_FAILURES,
    DEFAULT_LOGIN_LOCKOUT_S,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_SHARE_ADDRESS_RATE,
    DEFAULT_SHARE_LINK_RATE,
    DEFAULT_TOKEN_TTL_DAYS,
)


@dataclass(frozen=True)
class ServerConfig:
    data_dir: Path
    database_url: str | None = None
    retention_days: float = DEFAULT_RETENTION_DAYS
    # Retention and garbage collection run at start and then this often inside `serve` (0: never).
    gc_interval_s: float = DEFAULT_GC_INTERVAL_S
    # Blocks uploaded (or held) this recently are never collected: uploads race commits and collections.
    gc_grace_hours: float = DEFAULT_GC_GRACE_HOURS
    # None: the store the data dir has (a new one: blocks/local.py's default); "disk": a file per block under
    # data_dir/blocks; "packed": pack files under data_dir/packs; "s3://bucket/prefix": an S3 bucket.
    blocks_url: str | None = None
    s3_endpoint_url: str | None = None
    # Login throttle: failures before delays start (per account, per client address), doubling delays, lockout.
    login_free_failures: int = DEFAULT_LOGIN_FREE_FAILURES
    address_free_failures: int = DEFAULT_ADDRESS_FREE_FAILURES
    login_delay_steps: int = DEFAULT_LOGIN_DELAY_STEPS
    login_lockout_s: float = DEFAULT_LOGIN_LOCKOUT_S
    # Password hashes computed at once in this process, and how many more logins may wait for a slot.
    hash_slots: int = DEFAULT_HASH_SLOTS
    hash_queue: int = DEFAULT_HASH_QUEUE
    # Device tokens expire this long after they were issued or renewed (0: never).
    token_ttl_days: float = DEFAULT_TOKEN_TTL_DAYS
    # Share links: downloads per minute through one link, and from one client address (links/throttle.py).
    share_link_rate: int = DEFAULT_SHARE_LINK_RATE
    share_address_rate: int = DEFAULT_SHARE_ADDRESS_RATE

    @property
    def blocks_dir(self) -> Path:
        return self.data_dir / "blocks"

    @property
    def retention_ms(self) -> int:
        return int(self.retention_days * 86_400_000)

    @property
    def token_ttl_ms(self) -> int:
        return int(self.token_ttl_days * 86_400_000)

    @property
    def gc_grace_ms(self) -> int:
        return int(self.gc_grace_hours * 3_600_000)
