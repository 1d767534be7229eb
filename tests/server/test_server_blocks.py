"""Blocks: dedup via "missing", single and batch upload, hash verification, size limits, download."""

from __future__ import annotations

import http.client
import json
import os
import struct
from collections.abc import Iterator

import requests
from cloud import s3_client
from srvapi import Api, Server, batch_body, h
from stored_blocks import damage

# Run against SQLite+disk and PostgreSQL+S3 (see conftest.py).
BACKENDS = ("sqlite", "pg-s3")

MIB = 1024 * 1024


def test_missing_shrinks_after_upload_and_download_returns_the_bytes(alice: Api) -> None:
    blocks = [os.urandom(1000 + i) for i in range(3)]
    hashes = [h(b) for b in blocks]
    assert alice.missing(hashes) == hashes
    r = alice.put(f"/v1/blocks/{hashes[0]}", data=blocks[0])
    assert r.status_code == 201
    assert r.json() == {"hash": hashes[0], "size": len(blocks[0])}
    assert alice.missing(hashes) == hashes[1:]
    assert alice.missing(hashes + hashes) == hashes[1:]  # duplicates answered once
    got = alice.get(f"/v1/blocks/{hashes[0]}")
    assert got.status_code == 200
    assert got.content == blocks[0]
    assert got.headers["content-type"] == "application/octet-stream"
    assert alice.put(f"/v1/blocks/{hashes[0]}", data=blocks[0]).status_code == 201  # re-upload is harmless


def test_batch_upload_stores_every_record(alice: Api) -> None:
    blocks = [os.urandom(n) for n in (0, 1, 4096, 70_000)]
    r = alice.post("/v1/blocks/batch", data=batch_body(blocks),
                   headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    assert sorted(r.json()["stored"]) == sorted(h(b) for b in blocks)
    assert alice.missing([h(b) for b in blocks]) == []
    for b in blocks:
        assert alice.get(f"/v1/blocks/{h(b)}").content == b


def test_hash_mismatch_is_refused_and_nothing_is_stored(alice: Api) -> None:
    data, other = os.urandom(500), os.urandom(500)
    r = alice.put(f"/v1/blocks/{h(other)}", data=data)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "hash_mismatch"
    assert alice.missing([h(other), h(data)]) == [h(other), h(data)]
    assert alice.get(f"/v1/blocks/{h(other)}").status_code == 404


def test_batch_is_all_or_nothing(alice: Api) -> None:
    good = [os.urandom(300) for _ in range(3)]
    bad = os.urandom(300)
    body = batch_body([*good, bad], claimed=[h(b) for b in good] + [h(b"something else")])
    r = alice.post("/v1/blocks/batch", data=body)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "hash_mismatch"
    assert alice.missing([h(b) for b in good]) == [h(b) for b in good]
    truncated = batch_body(good)[:-10]
    r = alice.post("/v1/blocks/batch", data=truncated)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "bad_request"
    assert alice.missing([h(b) for b in good]) == [h(b) for b in good]
    r = alice.post("/v1/blocks/batch", data=b"Z" * 64 + struct.pack(">Q", 1) + b"x")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "bad_request"


def test_bad_hashes_are_400(alice: Api) -> None:
    for bad in ["abc", "A" * 64, "g" * 64, "0" * 63, "0" * 65]:
        r = alice.put(f"/v1/blocks/{bad}", data=b"x")
        assert r.status_code == 400, bad
        assert r.json()["error"]["code"] == "bad_request", bad
        assert alice.get(f"/v1/blocks/{bad}").status_code == 400
    r = alice.post("/v1/blocks/missing", json={"hashes": ["nothex"]})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "bad_request"
    r = alice.post("/v1/blocks/missing", json={"hashes": ["0" * 64] * 10_001})
    assert r.status_code == 400


def test_oversized_block_is_413_and_not_stored(alice: Api) -> None:
    data = os.urandom(8 * MIB + 1)
    r = alice.put(f"/v1/blocks/{h(data)}", data=data)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "too_large"
    assert alice.missing([h(data)]) == [h(data)]
    exactly = os.urandom(8 * MIB)
    assert alice.put(f"/v1/blocks/{h(exactly)}", data=exactly).status_code == 201


def test_oversized_chunked_block_is_refused_while_streaming(alice: Api) -> None:
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(40):  # 10 MiB in 256 KiB chunks, no Content-Length
            sent += 256 * 1024
            yield b"\0" * (256 * 1024)

    try:
        r = alice.put(f"/v1/blocks/{'0' * 64}", data=body())
    except requests.ConnectionError:
        return  # the server may close the connection before the client finished sending
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "too_large"


def test_oversized_batch_is_413_before_the_body_is_read(alice: Api) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", int(alice.url.rsplit(":", 1)[1]), timeout=30)
    conn.putrequest("POST", "/v1/blocks/batch")
    conn.putheader("Authorization", f"Bearer {alice.token}")
    conn.putheader("Content-Length", str(64 * MIB + 1))
    conn.endheaders(b"\0" * 1024)  # the server must answer without waiting for 64 MiB
    resp = conn.getresponse()
    assert resp.status == 413
    assert json.loads(resp.read())["error"]["code"] == "too_large"
    conn.close()
    # A record announcing a block over 8 MiB is refused as soon as its header arrives.
    r = alice.post("/v1/blocks/batch", data=("0" * 64).encode() + struct.pack(">Q", 8 * MIB + 1))
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "too_large"


def test_users_cannot_see_or_download_each_others_blocks(alice: Api, bob: Api) -> None:
    secret = os.urandom(2000)
    digest = alice.upload(secret)
    assert bob.missing([digest]) == [digest]
    r = bob.get(f"/v1/blocks/{digest}")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    # A file op referencing it does not work either.
    (res,) = bob.commit({"op": "put", "path": "x", "blocks": [digest], "size": 2000, "mtime_ns": 0,
                         "executable": False, "base_rev": None})
    assert res["ok"] is False
    assert res["code"] == "missing_blocks"
    assert res["missing"] == [digest]
    # Bob uploading the same bytes makes it his too; alice keeps hers.
    bob.upload(secret)
    assert bob.missing([digest]) == []
    assert bob.get(f"/v1/blocks/{digest}").content == secret
    assert alice.get(f"/v1/blocks/{digest}").content == secret


def _damage(server: Server, digest: str) -> None:
    """Flip the stored copy's bytes behind the server's back (disk rot, a bad restore)."""
    args = server.extra_args
    if "--blocks" not in args:
        damage(server.data, digest)
        return
    bucket, _, prefix = args[args.index("--blocks") + 1].removeprefix("s3://").partition("/")
    key = f"{prefix.rstrip('/')}/{digest[:2]}/{digest}".lstrip("/")
    s3_client(args[args.index("--s3-endpoint-url") + 1]).put_object(Bucket=bucket, Key=key, Body=b"rotten bytes")


def test_a_block_damaged_in_the_store_is_never_served(shared_server: Server, alice: Api) -> None:
    data = os.urandom(5000)
    digest = alice.upload(data)
    _damage(shared_server, digest)
    r = alice.get(f"/v1/blocks/{digest}")
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "corrupt_block"
    assert data not in r.content
    log = shared_server.log.read_text(errors="replace")
    assert f"CORRUPT BLOCK: stored block {digest} at " in log
    assert "Traceback" not in log[log.index("CORRUPT BLOCK"):]  # told plainly, not as a crash
