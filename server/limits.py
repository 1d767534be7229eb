"""The API's size limits, in one place (documented in docs/api.md; served in errors)."""

from __future__ import annotations

MIB = 1024 * 1024
MAX_JSON_BODY = 8 * MIB
MAX_BLOCK = 8 * MIB
MAX_BATCH_BODY = 64 * MIB
MAX_OPS_PER_COMMIT = 1000
MAX_HASHES_PER_MISSING = 10_000
DEFAULT_CHANGES_LIMIT = 1000
MAX_CHANGES_LIMIT = 10_000
MAX_WAIT_SECONDS = 120
DEFAULT_WAIT_SECONDS = 60
MAX_NAME_CHARS = 255
MAX_PASSWORD_CHARS = 1024
# Integers the database columns hold (signed 64-bit); larger ones are refused as bad input, not a 500.
MAX_INT = 2**62
DEFAULT_RETENTION_DAYS = 30.0
DEFAULT_GC_GRACE_HOURS = 24.0
DEFAULT_GC_INTERVAL_S = 3600.0
