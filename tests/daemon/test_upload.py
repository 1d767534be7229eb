"""Uploads against a real ferry-server: only missing blocks travel, small files share requests, a file that
changes mid-upload is refused alone, and an interrupted upload resumes without re-sending what arrived."""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ferrysync.daemon.local.chunker import FileChangedWhileReading, hash_file
from ferrysync.daemon.remote import RemoteClient
from ferrysync.daemon.transfer import TokenBucket, TransferCancelled, Uploader, UploadItem


def random_bytes(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def commit_ok(user_client: RemoteClient, ops: list[Any]) -> None:
    results = user_client.commit(ops)
    assert all(r.ok for r in results), [(r.code, r.message) for r in results if not r.ok]


def test_same_content_again_and_renamed_sends_nothing(user_client: RemoteClient, tmp_path: Path) -> None:
    f = tmp_path / "photo.raw"
    f.write_bytes(random_bytes(5 * 1024 * 1024, 1))
    up = Uploader(user_client)
    op = up.upload_file(f, "photo.raw", base_rev=None)
    commit_ok(user_client, [op])
    first = up.stats.bytes_sent
    assert first == f.stat().st_size
    assert op.size == first

    up2 = Uploader(user_client)
    again = up2.upload_file(f, "photo.raw", base_rev=None)
    assert again.blocks == op.blocks
    renamed = tmp_path / "renamed.raw"
    f.rename(renamed)
    moved = up2.upload_file(renamed, "elsewhere/renamed.raw", base_rev=None)
    commit_ok(user_client, [moved])
    assert up2.stats.blocks_sent == 0
    assert up2.stats.bytes_sent == 0
    assert up2.stats.blocks_skipped == 2 * len(op.blocks)


def test_one_byte_edit_in_a_20_mib_file_sends_about_one_block(user_client: RemoteClient, tmp_path: Path) -> None:
    data = bytearray(random_bytes(20 * 1024 * 1024, 2))
    f = tmp_path / "big.bin"
    f.write_bytes(data)
    up = Uploader(user_client)
    [res] = user_client.commit([up.upload_file(f, "big.bin", base_rev=None)])
    assert res.ok
    assert res.entry is not None
    data[10 * 1024 * 1024] ^= 0xFF
    f.write_bytes(data)
    up2 = Uploader(user_client)
    op = up2.upload_file(f, "big.bin", base_rev=res.entry.entry.rev)
    commit_ok(user_client, [op])
    assert 1 <= up2.stats.blocks_sent <= 2
    assert up2.stats.bytes_sent <= 2 * 4 * 1024 * 1024  # at most two chunks of the max chunk size
    assert up2.stats.bytes_sent < len(data) / 5


def test_many_small_files_share_batches_and_dedup(user_client: RemoteClient, tmp_path: Path) -> None:
    items = []
    for i in range(600):
        p = tmp_path / f"n{i}.txt"
        p.write_bytes(f"note {i % 500}\n".encode() * 20)  # 100 duplicates of other files' content
        items.append(UploadItem(p, f"notes/n{i}.txt", None))
    up = Uploader(user_client)
    outcomes = up.upload_many(items)
    assert all(o.ok for o in outcomes)
    commit_ok(user_client, [o.op for o in outcomes])
    assert up.stats.blocks_sent == 500  # each distinct content once
    assert up.stats.requests <= 3  # 256 blocks per batch request
    assert sum(e.path.startswith("notes/") for p in user_client.iter_changes(0) for e in p.entries) == 600


def test_file_changed_while_uploading_fails_alone(user_client: RemoteClient, tmp_path: Path) -> None:
    stable, moving = tmp_path / "stable.txt", tmp_path / "moving.txt"
    stable.write_bytes(b"I stay the same")
    moving.write_bytes(b"first version!!")
    digest = hash_file(moving)
    moving.write_bytes(b"other contents!")  # same size; the stale digest no longer matches the bytes
    outcomes = Uploader(user_client).upload_many([UploadItem(stable, "stable.txt", None),
                                             UploadItem(moving, "moving.txt", None, digest=digest)])
    assert outcomes[0].ok
    assert not outcomes[1].ok
    assert isinstance(outcomes[1].error, FileChangedWhileReading)
    assert user_client.missing(digest.block_hashes) == list(digest.block_hashes)  # nothing of it was kept


def test_stale_mtime_from_the_local_tree_is_refused(user_client: RemoteClient, tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_bytes(b"abc")
    seen = f.stat().st_mtime_ns
    os.utime(f, ns=(seen + 10**9, seen + 10**9))
    with pytest.raises(FileChangedWhileReading):
        Uploader(user_client).upload_file(f, "a.txt", base_rev=None, mtime_ns=seen)


def test_vanished_file_and_directory_fail_alone(user_client: RemoteClient, tmp_path: Path) -> None:
    ok = tmp_path / "ok.txt"
    ok.write_bytes(b"fine")
    (tmp_path / "dir").mkdir()
    outcomes = Uploader(user_client).upload_many([UploadItem(tmp_path / "gone.txt", "gone.txt", None),
                                             UploadItem(tmp_path / "dir", "dir", None),
                                             UploadItem(ok, "ok.txt", None)])
    assert isinstance(outcomes[0].error, FileNotFoundError)
    assert isinstance(outcomes[1].error, IsADirectoryError)
    assert outcomes[2].ok


def test_interrupted_upload_resumes_without_resending(user_client: RemoteClient, tmp_path: Path) -> None:
    f = tmp_path / "video.mp4"
    f.write_bytes(random_bytes(24 * 1024 * 1024, 3))
    cancel = threading.Event()
    sent: list[int] = []

    def progress(n: int) -> None:
        sent.append(n)
        if len(sent) == 3:
            cancel.set()  # "the daemon was paused/killed" after three blocks arrived

    up = Uploader(user_client, parallel=1)
    with pytest.raises(TransferCancelled):
        up.upload_file(f, "video.mp4", base_rev=None, progress=progress, cancel=cancel)
    first_pass = up.stats.bytes_sent
    assert 0 < first_pass < f.stat().st_size
    up2 = Uploader(user_client)
    op = up2.upload_file(f, "video.mp4", base_rev=None)
    commit_ok(user_client, [op])
    assert up2.stats.bytes_sent == f.stat().st_size - first_pass


def test_executable_bit_and_mtime_travel(user_client: RemoteClient, tmp_path: Path) -> None:
    f = tmp_path / "run.sh"
    f.write_bytes(b"#!/bin/sh\necho hi\n")
    f.chmod(0o755)
    os.utime(f, ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    op = Uploader(user_client).upload_file(f, "run.sh", base_rev=None)
    [res] = user_client.commit([op])
    assert res.entry is not None
    assert res.entry.entry.executable is True
    assert res.entry.entry.mtime_ns == 1_600_000_000_123_456_789


def test_empty_file(user_client: RemoteClient, tmp_path: Path) -> None:
    f = tmp_path / "empty"
    f.write_bytes(b"")
    op = Uploader(user_client).upload_file(f, "empty", base_rev=None)
    assert op.blocks == ()
    assert op.size == 0
    commit_ok(user_client, [op])


def test_bandwidth_limit_paces_the_upload(user_client: RemoteClient, tmp_path: Path) -> None:
    f = tmp_path / "limited.bin"
    f.write_bytes(random_bytes(3 * 1024 * 1024, 9))
    bucket = TokenBucket(4 * 1024 * 1024)  # 4 MiB/s: 3 MiB need about 0.7 s after the first burst
    start = time.monotonic()
    Uploader(user_client, throttle=bucket).upload_file(f, "limited.bin", base_rev=None)
    assert time.monotonic() - start >= 0.6


def test_a_body_leaves_in_big_pieces_and_a_limit_set_mid_request_applies_to_the_rest() -> None:
    """Without a limit a batch leaves in SEND_PIECE pieces (urllib3's own 16 KiB made 512 Python reads and
    system calls of every 8 MiB batch) cut from the blocks' own buffers; a limit set while the body is on its
    way paces the pieces still to go."""
    from ferrysync.daemon.remote.bodies import PACED_PIECE, PartsBody
    from ferrysync.daemon.remote.framing import batch_parts, encode_batch
    from ferrysync.daemon.remote.tls import SEND_PIECE, FerryAdapter, make_retry

    adapter = FerryAdapter(make_retry(0, 0.1))
    assert adapter.poolmanager.connection_pool_kw["blocksize"] == SEND_PIECE
    blocks = [("a" * 64, random_bytes(3 * SEND_PIECE, 1)), ("b" * 64, random_bytes(5, 2))]
    bucket = TokenBucket(0)
    body = PartsBody(batch_parts(blocks), bucket)
    assert len(body) == len(encode_batch(blocks))
    pieces = [bytes(body.read(SEND_PIECE)), bytes(body.read(SEND_PIECE))]
    assert [len(p) for p in pieces] == [72, SEND_PIECE]  # never across two parts: no copy to join them
    block = blocks[0][1]
    view = body.read(SEND_PIECE)
    assert isinstance(view, memoryview)
    assert view.obj is block  # a view of the block as it was read, not a copy
    bucket.set_rate(1024 * 1024 * 1024)
    assert len(body.read(SEND_PIECE)) == PACED_PIECE
    bucket.set_rate(0)
    rest = b""
    while piece := body.read(SEND_PIECE):
        rest += piece
    assert len(rest) == 3 * SEND_PIECE - 2 * SEND_PIECE - PACED_PIECE + 72 + 5
    body.seek(0)  # urllib3 rewinds before a retry
    again = b""
    while piece := body.read(1000):
        again += piece
    assert again == encode_batch(blocks)
    body.seek(0)
    assert body.read() == encode_batch(blocks)  # no size: the whole rest, as a file gives it (bytes, one copy)
    assert body.read() == b""
    body.seek(100)
    assert body.tell() == 100
    assert bytes(body.read(10)) == encode_batch(blocks)[100:110]
