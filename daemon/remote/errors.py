"""Typed errors of the Ferry HTTP API, so the engine reacts to kinds of failure rather than to status codes.

ServerUnavailable means "offline, try later" (connection refused, timeouts, 5xx); everything else is an
answer the server gave on purpose and carries its machine-readable `code` and human `message`.
"""

from __future__ import annotations

import re
from typing import Any

import requests


class RemoteError(Exception):
    """Base of every failure talking to a Ferry server."""

    def __init__(self, message: str, *, code: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"[{self.code}]")
        if self.status is not None:
            parts.append(f"(HTTP {self.status})")
        return " ".join(parts)


class ServerUnavailable(RemoteError):
    """The server cannot be reached or is failing right now: the engine goes offline and retries later."""


class CertificateError(RemoteError):
    """TLS verification failed (untrusted certificate, or not the pinned one): never retried or ignored.

    `detail` says what is wrong and what to do without the request's method and URL, for a status line."""

    def __init__(self, message: str, *, code: str = "", detail: str = "") -> None:
        super().__init__(message, code=code)
        self.detail = detail or message


class ProtocolError(RemoteError):
    """The server answered something that does not follow the API contract."""


class BadRequest(RemoteError):
    """400: the request was malformed (bad_request, bad_path, hash_mismatch, payload_invalid)."""


class Unauthorized(RemoteError):
    """401: wrong credentials, or the device token was revoked: the user must log in again."""


class Forbidden(RemoteError):
    """403."""


class NotFound(RemoteError):
    """404: no such block, path, revision or device (for this user)."""


class ConflictError(RemoteError):
    """409."""


class TooLarge(RemoteError):
    """413: a block or body over the server's limits."""


class InsufficientStorage(RemoteError):
    """507: the server (or the user's quota) is full."""


class CursorExpired(RemoteError):
    """410: the change-feed cursor predates deletions the server has pruned: list again from cursor 0."""


_BY_STATUS: dict[int, type[RemoteError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: ConflictError,
    410: CursorExpired,
    413: TooLarge,
    422: BadRequest,
    507: InsufficientStorage,
}


def error_from_response(resp: requests.Response) -> RemoteError:
    """Map an error response to its typed exception, keeping the server's code and message."""
    code, message = "", ""
    try:
        body: Any = resp.json()
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):
            code = str(err.get("code") or "")
            message = str(err.get("message") or "")
    except ValueError:
        pass
    if not message:
        text = resp.text.strip()
        message = text[:200] if text else resp.reason or "error"
    where = f"{resp.request.method} {resp.url}" if resp.request is not None else resp.url
    full = f"{where}: {message}"
    if resp.status_code >= 500 and resp.status_code != 507:
        return ServerUnavailable(full, code=code or "server_error", status=resp.status_code)
    cls = _BY_STATUS.get(resp.status_code, RemoteError)
    return cls(full, code=code, status=resp.status_code)


_FINGERPRINTS = re.compile(r'Expected "([0-9a-fA-F:]+)", got "([0-9a-fA-F:]+)"')


def _pin_mismatch(text: str) -> str:
    """What a user sees for a pin mismatch: both fingerprints (so the new one can be checked with the server's
    operator) and the way out; never a suggestion to trust the new certificate blindly."""
    found = _FINGERPRINTS.search(text)
    seen = f" (pinned {found.group(1).lower()}, the server presents {found.group(2).lower()})" if found else ""
    return (f"the server's certificate does not match the pinned one{seen}: if the server's certificate was renewed, "
            "check the new fingerprint with its operator and run `ferry login` again with the new --pin; otherwise "
            "someone may be intercepting the connection. Not retried until then")


def error_from_exception(exc: requests.RequestException, what: str) -> RemoteError:
    """Map a transport failure (no usable HTTP answer) to a typed error."""
    if isinstance(exc, requests.exceptions.SSLError):
        text = str(exc)
        if "Fingerprints did not match" in text:
            return CertificateError(
                f"{what}: the server's certificate does not match the pinned SHA-256 fingerprint "
                f"(the certificate changed, or someone is intercepting the connection): {text}",
                code="pin_mismatch", detail=_pin_mismatch(text),
            )
        return CertificateError(f"{what}: TLS certificate verification failed: {text}", code="tls",
                                detail=f"the server's certificate is not trusted ({text}); if it is self-signed, "
                                       "run `ferry login` again with --pin or --cafile")
    if isinstance(exc, requests.exceptions.RetryError):
        return ServerUnavailable(f"{what}: server kept failing after retries: {exc}", code="retries")
    offline = (requests.exceptions.Timeout, requests.exceptions.ConnectionError,
               requests.exceptions.ChunkedEncodingError)
    if isinstance(exc, offline):
        return ServerUnavailable(f"{what}: cannot reach the server: {exc}", code="unreachable")
    return RemoteError(f"{what}: {exc}", code="transport")
