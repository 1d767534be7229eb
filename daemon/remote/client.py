"""RemoteClient: typed calls to one Ferry server (HTTP API v1) over one pooled, retrying requests.Session.

Retry policy, explicitly: GET, PUT and DELETE are retried on connection drops, timeouts and 5xx with
backoff and jitter; of the POSTs only /v1/blocks/missing, /v1/blocks/batch and /v1/blocks/fetch are (asking,
reading, or storing content-addressed blocks twice, is harmless). /v1/commit, /v1/login, /v1/logout and
/v1/restore are retried only when the connection could not be opened at all (nothing was sent): a replay could
apply a change twice.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import requests

from ferrysync.daemon import __version__
from ferrysync.daemon.local.chunker import block_hash
from ferrysync.daemon.remote.bodies import PartsBody, Throttle, answer_pieces
from ferrysync.daemon.remote.cursor import Cursor, parse_cursor
from ferrysync.daemon.remote.errors import ProtocolError, RemoteError, error_from_exception, error_from_response
from ferrysync.daemon.remote.framing import batch_parts, decode_blocks, encode_batch, fetch_answer_limit
from ferrysync.daemon.remote.limits import (
    MAX_BATCH_BODY,
    MAX_BLOCK,
    MAX_CHANGES_LIMIT,
    MAX_HASHES_PER_MISSING,
    MAX_JSON_BODY,
    MAX_OPS_PER_COMMIT,
    MAX_WAIT_SECONDS,
)
from ferrysync.daemon.remote.tls import IDEMPOTENT_METHODS, FerryAdapter, make_retry
from ferrysync.daemon.remote.types import (
    Account,
    ChangesPage,
    CommitOp,
    CommitResult,
    Device,
    FeedEntry,
    LoginResult,
    Revision,
    ShareCreated,
    ShareLink,
    TokenInfo,
    WaitResult,
    parse_entries,
    parse_int,
    parse_str_list,
)

SAFE_POSTS = ("/v1/blocks/missing", "/v1/blocks/batch", "/v1/blocks/fetch")


def commit_bodies(ops: Sequence[CommitOp]) -> Iterator[tuple[int, bytes]]:
    """Split ops into /v1/commit bodies within the server's limits (ops per commit, JSON body size).

    Yields (number of ops, body) in order. An op too big for any body (a put of a ~100 GB file) goes alone, and
    the server's 413 says why.
    """
    encoded = [json.dumps(op.to_json(), separators=(",", ":"), ensure_ascii=False).encode("utf-8") for op in ops]
    start, size = 0, 0
    envelope = len(b'{"ops":[]}')
    for i, e in enumerate(encoded):
        count = i - start
        if count and (count == MAX_OPS_PER_COMMIT or envelope + size + count + len(e) > MAX_JSON_BODY):
            yield count, b'{"ops":[' + b",".join(encoded[start:i]) + b"]}"
            start, size = i, 0
        size += len(e)
    if start < len(encoded):
        yield len(encoded) - start, b'{"ops":[' + b",".join(encoded[start:]) + b"]}"


class RemoteClient:
    """One Ferry server for one device. Thread-safe for concurrent calls (requests pools the connections)."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        verify: bool | str = True,
        pin_sha256: str | None = None,
        timeout: tuple[float, float] = (10.0, 60.0),
        retries: int = 4,
        backoff: float = 0.5,
        pool_size: int = 16,
    ) -> None:
        self.timeout = timeout
        self._retries, self._backoff, self._pool_size = retries, backoff, pool_size
        self._token: str | None = None
        self.base_url, self._verify, self._session = self._connect(base_url, verify, pin_sha256)
        self.token = token

    def _connect(self, base_url: str, verify: bool | str,
                 pin_sha256: str | None) -> tuple[str, bool | str, requests.Session]:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"server URL must start with http:// or https://: {base_url!r}")
        base_url = base_url.rstrip("/")
        retries, backoff, pool_size = self._retries, self._backoff, self._pool_size
        session = requests.Session()
        session.headers["User-Agent"] = f"ferry/{__version__}"
        default = FerryAdapter(make_retry(retries, backoff), pin_sha256=pin_sha256, pool_maxsize=pool_size)
        safe_post = FerryAdapter(
            make_retry(retries, backoff, IDEMPOTENT_METHODS | {"POST"}),
            pin_sha256=pin_sha256,
            pool_maxsize=pool_size,
        )
        session.mount(base_url + "/", default)
        for prefix in SAFE_POSTS:
            session.mount(base_url + prefix, safe_post)
        # A long-poll that times out on read means the server or the path to it hangs: report it at once
        # (the engine's feed loop retries) instead of hanging 4 × 150 s.
        # The long-poll is never retried here: the feed reader has its own backoff and must say "offline" at once.
        long_poll = FerryAdapter(make_retry(0, backoff), pin_sha256=pin_sha256, pool_maxsize=pool_size)
        session.mount(base_url + "/v1/changes/wait", long_poll)
        # verify is passed per request: a session-level value loses to REQUESTS_CA_BUNDLE
        return base_url, verify, session

    def reconfigure(self, base_url: str, token: str | None, *, verify: bool | str = True,
                    pin_sha256: str | None = None) -> None:
        """Talk to `base_url` with `token` from now on (`ferry login` while the daemon runs).

        Every part of the engine holds this one client, so swapping its session here moves all of them at once.
        Requests already in flight finish (or fail and are retried) on the old session, which is then closed."""
        base_url, verify, session = self._connect(base_url, verify, pin_sha256)
        if token:
            session.headers["Authorization"] = f"Bearer {token}"
        old = self._session
        self.base_url, self._verify, self._session, self._token = base_url, verify, session, token
        old.close()

    # -- plumbing --------------------------------------------------------------------------------------------

    @property
    def token(self) -> str | None:
        return self._token

    @token.setter
    def token(self, value: str | None) -> None:
        self._token = value
        if value:
            self._session.headers["Authorization"] = f"Bearer {value}"
        else:
            self._session.headers.pop("Authorization", None)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> RemoteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(
        self,
        method: str,
        path: str,
        *,
        read_timeout: float | None = None,
        stream: bool = False,
        **kwargs: Any,
    ) -> requests.Response:
        url = self.base_url + path
        timeout = (self.timeout[0], read_timeout if read_timeout is not None else self.timeout[1])
        try:
            resp = self._session.request(method, url, timeout=timeout, stream=stream, verify=self._verify,
                                         **kwargs)
        except requests.RequestException as exc:
            raise error_from_exception(exc, f"{method} {url}") from exc
        if resp.status_code >= 400:
            try:
                raise error_from_response(resp)
            finally:
                resp.close()
        return resp

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        resp = self._request(method, path, **kwargs)
        try:
            body = resp.json()
        except ValueError as exc:
            raise ProtocolError(f"{method} {path}: answer is not JSON: {resp.text[:200]!r}") from exc
        if not isinstance(body, dict):
            raise ProtocolError(f"{method} {path}: expected a JSON object, got {type(body).__name__}")
        return body

    # -- session ---------------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._json("GET", "/v1/health")

    def login(self, user: str, password: str, device_name: str) -> LoginResult:
        """Trade a password for a device token (kept by this client for its later calls)."""
        body = self._json(
            "POST", "/v1/login", json={"user": user, "password": password, "device_name": device_name}
        )
        result = LoginResult.parse(body)
        self.token = result.token
        return result

    def token_info(self) -> TokenInfo:
        """When this client's token expires and when to renew it."""
        return TokenInfo.parse(self._json("GET", "/v1/token"))

    def renew_token(self) -> LoginResult:
        """Trade this token for a new one with a full lifetime. The client keeps using the old token (which the
        server accepts for a grace period) until the caller has stored the new one and sets `token`."""
        return LoginResult.parse(self._json("POST", "/v1/token/renew"))

    def logout(self) -> None:
        self._json("POST", "/v1/logout")
        self.token = None

    def limits(self) -> dict[str, int]:
        """The limits the server publishes (GET /v1/limits, no auth): name -> value."""
        b = self._json("GET", "/v1/limits")
        return {k: parse_int(b, k) for k in b}

    def account(self) -> Account:
        b = self._json("GET", "/v1/account")
        return Account(
            user=str(b.get("user", "")),
            bytes=parse_int(b, "bytes"),
            files=parse_int(b, "files"),
            blocks_bytes=parse_int(b, "blocks_bytes"),
        )

    def devices(self) -> list[Device]:
        b = self._json("GET", "/v1/devices")
        return [Device.parse(d) for d in b.get("devices", [])]

    def revoke_device(self, device_id: str) -> None:
        self._request("DELETE", f"/v1/devices/{device_id}").close()

    # -- folders shared between users (docs/api.md) -----------------------------------------------------------

    def share_folder(self, path: str, user: str, role: str) -> dict[str, Any]:
        """Share this account's folder at `path` with `user` ("rw" or "ro"); the answer says where they see it."""
        return self._json("POST", "/v1/folders/share", json={"path": path, "user": user, "role": role})

    def folder_members(self, path: str) -> list[dict[str, Any]]:
        members = self._json("GET", "/v1/folders/members", params={"path": path}).get("members")
        if not isinstance(members, list):
            raise ProtocolError("members: expected a list")
        return [m for m in members if isinstance(m, dict)]

    def unshare_folder(self, path: str, user: str | None) -> None:
        """Revoke `user` (the owner), or leave the folder mounted at `path` (user None: a member)."""
        if user is None:
            self._json("POST", "/v1/folders/leave", json={"path": path})
        else:
            self._json("POST", "/v1/folders/unshare", json={"path": path, "user": user})

    def mounts(self) -> list[dict[str, Any]]:
        found = self._json("GET", "/v1/folders/mounts").get("mounts")
        if not isinstance(found, list):
            raise ProtocolError("mounts: expected a list")
        return [m for m in found if isinstance(m, dict)]

    # -- blocks ----------------------------------------------------------------------------------------------

    def missing(self, hashes: Iterable[str]) -> list[str]:
        """Which of `hashes` this user's server side lacks (any number: split into calls of ≤ 10,000)."""
        unique = list(dict.fromkeys(hashes))
        out: list[str] = []
        for i in range(0, len(unique), MAX_HASHES_PER_MISSING):
            b = self._json(
                "POST", "/v1/blocks/missing", json={"hashes": unique[i : i + MAX_HASHES_PER_MISSING]}
            )
            out.extend(parse_str_list(b, "missing"))
        return out

    def put_block(self, hash_: str, data: bytes, *, throttle: Throttle | None = None) -> int:
        if len(data) > MAX_BLOCK:
            raise ValueError(f"block of {len(data)} bytes is over the {MAX_BLOCK}-byte limit")
        b = self._json(
            "PUT", f"/v1/blocks/{hash_}", data=PartsBody([data], throttle),
            headers={"Content-Type": "application/octet-stream"},
        )
        return parse_int(b, "size")

    def put_blocks_batch(
        self, blocks: Sequence[tuple[str, bytes]], *, throttle: Throttle | None = None
    ) -> list[str]:
        """Store many small blocks in one request (all-or-nothing on the server side)."""
        body = PartsBody(batch_parts(blocks), throttle)
        if len(body) > MAX_BATCH_BODY:
            raise ValueError(f"batch body of {len(body)} bytes is over the {MAX_BATCH_BODY}-byte limit")
        b = self._json(
            "POST", "/v1/blocks/batch", data=body, headers={"Content-Type": "application/octet-stream"}
        )
        return list(parse_str_list(b, "stored"))

    def get_block(self, hash_: str, *, throttle: Throttle | None = None) -> bytes:
        """A block's bytes, verified against its name (a mismatch is a ProtocolError, code hash_mismatch)."""
        resp = self._request("GET", f"/v1/blocks/{hash_}", stream=True)
        try:
            data = b"".join(answer_pieces(resp, MAX_BLOCK, throttle))  # one piece: itself, not a copy
        except requests.RequestException as exc:
            raise error_from_exception(exc, f"GET block {hash_}") from exc
        finally:
            resp.close()
        if block_hash(data) != hash_:
            raise ProtocolError(
                f"block {hash_} arrived corrupted ({len(data)} bytes with another hash)", code="hash_mismatch"
            )
        return data

    def get_blocks(self, hashes: Sequence[str], *, throttle: Throttle | None = None) -> dict[str, bytes]:
        """Many blocks in one request (POST /v1/blocks/fetch): hash -> bytes, each verified (see framing.py).

        The caller keeps within max_hashes_per_fetch and max_fetch_bytes; a block it does not hold is NotFound
        for the whole call (its `missing` names them)."""
        wanted = list(dict.fromkeys(hashes))
        if not wanted:
            return {}
        resp = self._request("POST", "/v1/blocks/fetch", json={"hashes": wanted}, stream=True)
        try:
            return decode_blocks(answer_pieces(resp, fetch_answer_limit(len(wanted)), throttle), wanted)
        except requests.RequestException as exc:
            raise error_from_exception(exc, "POST /v1/blocks/fetch") from exc
        finally:
            resp.close()

    # -- tree ------------------------------------------------------------------------------------------------

    def commit(self, ops: Sequence[CommitOp]) -> list[CommitResult]:
        """Apply ops in order (each alone), any number: split into requests within the server's limits
        (callers need not split)."""
        results: list[CommitResult] = []
        for count, body in commit_bodies(ops):
            b = self._json("POST", "/v1/commit", data=body, headers={"Content-Type": "application/json"})
            raw = b.get("results")
            if not isinstance(raw, list) or len(raw) != count:
                raise ProtocolError(f"commit: expected {count} results, got {raw!r:.200}")
            results.extend(CommitResult.parse(r) for r in raw)
        return results

    def changes(self, cursor: Cursor, limit: int = 1000) -> ChangesPage:
        b = self._json(
            "GET", "/v1/changes", params={"cursor": cursor, "limit": min(limit, MAX_CHANGES_LIMIT)}
        )
        return ChangesPage(
            entries=parse_entries(b), cursor=parse_cursor(b), has_more=bool(b.get("has_more"))
        )

    def iter_changes(self, cursor: Cursor, limit: int = 1000) -> Iterator[ChangesPage]:
        """Pages from `cursor` until has_more is false (the last page's cursor is where to resume)."""
        while True:
            page = self.changes(cursor, limit)
            yield page
            if not page.has_more:
                return
            cursor = page.cursor

    def wait_changes(self, cursor: Cursor, timeout: int = 60) -> WaitResult:
        """Long-poll: returns when the user's seq passes `cursor` or after `timeout` s (our read timeout is
        longer, so a quiet server is not mistaken for a dead one)."""
        timeout = max(1, min(int(timeout), MAX_WAIT_SECONDS))
        b = self._json(
            "GET",
            "/v1/changes/wait",
            params={"cursor": cursor, "timeout": timeout},
            read_timeout=timeout + 30.0,
        )
        return WaitResult(changes=bool(b.get("changes")), cursor=parse_cursor(b))

    def revisions(self, path: str) -> list[Revision]:
        b = self._json("GET", "/v1/revisions", params={"path": path})
        return [Revision.parse(r) for r in b.get("revisions", [])]

    def deleted(self, prefix: str | None = None) -> list[FeedEntry]:
        params = {"prefix": prefix} if prefix else None
        return list(parse_entries(self._json("GET", "/v1/deleted", params=params)))

    def restore(self, path: str, rev: int) -> FeedEntry:
        b = self._json("POST", "/v1/restore", json={"path": path, "rev": rev})
        entry = b.get("entry")
        if not isinstance(entry, dict):
            raise ProtocolError(f"restore: answer lacks 'entry': {b!r:.200}")
        return FeedEntry.parse(entry)

    # -- share links -----------------------------------------------------------------------------------------

    def create_share(self, path: str, *, expires_in: int | None = None, password: str | None = None) -> ShareCreated:
        """Share a server path by a public link (POST /v1/shares; never retried once sent: a replay would make a
        second link). The token in the answer is shown this once."""
        body: dict[str, Any] = {"path": path}
        if expires_in is not None:
            body["expires_in"] = expires_in
        if password is not None:
            body["password"] = password
        return ShareCreated.parse(self._json("POST", "/v1/shares", json=body))

    def shares(self) -> list[ShareLink]:
        b = self._json("GET", "/v1/shares")
        raw = b.get("shares")
        if not isinstance(raw, list):
            raise ProtocolError(f"shares: answer lacks 'shares': {b!r:.200}")
        return [ShareLink.parse(s) for s in raw]

    def revoke_share(self, share_id: str) -> None:
        self._request("DELETE", f"/v1/shares/{urllib.parse.quote(share_id, safe='')}").close()


__all__ = ["MAX_BATCH_BODY", "MAX_BLOCK", "RemoteClient", "RemoteError", "Throttle", "commit_bodies", "encode_batch"]
