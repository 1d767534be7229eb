"""POST /v1/blocks/fetch: many blocks in one answer, all or nothing, only the caller's, each verified on read."""

from __future__ import annotations

import os
import struct

import requests
from srvapi import Api, Server, batch_body, h
from test_server_blocks import _damage

from ferrysync.server.limits import MAX_FETCH_BYTES, MAX_HASHES_PER_FETCH

# Run against SQLite+disk and PostgreSQL+S3 (see conftest.py).
BACKENDS = ("sqlite", "pg-s3")

MIB = 1024 * 1024


def _records(body: bytes) -> list[tuple[str, bytes]]:
    """Parse the answer's framing (64 hex + u64 big-endian length + bytes), insisting it ends on a record."""
    out: list[tuple[str, bytes]] = []
    pos = 0
    while pos < len(body):
        digest = body[pos:pos + 64].decode("ascii")
        (length,) = struct.unpack(">Q", body[pos + 64:pos + 72])
        out.append((digest, body[pos + 72:pos + 72 + length]))
        pos += 72 + length
    assert pos == len(body)
    return out


def _fetch(api: Api, hashes: list[str]) -> requests.Response:
    return api.post("/v1/blocks/fetch", json={"hashes": hashes})


def _store(api: Api, blocks: list[bytes]) -> list[str]:
    api.ok(api.post("/v1/blocks/batch", data=batch_body(blocks)))
    return [h(b) for b in blocks]


def test_fetch_answers_every_block_in_request_order_once(alice: Api) -> None:
    blocks = [os.urandom(n) for n in (0, 1, 4096, 70_000)]
    hashes = _store(alice, blocks)
    asked = [hashes[2], hashes[0], hashes[3], hashes[2], hashes[1]]
    r = _fetch(alice, asked)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/octet-stream"
    by_hash = dict(zip(hashes, blocks, strict=True))
    assert _records(r.content) == [(d, by_hash[d]) for d in dict.fromkeys(asked)]


def test_a_block_the_caller_does_not_hold_fails_the_whole_fetch_and_is_named(alice: Api, bob: Api) -> None:
    mine = _store(alice, [os.urandom(100)])
    bobs = _store(bob, [os.urandom(100)])
    never = h(b"never uploaded")
    r = _fetch(alice, [mine[0], bobs[0], never])
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["code"] == "not_found"
    assert err["missing"] == [bobs[0], never]  # another user's block is absent, exactly like one never stored


def test_malformed_fetches_are_400(alice: Api) -> None:
    bodies: list[dict[str, object]] = [{"hashes": []}, {"hashes": ["abc"]}, {"hashes": ["Z" * 64]}, {"hashes": "x"},
                                       {"hash": [h(b"")]}, {"hashes": [h(b"")], "extra": 1}]
    for body in bodies:
        r = alice.post("/v1/blocks/fetch", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["code"] == "bad_request"
    r = alice.post("/v1/blocks/fetch", data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400


def test_too_many_hashes_is_refused(alice: Api) -> None:
    r = _fetch(alice, [h(str(i).encode()) for i in range(MAX_HASHES_PER_FETCH + 1)])
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "bad_request"


def test_blocks_adding_up_to_more_than_the_limit_are_413(alice: Api) -> None:
    size = 6 * MIB
    hashes = [alice.upload(os.urandom(size)) for _ in range(MAX_FETCH_BYTES // size + 1)]
    r = _fetch(alice, hashes)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "too_large"
    assert len(_records(_fetch(alice, hashes[:2]).content)) == 2  # within the limit: answered


def test_a_block_damaged_in_the_store_fails_the_fetch_and_is_never_served(shared_server: Server,
                                                                         alice: Api) -> None:
    good, bad = os.urandom(3000), os.urandom(5000)
    hashes = _store(alice, [good, bad])
    _damage(shared_server, hashes[1])
    r = _fetch(alice, hashes)
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "corrupt_block"
    assert r.json()["error"]["hash"] == hashes[1]
    assert good not in r.content
