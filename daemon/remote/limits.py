"""The server's limits as this client sizes its requests by them.

The server publishes its limits at GET /v1/limits (RemoteClient.limits); tests/test_wire_contract.py checks that
every value here equals the published one, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

MIB = 1024 * 1024
MAX_JSON_BODY = 8 * MIB
MAX_BLOCK = 8 * MIB
MAX_BATCH_BODY = 64 * MIB
MAX_OPS_PER_COMMIT = 1000
MAX_HASHES_PER_MISSING = 10_000
MAX_HASHES_PER_FETCH = 4096
MAX_FETCH_BYTES = 16 * MIB
MAX_CHANGES_LIMIT = 10_000
MAX_WAIT_SECONDS = 120

# The published names of the limits above (the keys of GET /v1/limits).
AS_PUBLISHED: dict[str, int] = {
    "max_json_body": MAX_JSON_BODY,
    "max_block": MAX_BLOCK,
    "max_batch_body": MAX_BATCH_BODY,
    "max_ops_per_commit": MAX_OPS_PER_COMMIT,
    "max_hashes_per_missing": MAX_HASHES_PER_MISSING,
    "max_hashes_per_fetch": MAX_HASHES_PER_FETCH,
    "max_fetch_bytes": MAX_FETCH_BYTES,
    "max_changes_limit": MAX_CHANGES_LIMIT,
    "max_wait_seconds": MAX_WAIT_SECONDS,
}
