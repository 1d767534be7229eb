"""A batch upload's body split into records however the HTTP server happens to cut it into chunks."""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrysync.server.batch_records import BadRecord, RecordSplitter


def encode(records: list[tuple[str, bytes]]) -> bytes:
    return b"".join(d.encode() + struct.pack(">Q", len(b)) + b for d, b in records)


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(body) + 1) for c in cuts} | {0, len(body)})
    return [body[a:b] for a, b in itertools.pairwise(points)]


def no_check(_digest: str, _length: int) -> None:
    return None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=8), st.lists(st.integers(min_value=0), max_size=40))
def test_any_chunking_gives_back_the_records_sent(blocks: list[bytes], cuts: list[int]) -> None:
    records = [(f"{i:064x}", b) for i, b in enumerate(blocks)]
    splitter = RecordSplitter(no_check)
    got = [r for chunk in split(encode(records), cuts) for r in splitter.feed(chunk)]
    splitter.finish()
    assert got == records
    assert all(type(data) is bytes for _, data in got)  # stored and hashed as bytes, never a view of a chunk


@pytest.mark.parametrize("cut", [1, 40, 72, 75, 100])
def test_a_body_that_stops_inside_a_record_is_refused(cut: int) -> None:
    body = encode([("a" * 64, b"x" * 10), ("b" * 64, b"y" * 50)])
    splitter = RecordSplitter(no_check)
    assert splitter.feed(body[: 82 + cut]) == [("a" * 64, b"x" * 10)]
    with pytest.raises(BadRecord, match="truncated batch"):
        splitter.finish()


def test_the_header_is_checked_before_the_block_arrives() -> None:
    """An oversized or malformed record is refused at its header: the server does not gather its bytes first."""
    seen: list[tuple[str, int]] = []

    def refuse_big(digest: str, length: int) -> None:
        seen.append((digest, length))
        if length > 100:
            raise ValueError("too large")

    splitter = RecordSplitter(refuse_big)
    with pytest.raises(ValueError, match="too large"):
        splitter.feed(("c" * 64).encode() + struct.pack(">Q", 10**9))
    assert seen == [("c" * 64, 10**9)]
    with pytest.raises(BadRecord, match="64 hex characters"):
        RecordSplitter(no_check).feed(b"\xff" * 72)
