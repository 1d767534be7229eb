"""Splitting a batch upload's body into its records as it arrives, copying each block's bytes once.

A record is 64 hex characters (the block's BLAKE3), an 8-byte big-endian length, then that many bytes. The body
arrives in the HTTP server's chunks (64 KiB and up), which rarely line up with records. Gathering them in one
growing `bytearray` and slicing each block out of it copied every byte three times on the event loop's thread (in,
out, and into `bytes`), and that thread receives every upload: it was 31 % of the GIL's time in a 1 GiB upload.
Here the chunks are kept as they came and each block is joined from them once; a chunk that straddles two records is
cut with a `memoryview`, which copies nothing.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable

HEADER = 64 + 8


def record_header(digest: str, length: int) -> bytes:
    """A record's header, as a batch upload sends it and a fetch answers with it."""
    return digest.encode("ascii") + struct.pack(">Q", length)


class BadRecord(ValueError):
    """The body is not a sequence of well-formed records (the message says what is wrong)."""


class RecordSplitter:
    """Feed it the body's chunks in order; it returns the records each chunk completes. `check_header` sees each
    (digest, length) before its bytes are gathered, and may raise to refuse the record."""

    def __init__(self, check_header: Callable[[str, int], None]) -> None:
        self._check = check_header
        self._parts: deque[bytes | memoryview] = deque()
        self._have = 0
        self._header: tuple[str, int] | None = None

    def feed(self, chunk: bytes) -> list[tuple[str, bytes]]:
        if chunk:
            self._parts.append(chunk)
            self._have += len(chunk)
        out: list[tuple[str, bytes]] = []
        while True:
            if self._header is None:
                if self._have < HEADER:
                    return out
                self._header = self._parse(self._take(HEADER))
            digest, length = self._header
            if self._have < length:
                return out
            out.append((digest, self._take(length)))
            self._header = None

    def finish(self) -> None:
        """The body ended: raise BadRecord when it stopped inside a record."""
        if self._header is not None or self._have:
            raise BadRecord("truncated batch: the last record is incomplete")

    def _parse(self, raw: bytes) -> tuple[str, int]:
        try:
            digest = raw[:64].decode("ascii")
        except UnicodeDecodeError:
            raise BadRecord("a record must start with 64 hex characters") from None
        (length,) = struct.unpack(">Q", raw[64:])
        self._check(digest, length)
        return digest, length

    def _take(self, n: int) -> bytes:
        """The next `n` bytes (n <= what is held) as one `bytes`, copied once."""
        taken: list[bytes | memoryview] = []
        need = n
        while need:
            part = self._parts[0]
            if len(part) <= need:
                taken.append(self._parts.popleft())
                need -= len(part)
            else:
                view = part if isinstance(part, memoryview) else memoryview(part)
                taken.append(view[:need])
                self._parts[0] = view[need:]
                need = 0
        self._have -= n
        if len(taken) == 1 and isinstance(taken[0], bytes):
            return taken[0]
        return b"".join(taken)
