"""The block records of POST /v1/blocks/batch (written here) and of POST /v1/blocks/fetch's answer (read here):
records of 64 hex characters + u64 big-endian length + bytes.

The answer is checked as strictly as a block from GET /v1/blocks/{hash}: every record must be one that was asked
for, must hash to its name, and the stream must end exactly after the last record, with every block asked for
present. Anything else is a ProtocolError and nothing of the answer is handed out, so a caller never writes a
byte of a truncated or tampered answer.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterable, Sequence

from ferrysync.daemon.local.chunker import block_hash
from ferrysync.daemon.remote.errors import ProtocolError
from ferrysync.daemon.remote.limits import MAX_BLOCK, MAX_FETCH_BYTES

HEADER = 64 + 8


def batch_parts(blocks: Sequence[tuple[str, bytes]]) -> list[bytes]:
    """The /v1/blocks/batch body as parts (remote/bodies.py sends them as they are): per record its header, then
    the bytes."""
    parts: list[bytes] = []
    for h, data in blocks:
        if len(h) != 64:
            raise ValueError(f"not a BLAKE3 hex hash: {h!r}")
        parts += [h.encode("ascii") + struct.pack(">Q", len(data)), data]
    return parts


def encode_batch(blocks: Sequence[tuple[str, bytes]]) -> bytes:
    """The same body in one piece (the server frames fetched blocks the same way; tests build answers with it)."""
    return b"".join(batch_parts(blocks))


def fetch_answer_limit(count: int) -> int:
    """The most a fetch answer for `count` blocks may hold: the server's byte budget (which one block of the
    largest size may pass alone) plus a header each. Checked before an answer is read into memory."""
    return max(MAX_FETCH_BYTES, MAX_BLOCK) + count * HEADER


def decode_blocks(pieces: Iterable[bytes], wanted: Sequence[str]) -> dict[str, bytes]:
    """Parse a fetch answer arriving in `pieces`; returns hash -> verified bytes for every hash of `wanted`.

    The pieces are kept as they came and each block is cut from them once: a copy of its slice of one piece,
    or one join of the pieces it spans (gathering the answer in a growing buffer first copied every byte
    three times)."""
    expected = set(wanted)
    out: dict[str, bytes] = {}
    held = _Held()
    header: tuple[str, int] | None = None
    for piece in pieces:
        held.add(piece)
        while True:
            if header is None:
                if held.size < HEADER:
                    break
                header = _header(held.take(HEADER), expected, out)
            digest, length = header
            if held.size < length:
                break
            data = held.take(length)
            header = None
            if block_hash(data) != digest:
                raise ProtocolError(f"block {digest} arrived corrupted ({length} bytes with another hash)",
                                    code="hash_mismatch")
            out[digest] = data
    if header is not None or held.size:
        raise ProtocolError("the blocks' answer ended in the middle of a record (truncated)")
    absent = expected - out.keys()
    if absent:
        raise ProtocolError(f"the blocks' answer lacks {len(absent)} of the blocks asked for, e.g. {min(absent)}")
    return out


class _Held:
    """The pieces of an answer not parsed yet, in order, the first from `start` on."""

    def __init__(self) -> None:
        self._pieces: deque[bytes] = deque()
        self._start = 0
        self.size = 0

    def add(self, piece: bytes) -> None:
        if piece:
            self._pieces.append(piece)
            self.size += len(piece)

    def take(self, n: int) -> bytes:
        """The next `n` bytes (n <= size): a piece that is exactly them is handed out as it is."""
        if n == 0:
            return b""
        first = self._pieces[0]
        if self._start == 0 and len(first) == n:
            self._pieces.popleft()
            self.size -= n
            return first
        if len(first) - self._start >= n:
            data = first[self._start:self._start + n]
            self._advance(n)
            return data
        views: list[memoryview] = []
        need = n
        while need:
            first = self._pieces[0]
            k = min(need, len(first) - self._start)
            views.append(memoryview(first)[self._start:self._start + k])
            self._advance(k)
            need -= k
        return b"".join(views)

    def _advance(self, n: int) -> None:
        self._start += n
        self.size -= n
        if self._start == len(self._pieces[0]):
            self._pieces.popleft()
            self._start = 0


def _header(raw: bytes, expected: set[str], seen: dict[str, bytes]) -> tuple[str, int]:
    digest = raw[:64].decode("ascii", errors="replace")
    (length,) = struct.unpack(">Q", raw[64:])
    if digest not in expected or digest in seen:
        raise ProtocolError(f"the blocks' answer holds a record not asked for (or twice): {digest!r}")
    if length > MAX_BLOCK:
        raise ProtocolError(f"the blocks' answer announces {length} bytes for {digest}, over the block limit")
    return digest, length
