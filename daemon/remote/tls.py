"""Transport policy for one Ferry server: pooled connections, retries of idempotent calls, cert pinning.

A self-hosted server often has a self-signed certificate. Rather than turning verification off, the user pins
the SHA-256 fingerprint of the server's DER certificate: the chain is then not checked against a CA, but the
peer must present exactly that certificate (urllib3 compares it right after the handshake, before any byte of
the request is sent).
"""

from __future__ import annotations

import hashlib
import inspect
import re
import ssl
from collections.abc import Iterable, Mapping
from typing import Any

from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def normalize_fingerprint(fingerprint: str) -> str:
    """'AB:CD:…' or 'abcd…' → 64 lowercase hex chars; anything else is a clear ValueError."""
    fp = fingerprint.strip().replace(":", "").replace(" ", "").lower()
    if fp.startswith("sha256/") or fp.startswith("sha256="):
        fp = fp[7:]
    if not _HEX64.match(fp):
        raise ValueError(f"not a SHA-256 certificate fingerprint (64 hex digits): {fingerprint!r}")
    return fp


def certificate_sha256(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def fetch_certificate_sha256(host: str, port: int, timeout: float = 10.0) -> str:
    """The fingerprint a server presents now, to show the user before pinning it (trust on first use)."""
    pem = ssl.get_server_certificate((host, port), timeout=timeout)
    return certificate_sha256(ssl.PEM_cert_to_DER_cert(pem))


def make_retry(
    total: int,
    backoff: float,
    methods: Iterable[str] = IDEMPOTENT_METHODS,
    backoff_max: float = 15.0,
    read: int | None = None,
) -> Retry:
    """Exponential backoff with jitter. Connection failures are retried for any method (nothing was sent);
    read errors and 5xx answers only for `methods`. TLS errors are never retried (`other=0`)."""
    # Cap a server's Retry-After (urllib3 ≥ 2.6 knows the option): a call never sleeps for hours.
    capped: dict[str, Any] = {}
    if "retry_after_max" in inspect.signature(Retry).parameters:
        capped["retry_after_max"] = 60
    return Retry(
        total=total,
        connect=total,
        read=total if read is None else read,
        status=total,
        other=0,
        redirect=0,
        allowed_methods=frozenset(m.upper() for m in methods),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff,
        backoff_jitter=backoff,
        backoff_max=backoff_max,
        raise_on_status=False,
        respect_retry_after_header=True,
        **capped,
    )


SEND_PIECE = 1024 * 1024
"""How much of a file-like request body urllib3 reads and sends at a time (its default is 16 KiB): an 8 MiB block
batch in 8 pieces instead of 512. remote/bodies.py's PartsBody gives smaller pieces while a limit is set."""


class FerryAdapter(HTTPAdapter):
    """An HTTPAdapter with a retry policy and, optionally, a pinned server certificate."""

    def __init__(self, retries: Retry, *, pin_sha256: str | None = None, pool_maxsize: int = 8) -> None:
        self._pin = normalize_fingerprint(pin_sha256) if pin_sha256 is not None else None
        super().__init__(max_retries=retries, pool_connections=2, pool_maxsize=pool_maxsize)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        if self._pin:
            pool_kwargs["assert_fingerprint"] = self._pin
        pool_kwargs.setdefault("blocksize", SEND_PIECE)
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> Response:
        # With a pin, the fingerprint replaces CA validation (a self-signed certificate has no CA to check).
        if self._pin:
            verify = False
        return super().send(
            request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
        )
