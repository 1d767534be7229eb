"""FastCDC cutting of uploads arriving in pieces, with the daemon's parameters, so a file uploaded through the web
app is cut into exactly the blocks the daemon would cut it into: dedup holds between the two, and a file uploaded
here and synced to a desktop costs no second upload. The server may not import daemon code, so the parameters are
stated again here; tests/test_wire_contract.py checks both sides cut alike.
"""

from __future__ import annotations

from collections.abc import Iterator

from pyfastcdc import FastCDC

MIN_SIZE = 256 * 1024
AVG_SIZE = 1024 * 1024
MAX_SIZE = 4 * 1024 * 1024
_CUT_AT = 2 * MAX_SIZE  # bytes held before cutting: every chunk but the last is final once this many are held


class StreamCutter:
    """Feed bytes as they arrive; take the finished chunks. FastCDC's boundaries depend only on the bytes since
    the previous boundary, so cutting the buffer and keeping its last (possibly unfinished) chunk for the next
    round gives the same chunks as cutting the whole file at once."""

    def __init__(self) -> None:
        self._cdc = FastCDC(AVG_SIZE, min_size=MIN_SIZE, max_size=MAX_SIZE)
        self._buf = bytearray()

    def feed(self, data: bytes) -> Iterator[bytes]:
        self._buf += data
        if len(self._buf) < _CUT_AT:
            return
        chunks = [bytes(c.data) for c in self._cdc.cut_buf(bytes(self._buf))]
        yield from chunks[:-1]
        self._buf = bytearray(chunks[-1])

    def finish(self) -> Iterator[bytes]:
        if self._buf:
            yield from (bytes(c.data) for c in self._cdc.cut_buf(bytes(self._buf)))
        self._buf = bytearray()


def cut(data: bytes) -> list[bytes]:
    """The chunks of a whole buffer (what the daemon cuts a file of these bytes into)."""
    cutter = StreamCutter()
    return [*cutter.feed(data), *cutter.finish()]
