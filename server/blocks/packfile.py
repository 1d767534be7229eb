"""The pack file format: records appended one after another, each naming itself, so an index can be rebuilt.

A record is b"FBK1" + the block's 32-byte BLAKE3 + its length (4 bytes, big-endian) + its bytes. Because every
record carries its hash, a pack can be read back without its index (after a crash, a lost index commit, or a
restore of the pack files alone) and a record cut short by a crash fails its hash check and is skipped.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from ferrysync.server.hashing import block_hash

MAGIC = b"FBK1"
_HEADER = struct.Struct(">4s32sI")
HEADER_BYTES = _HEADER.size  # 40
_READ = 4 * 1024 * 1024


def record(digest: str, data: bytes) -> bytes:
    return _HEADER.pack(MAGIC, bytes.fromhex(digest), len(data)) + data


@dataclass(frozen=True)
class Found:
    digest: str
    offset: int  # of the block's bytes (past the header)
    length: int


def scan(fd: int, start: int, end: int, max_block: int) -> Iterator[Found]:
    """The intact records between `start` and `end`; stops at the first header that cannot be one (a torn tail).

    A record whose bytes do not hash to its name is skipped (torn or damaged: never indexed, never served).
    """
    pos = start
    while pos + HEADER_BYTES <= end:
        magic, raw, length = _HEADER.unpack(os.pread(fd, HEADER_BYTES, pos))
        if magic != MAGIC or length > max_block or pos + HEADER_BYTES + length > end:
            return
        data = _read(fd, length, pos + HEADER_BYTES)
        if block_hash(data) == raw.hex():
            yield Found(raw.hex(), pos + HEADER_BYTES, length)
        pos += HEADER_BYTES + length


def _read(fd: int, length: int, offset: int) -> bytes:
    parts: list[bytes] = []
    while length > 0:
        part = os.pread(fd, min(length, _READ), offset)
        if not part:
            break
        parts.append(part)
        offset += len(part)
        length -= len(part)
    return b"".join(parts)


def read_at(fd: int, offset: int, length: int) -> bytes:
    return _read(fd, length, offset)
