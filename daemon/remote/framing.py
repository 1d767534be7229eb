"""The block records of POST /v1/blocks/batch (written here) and of POST /v1/blocks/fetch's answer (read here):
records of 64 hex characters + u64 big-endian length + bytes.

The answer is checked as strictly as a block from GET /v1/blocks/{hash}: every record must be one that was asked
for, must hash to its name, and the stream must end exactly after the last record, with every block asked for
present. Anything else is a ProtocolError and nothing of the answer is handed out, so a caller never writes a
byte of a truncated or tampered answer.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

from ferrysync.daemon.local.chunker import block_hash
from ferrysync.daemon.remote.errors import ProtocolError
from ferrysync.daemon.remote.limits import MAX_BLOCK

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


def decode_blocks(pieces: Iterable[bytes], wanted: Sequence[str]) -> dict[str, bytes]:
    """Parse a fetch answer arriving in `pieces`; returns hash -> verified bytes for every hash of `wanted`."""
    expected = set(wanted)
    out: dict[str, bytes] = {}
    buf = bytearray()
    header: tuple[str, int] | None = None
    for piece in pieces:
        buf += piece
        while True:
            if header is None:
                if len(buf) < HEADER:
                    break
                header = _header(bytes(buf[:HEADER]), expected, out)
                del buf[:HEADER]
            digest, length = header
            if len(buf) < length:
                break
            data = bytes(buf[:length])
            del buf[:length]
            header = None
            if block_hash(data) != digest:
                raise ProtocolError(f"block {digest} arrived corrupted ({length} bytes with another hash)",
                                    code="hash_mismatch")
            out[digest] = data
    if header is not None or buf:
        raise ProtocolError("the blocks' answer ended in the middle of a record (truncated)")
    absent = expected - out.keys()
    if absent:
        raise ProtocolError(f"the blocks' answer lacks {len(absent)} of the blocks asked for, e.g. {min(absent)}")
    return out


def _header(raw: bytes, expected: set[str], seen: dict[str, bytes]) -> tuple[str, int]:
    digest = raw[:64].decode("ascii", errors="replace")
    (length,) = struct.unpack(">Q", raw[64:])
    if digest not in expected or digest in seen:
        raise ProtocolError(f"the blocks' answer holds a record not asked for (or twice): {digest!r}")
    if length > MAX_BLOCK:
        raise ProtocolError(f"the blocks' answer announces {length} bytes for {digest}, over the block limit")
    return digest, length
