"""The API's size limits, in one place: the server enforces these, serves them at GET /v1/limits (and in the
OpenAPI schema of that answer) and docs/api.md documents them. Clients check theirs against what is served
(tests/test_wire_contract.py does so for the daemon)."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024
MAX_JSON_BODY = 8 * MIB
MAX_BLOCK = 8 * MIB
MAX_BATCH_BODY = 64 * MIB
# One file uploaded through the web app (streamed into blocks as it arrives; bigger files: use a desktop device).
MAX_WEB_UPLOAD = 16 * 1024 * MIB
MAX_OPS_PER_COMMIT = 1000
MAX_HASHES_PER_MISSING = 10_000
# POST /v1/blocks/fetch: hashes per call and the bytes of its answer (held in memory while it is sent).
MAX_HASHES_PER_FETCH = 4096
MAX_FETCH_BYTES = 16 * MIB
DEFAULT_CHANGES_LIMIT = 1000
MAX_CHANGES_LIMIT = 10_000
MAX_WAIT_SECONDS = 120
DEFAULT_WAIT_SECONDS = 60
MAX_NAME_CHARS = 255
MAX_PASSWORD_CHARS = 1024
MAX_SEGMENT_BYTES = 255
MAX_PATH_BYTES = 4096
# Integers the database columns hold (signed 64-bit); larger ones are refused as bad input, not a 500.
MAX_INT = 2**62
DEFAULT_RETENTION_DAYS = 30.0
DEFAULT_GC_GRACE_HOURS = 24.0
DEFAULT_GC_INTERVAL_S = 3600.0
# A body sent without a valid device token (a login; anything before its token is checked) is held to this:
# a login needs a few KiB at most, and strangers must not make the server hold megabytes each.
MAX_UNAUTHENTICATED_BODY = 32 * 1024
# Login throttle (server/throttle.py): failures allowed per account and per client address before delays start,
# how many doubling delays follow, the lockout after them, and how long failures are remembered after the last one.
DEFAULT_LOGIN_FREE_FAILURES = 5
DEFAULT_ADDRESS_FREE_FAILURES = 20
DEFAULT_LOGIN_LOCKOUT_S = 900.0
DEFAULT_LOGIN_DELAY_STEPS = 5  # failures past the free ones that delay 1 s, 2 s, 4 s…; the next one locks out
LOGIN_FORGET_S = 86_400.0
# Password hashing (argon2id, 64 MiB each): this many at once per process, this many more waiting, this long.
DEFAULT_HASH_SLOTS = 2
DEFAULT_HASH_QUEUE = 16
HASH_WAIT_S = 10.0
# Device tokens: 0 = they never expire. A renewed token's predecessor still works this long.
DEFAULT_TOKEN_TTL_DAYS = 0.0
TOKEN_RENEW_GRACE_S = 3600.0
# Share links (server/links/): downloads per minute through one link and from one client address (over all links),
# and password attempts per minute on one link and from one address. Counted in the database (store/shares.py).
DEFAULT_SHARE_LINK_RATE = 120
DEFAULT_SHARE_ADDRESS_RATE = 60
SHARE_PASSWORD_TRIES = 10
SHARE_WINDOW_S = 60
# A visitor who gave a link's password may use it this long without giving it again (a signed cookie).
SHARE_GRANT_S = 3600
# The furthest a link's expiry may be (100 years): beyond, times stop being representable as dates.
SHARE_MAX_EXPIRY_S = 100 * 366 * 86400
# Entries a folder link's page lists (the zip holds them all).
SHARE_PAGE_ENTRIES = 1000


@dataclass(frozen=True)
class Published:
    value: int
    doc: str


# What GET /v1/limits answers, name -> value and meaning (the OpenAPI schema of the answer carries both).
PUBLISHED: dict[str, Published] = {
    "max_json_body": Published(MAX_JSON_BODY, "bytes in a JSON request body"),
    "max_block": Published(MAX_BLOCK, "bytes in one block (PUT /v1/blocks/{hash}, or one record of a batch)"),
    "max_batch_body": Published(MAX_BATCH_BODY, "bytes in a POST /v1/blocks/batch body"),
    "max_unauthenticated_body": Published(MAX_UNAUTHENTICATED_BODY,
                                          "bytes in a body sent without a valid device token (e.g. a login)"),
    "max_ops_per_commit": Published(MAX_OPS_PER_COMMIT, "ops in one POST /v1/commit"),
    "max_hashes_per_missing": Published(MAX_HASHES_PER_MISSING, "hashes in one POST /v1/blocks/missing"),
    "max_hashes_per_fetch": Published(MAX_HASHES_PER_FETCH, "hashes in one POST /v1/blocks/fetch"),
    "max_fetch_bytes": Published(MAX_FETCH_BYTES, "bytes of blocks one POST /v1/blocks/fetch may ask for"),
    "default_changes_limit": Published(DEFAULT_CHANGES_LIMIT, "page size of GET /v1/changes without `limit`"),
    "max_changes_limit": Published(MAX_CHANGES_LIMIT, "largest `limit` of GET /v1/changes"),
    "default_wait_seconds": Published(DEFAULT_WAIT_SECONDS, "GET /v1/changes/wait `timeout` when not given"),
    "max_wait_seconds": Published(MAX_WAIT_SECONDS, "largest `timeout` of GET /v1/changes/wait"),
    "max_int": Published(MAX_INT, "largest absolute value of an integer (size, mtime_ns, rev, cursor)"),
    "max_name_chars": Published(MAX_NAME_CHARS, "characters in a user or device name"),
    "max_path_bytes": Published(MAX_PATH_BYTES, "UTF-8 bytes in a path"),
    "max_segment_bytes": Published(MAX_SEGMENT_BYTES, "UTF-8 bytes in one segment (name) of a path"),
}
