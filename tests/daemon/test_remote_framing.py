"""The fetch answer's parser: a truncated, padded or tampered answer is refused whole (nothing handed out)."""

from __future__ import annotations

import struct

import pytest

from ferrysync.daemon.local.chunker import block_hash
from ferrysync.daemon.remote.client import encode_batch
from ferrysync.daemon.remote.errors import ProtocolError
from ferrysync.daemon.remote.framing import decode_blocks
from ferrysync.daemon.remote.limits import MAX_BLOCK

BLOCKS = [b"", b"a", b"hello world" * 300, bytes(range(256)) * 40]
HASHES = [block_hash(b) for b in BLOCKS]
ANSWER = encode_batch(list(zip(HASHES, BLOCKS, strict=True)))  # the server frames answers as uploads are framed


def _pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("piece", [1, 7, 72, 4096, len(ANSWER)])
def test_every_block_comes_out_whatever_the_pieces_the_network_delivers(piece: int) -> None:
    assert decode_blocks(_pieces(ANSWER, piece), HASHES) == dict(zip(HASHES, BLOCKS, strict=True))


@pytest.mark.parametrize("cut", [1, 40, 72, 73, len(ANSWER) - 1])
def test_a_truncated_answer_is_refused(cut: int) -> None:
    with pytest.raises(ProtocolError):
        decode_blocks([ANSWER[:-cut]], HASHES)


def test_trailing_bytes_are_refused() -> None:
    with pytest.raises(ProtocolError, match="truncated"):
        decode_blocks([ANSWER + b"x"], HASHES)


def test_a_block_with_the_wrong_bytes_is_refused_as_a_hash_mismatch() -> None:
    tampered = encode_batch([(HASHES[2], b"X" + BLOCKS[2][1:])])
    with pytest.raises(ProtocolError) as err:
        decode_blocks([tampered], [HASHES[2]])
    assert err.value.code == "hash_mismatch"


def test_a_block_not_asked_for_or_sent_twice_is_refused() -> None:
    with pytest.raises(ProtocolError, match="not asked for"):
        decode_blocks([ANSWER], HASHES[:2])
    twice = encode_batch([(HASHES[1], BLOCKS[1]), (HASHES[1], BLOCKS[1])])
    with pytest.raises(ProtocolError, match="twice"):
        decode_blocks([twice], [HASHES[1]])


def test_an_answer_lacking_a_block_is_refused() -> None:
    with pytest.raises(ProtocolError, match="lacks 1"):
        decode_blocks([encode_batch([(HASHES[0], BLOCKS[0])])], HASHES[:2])


def test_an_announced_length_over_the_block_limit_is_refused_before_reading_it() -> None:
    header = HASHES[0].encode() + struct.pack(">Q", MAX_BLOCK + 1)
    with pytest.raises(ProtocolError, match="over the block limit"):
        decode_blocks([header], [HASHES[0]])


def test_a_piece_that_is_exactly_a_block_is_handed_out_as_it_is_and_others_are_cut_once() -> None:
    """The answer is never gathered into one buffer: a block arriving as one piece is that piece; a block spread
    over pieces (or sharing one) is joined or sliced once."""
    records = [(h, b) for h, b in zip(HASHES, BLOCKS, strict=True) if b]
    pieces: list[bytes] = []
    for h, b in records:
        pieces += [h.encode() + struct.pack(">Q", len(b)), bytes(b)]
    out = decode_blocks(pieces, [h for h, _ in records])
    assert all(out[h] is pieces[2 * i + 1] for i, (h, _) in enumerate(records))
    spread = _pieces(b"".join(pieces), 1000)
    assert decode_blocks(spread, [h for h, _ in records]) == dict(records)
