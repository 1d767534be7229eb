"""Block bodies both ways: sent from the blocks' own buffers, and read in one piece, each paced by its limit.

A batch body used to be built by joining its records into one new 8 MiB `bytes`, then read back out of a
`BytesIO` in 16 KiB copies (urllib3's default block size): two copies of every byte sent and 512 Python-level
reads per batch, all on the GIL, in a daemon whose upload shares two cores with everything else. Profiled during
1 GiB up, the join alone was 14 % of the daemon's samples. Here the body is the list of its parts (record headers
and the blocks' bytes as they were read) and each read returns a `memoryview` slice of one part: nothing is
copied on the way to the socket.

The body is seekable (urllib3 rewinds it before a retry) and has a length (requests sends it as Content-Length,
so the server can refuse an oversized batch before reading it).

An answer holding blocks is read the same way round (`answer_pieces`): requests' `.content` gathers a body in
10 KiB reads, each through urllib3's and http.client's Python layers, and `iter_content` in pieces of the size
asked for, both with a copy at the end. One 4 MiB block cost 11 ms of CPU that way and 2 ms read in one call
(loopback, this 2-core machine: `.content` 0.7 s per 256 MiB, 1 MiB pieces 0.4 s, one read 0.13 s), on the
daemon's two cores that the download shares with hashing and writing. So unless a download limit is set, an
answer of a declared length is read in one call; a limit, an answer of no declared length, or a compressed one
(its length is not what it decodes to) is read in PACED_PIECE pieces, each asked of the limit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import requests
import urllib3

from ferrysync.daemon.remote.errors import ProtocolError

PACED_PIECE = 64 * 1024  # the most that leaves at once while an upload limit is set


class Throttle(Protocol):
    """What a bandwidth limiter offers (transfer.bandwidth.TokenBucket): block until `n` bytes may pass."""

    def consume(self, n: int) -> object: ...

    @property
    def rate(self) -> float:
        """Bytes per second now; 0 when unlimited."""
        ...


class PartsBody:
    """A request body read straight out of `parts`, in pieces of at most the size asked for (never across two
    parts), each asked of `throttle` first; while a limit is set a piece is at most PACED_PIECE, so the limit
    holds within a request, and one set mid-request applies to the pieces still to go."""

    def __init__(self, parts: Sequence[bytes], throttle: Throttle | None = None) -> None:
        self._parts = [memoryview(p) for p in parts if p]
        self._size = sum(len(p) for p in self._parts)
        self._throttle = throttle
        self._pos = 0  # offset in the whole body
        self._index = 0  # the part that holds `_pos`
        self._offset = 0  # `_pos` within that part

    def __len__(self) -> int:
        return self._size

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 1:
            pos += self._pos
        elif whence == 2:
            pos += self._size
        if not 0 <= pos <= self._size:
            raise ValueError(f"seek to {pos} outside a body of {self._size} bytes")
        self._pos, self._index, self._offset = pos, 0, pos
        while self._index < len(self._parts) and self._offset >= len(self._parts[self._index]):
            self._offset -= len(self._parts[self._index])
            self._index += 1
        return pos

    def read(self, size: int | None = -1) -> bytes | memoryview:
        """Up to `size` bytes, from one part (a short read, as a raw stream may give); with no size, the whole
        rest, as a file's `read()` does (one copy: what an in-process transport or a proxy may ask for)."""
        if size is None or size < 0:
            rest: list[bytes | memoryview] = []
            while piece := self.read(len(self) - self._pos):
                rest.append(piece)
            return b"".join(rest)
        if self._index >= len(self._parts):
            return memoryview(b"")
        part = self._parts[self._index]
        want = min(len(part) - self._offset, size)
        if self._throttle is not None and self._throttle.rate:
            want = min(want, PACED_PIECE)
        piece = part[self._offset:self._offset + want]
        self._offset += want
        self._pos += want
        if self._offset >= len(part):
            self._index, self._offset = self._index + 1, 0
        if self._throttle is not None and want:
            self._throttle.consume(want)
        return piece


def answer_pieces(resp: requests.Response, limit: int, throttle: Throttle | None = None) -> Iterator[bytes]:
    """The body of `resp` (opened with `stream=True`) in pieces, at most `limit` bytes in all: a longer answer
    is a ProtocolError before its bytes are read (a declared length) or once they pass it. Transport failures
    are raised as requests raises them from `iter_content`, so callers map them in one place."""
    declared = resp.headers.get("Content-Length", "")
    plain = resp.headers.get("Content-Encoding", "identity").lower() == "identity"  # else the length is packed
    length = int(declared) if declared.isdecimal() and plain else None
    if length is not None and length > limit:
        raise ProtocolError(f"the server announces {length} bytes where at most {limit} can come")
    paced = throttle is not None and throttle.rate > 0
    if length is not None and not paced and isinstance(resp.raw, urllib3.BaseHTTPResponse):
        yield _read_whole(resp.raw)
        return
    total = 0
    for piece in resp.iter_content(PACED_PIECE):
        total += len(piece)
        if total > limit:
            raise ProtocolError(f"the server sent more than the {limit} bytes that can come")
        if throttle is not None:
            throttle.consume(len(piece))
        yield piece


def _read_whole(raw: urllib3.BaseHTTPResponse) -> bytes:
    """One read of the declared length, urllib3's errors raised as requests' `iter_content` raises them."""
    try:
        return raw.read(decode_content=True)
    except urllib3.exceptions.ProtocolError as exc:  # cut short (IncompleteRead), connection reset
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    except urllib3.exceptions.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from exc
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.exceptions.ConnectionError(exc) from exc
    except urllib3.exceptions.SSLError as exc:
        raise requests.exceptions.SSLError(exc) from exc
