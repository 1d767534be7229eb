"""Garbage collection: only blocks no kept revision uses go, never within the grace period, never while an
upload is writing them; `ferry-server gc --dry-run` says what would go and removes nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests
from cloud import CloudServer, bucket_keys, cloud_args, start_server
from srvapi import Api
from stored_blocks import stored
from util import wait_until

from ferrysync.server.store.blockmarks import BlockRaced
from ferrysync.server.store.rows import now_ms
from ferrysync.server.store.sql import SqlMetaStore

HOUR_MS = 3_600_000
A, B = "a" * 64, "b" * 64


def test_a_block_being_uploaded_is_never_claimed(meta: SqlMetaStore) -> None:
    meta.mark_uploading([A])
    assert meta.claim_unheld_blocks([A, B], now_ms() - HOUR_MS) == [B]  # A: fresh upload mark; B: nobody's
    user = meta.add_user("u", "x")
    meta.add_user_blocks(user.id, [(A, 1)])
    assert meta.claim_unheld_blocks([A], now_ms() + HOUR_MS) == []  # held, however old its mark


def test_an_upload_overtaken_by_a_collection_is_refused_and_can_be_retried(meta: SqlMetaStore) -> None:
    user = meta.add_user("u", "x")
    meta.mark_uploading([A])
    # The upload took longer than the grace period: a collector takes the block over.
    assert meta.claim_unheld_blocks([A], now_ms() + HOUR_MS) == [A]
    with pytest.raises(BlockRaced):
        meta.add_user_blocks(user.id, [(A, 1)])
    assert meta.missing_blocks(user.id, [A]) == [A]  # nothing recorded
    meta.release_block_claims([A])
    meta.mark_uploading([A])  # the client's retry
    meta.add_user_blocks(user.id, [(A, 1)])
    assert meta.missing_blocks(user.id, [A]) == []


def test_an_upload_waits_while_a_collector_deletes_its_block(meta: SqlMetaStore) -> None:
    assert meta.claim_unheld_blocks([A], now_ms()) == [A]
    marked = threading.Event()

    def upload() -> None:
        meta.mark_uploading([A])
        marked.set()

    thread = threading.Thread(target=upload)
    thread.start()
    assert not marked.wait(0.5)  # still waiting: the collector holds the block
    meta.release_block_claims([A])  # the collector has deleted the object
    assert marked.wait(10)
    thread.join()
    assert meta.claim_unheld_blocks([A], now_ms() - HOUR_MS) == []  # and now the upload protects it


@pytest.fixture(params=["sqlite", "pg-s3"])
def gc_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CloudServer]:
    with ExitStack() as stack:
        extra = ["--gc-interval", "0"]
        if request.param == "pg-s3":
            extra += stack.enter_context(cloud_args())
        server = start_server(tmp_path / "data", extra)
        stack.callback(server.stop)
        server.add_user("alice", "alice-pw")
        yield server


def _stored(server: CloudServer) -> set[str]:
    if "--blocks" not in server.extra_args:
        return stored(server.data)
    args = server.extra_args
    bucket = args[args.index("--blocks") + 1][len("s3://"):].split("/")[0]
    return {k.rsplit("/", 1)[1] for k in bucket_keys(args[args.index("--s3-endpoint-url") + 1], bucket)}


def test_gc_removes_only_unreferenced_blocks_after_the_grace_period(gc_server: CloudServer) -> None:
    alice = Api(gc_server.url, gc_server.login("alice", "alice-pw"), "alice")
    kept = alice.put_file("kept.txt", b"kept content")["blocks"][0]
    uploaded = alice.upload(b"uploaded, never committed")
    old = alice.put_file("old.txt", b"old content")
    alice.one({"op": "delete", "path": "old.txt", "base_rev": old["rev"]})
    everything = {kept, uploaded, old["blocks"][0]}
    assert _stored(gc_server) == everything

    out = gc_server.gc("--dry-run", "--retention-days", "0", "--gc-grace-hours", "0")
    assert "would remove 2 revision(s), 1 tombstone(s), 2 block holding(s), 2 stored block(s)" in out
    assert _stored(gc_server) == everything
    assert alice.missing(list(everything)) == []

    # Within the grace period: the revision goes, but blocks uploaded or held recently stay.
    out = gc_server.gc("--retention-days", "0", "--gc-grace-hours", "1")
    assert "removed 2 revision(s), 1 tombstone(s), 0 block holding(s), 0 stored block(s)" in out
    assert _stored(gc_server) == everything

    out = gc_server.gc("--retention-days", "0", "--gc-grace-hours", "0")
    assert "2 block holding(s), 2 stored block(s)" in out
    assert _stored(gc_server) == {kept}
    assert sorted(alice.missing(list(everything))) == sorted(everything - {kept})
    assert alice.download(alice.tree()["kept.txt"]) == b"kept content"
    # A collected block can be uploaded again and used.
    assert alice.put_file("again.txt", b"uploaded, never committed")["blocks"] == [uploaded]


def test_serve_collects_on_its_schedule(tmp_path: Path) -> None:
    # A grace of 1.8 s: long enough for put_file to commit what it uploaded, short enough to see collected.
    server = start_server(tmp_path / "data", ["--gc-interval", "0.5", "--gc-grace-hours", "0.0005"])
    try:
        server.add_user("alice", "alice-pw")
        alice = Api(server.url, server.login("alice", "alice-pw"), "alice")
        kept = alice.put_file("kept.txt", b"kept")["blocks"][0]
        dropped = alice.upload(b"never committed")
        wait_until(lambda: _stored(server) == {kept}, timeout=20, what="the scheduled collection")
        assert alice.missing([kept, dropped]) == [dropped]
        metrics = requests.get(f"{server.url}/metrics", timeout=5).text
        assert "ferry_blocks_collected_total 1" in metrics
    finally:
        server.stop()
