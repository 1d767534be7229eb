"""Content-defined chunking (FastCDC) and BLAKE3 naming: the units Ferry stores, dedups and transfers.

Chunk boundaries depend on content, not offsets, so an insertion in the middle of a big file changes about one
chunk. Every client must cut with the same parameters, because a file's content hash is derived from its chunk list.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import blake3
from pyfastcdc import FastCDC

from ferrysync.daemon.local import fsio
from ferrysync.daemon.model import Chunk

MIN_SIZE = 256 * 1024
AVG_SIZE = 1024 * 1024  # FastCDC's effective average is AVG_SIZE + MIN_SIZE (about 1.25 MiB)
MAX_SIZE = 4 * 1024 * 1024
_READ_SIZE = 8 * 1024 * 1024
WHOLE_READ_LIMIT = 16 * 1024 * 1024  # smaller files are read in one go: cut_stream's set-up costs ~20 ms


class ChunkSink(Protocol):
    """Takes a file's blocks as they are cut, while the file is read once to hash it (transfer/early.py sends them
    to the server then, so a big file's upload overlaps its hashing instead of following it)."""

    def offer(self, block_hash: str, data: bytes) -> None:
        """The next block, in order; `data` is the caller's own copy. May wait (the sink's back-pressure)."""

    def close(self, whole: bool) -> None:
        """The read ended: `whole` when every block was offered and the file did not change meanwhile."""


class FileChangedWhileReading(Exception):
    """The file's size or mtime moved while it was read: its digest is not trustworthy; read it again later."""


@dataclass(frozen=True, slots=True)
class FileDigest:
    content_hash: str
    chunks: tuple[Chunk, ...]
    size: int

    @property
    def block_hashes(self) -> tuple[str, ...]:
        return tuple(c.hash for c in self.chunks)


def block_hash(data: bytes | bytearray | memoryview) -> str:
    return blake3.blake3(data).hexdigest()


def content_hash_of(block_hashes: Iterable[str]) -> str:
    """BLAKE3 over the raw 32-byte digests of the blocks, in order (the server computes the same)."""
    h = blake3.blake3()
    for bh in block_hashes:
        h.update(bytes.fromhex(bh))
    return h.hexdigest()


def _cutter() -> FastCDC:
    return FastCDC(AVG_SIZE, min_size=MIN_SIZE, max_size=MAX_SIZE)


def chunk_bytes(data: bytes | bytearray | memoryview) -> list[Chunk]:
    if not data:
        return []
    return [Chunk(block_hash(c.data), c.offset, c.length) for c in _cutter().cut_buf(data)]


def _digest_stream(stream: BinaryIO, sink: ChunkSink | None = None) -> tuple[list[Chunk], int]:
    chunks: list[Chunk] = []
    size = 0
    for c in _cutter().cut_stream(stream):
        h = block_hash(c.data)
        chunks.append(Chunk(h, c.offset, c.length))
        size += c.length
        if sink is not None:
            sink.offer(h, bytes(c.data))  # a copy: the cutter reads the next bytes into the same buffer
    return chunks, size


def hash_file(path: str | os.PathLike[str], sink: ChunkSink | None = None) -> FileDigest:
    """Read a file once, cutting and hashing as it goes; refuse a digest of a file that changed meanwhile.

    `sink` is offered each block of a file too big to read in one go, as it is cut, and closed once the read ends
    (whole or not); a smaller file is hashed in milliseconds, with nothing to overlap."""
    p = Path(path)
    whole = False  # the sink is closed whatever happens: it may hold the user's view of an upload
    try:
        with fsio.open_file(p, "rb", buffering=_READ_SIZE) as f:
            before = fsio.fstat(f.fileno(), p)
            if before.st_size <= WHOLE_READ_LIMIT:
                data = fsio.read(f, WHOLE_READ_LIMIT + 1, p)
                chunks, size = chunk_bytes(data), len(data)
            else:
                chunks, size = _digest_stream(f, sink)
            after = fsio.fstat(f.fileno(), p)
        if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or size != after.st_size:
            raise FileChangedWhileReading(str(p))
        whole = True
    finally:
        if sink is not None:
            sink.close(whole)
    return FileDigest(content_hash_of(c.hash for c in chunks), tuple(chunks), size)
