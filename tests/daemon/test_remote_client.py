"""RemoteClient against a real ferry-server process: every endpoint of the contract, typed both ways."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from remote_support import fresh_user_client, running_server

from ferrysync.daemon.local.chunker import block_hash, content_hash_of
from ferrysync.daemon.model import Kind
from ferrysync.daemon.remote import (
    BadRequest,
    DeleteOp,
    MkdirOp,
    MoveOp,
    NotFound,
    PutOp,
    RemoteClient,
    Unauthorized,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with running_server(tmp_path_factory.mktemp("server-data")) as s:
        s.add_user("bob", "bob-pw")
        yield s


@pytest.fixture
def alice(server: Any) -> Iterator[RemoteClient]:
    """A fresh user with an empty tree, logged in from a device named "laptop"."""
    with fresh_user_client(server) as client:
        yield client


def put_bytes(client: RemoteClient, path: str, data: bytes, base_rev: int | None = None) -> PutOp:
    h = block_hash(data)
    if client.missing([h]):
        client.put_block(h, data)
    return PutOp(path, (h,) if data else (), len(data), 1_700_000_000_000_000_000, False, base_rev)


def test_login_wrong_password_and_logout(server: Any) -> None:
    with RemoteClient(server.url, retries=0) as c:
        with pytest.raises(Unauthorized):
            c.login("bob", "nope", "x")
        res = c.login("bob", "bob-pw", "desk")
        assert res.user == "bob"
        assert res.token
        assert c.token == res.token
        assert any(d.device_id == res.device_id and d.name == "desk" for d in c.devices())
        token = res.token
        c.logout()
        assert c.token is None
    with RemoteClient(server.url, token, retries=0) as revoked, pytest.raises(Unauthorized):
        revoked.account()


def test_revoke_another_device(server: Any, alice: RemoteClient) -> None:
    with RemoteClient(server.url, retries=0) as other:
        user = alice.account().user
        dev = other.login(user, f"{user}-pw", "old-phone").device_id
        alice.revoke_device(dev)
        with pytest.raises(Unauthorized):
            other.account()


def test_blocks_single_batch_and_get(alice: RemoteClient) -> None:
    small = [f"small block {i}".encode() for i in range(5)]
    hashes = [block_hash(b) for b in small]
    assert sorted(alice.missing(hashes + hashes)) == sorted(hashes)  # duplicates asked once
    assert sorted(alice.put_blocks_batch(list(zip(hashes, small, strict=True)))) == sorted(hashes)
    big = bytes(range(256)) * 8192
    assert alice.put_block(block_hash(big), big) == len(big)
    assert alice.missing([*hashes, block_hash(big)]) == []
    assert alice.get_block(hashes[2]) == small[2]
    with pytest.raises(NotFound):
        alice.get_block(block_hash(b"never uploaded"))
    with pytest.raises(BadRequest) as info:
        alice.put_block(block_hash(b"one"), b"two")
    assert info.value.code == "hash_mismatch"


def test_blocks_are_per_user(server: Any, alice: RemoteClient) -> None:
    data = b"alice's secret"
    alice.put_block(block_hash(data), data)
    with RemoteClient(server.url, retries=0) as bob:
        bob.login("bob", "bob-pw", "bob-laptop")
        assert bob.missing([block_hash(data)]) == [block_hash(data)]
        with pytest.raises(NotFound):
            bob.get_block(block_hash(data))


def test_commit_ops_and_their_results(alice: RemoteClient) -> None:
    op = put_bytes(alice, "docs/a.txt", b"hello")
    [res] = alice.commit([op])
    assert res.ok
    assert res.entry is not None
    e = res.entry.entry
    assert (e.path, e.kind, e.size) == ("docs/a.txt", Kind.FILE, 5)
    assert e.content_hash == content_hash_of(op.blocks)
    assert e.blocks == op.blocks
    assert res.entry.modified_by == "laptop"

    stale = put_bytes(alice, "docs/a.txt", b"other", base_rev=e.rev - 1)
    missing = PutOp("docs/b.txt", (block_hash(b"not sent"),), 8, 1, False, None)
    results = alice.commit([stale, missing, MkdirOp("docs"), DeleteOp("docs", int(alice.changes(0).cursor))])
    assert [r.ok for r in results] == [False, False, True, False]
    assert results[0].code == "conflict"
    assert results[0].current is not None
    assert results[0].current.entry.rev == e.rev
    assert results[1].code == "missing_blocks"
    assert results[1].missing == (block_hash(b"not sent"),)
    assert results[3].code in ("not_empty", "conflict")

    [moved] = alice.commit([MoveOp("docs/a.txt", "docs/A.txt", e.rev)])
    assert moved.ok
    assert moved.entry is not None
    assert moved.entry.path == "docs/A.txt"
    assert moved.entry.entry.file_id == e.file_id


def test_commit_takes_any_number_of_ops_and_answers_each_in_order(alice: RemoteClient) -> None:
    """The client splits within the server's limits (the executor hands it a whole batch)."""
    from ferrysync.daemon.remote.limits import MAX_OPS_PER_COMMIT

    n = MAX_OPS_PER_COMMIT + 3
    results = alice.commit([MkdirOp(f"many/{i:05}") for i in range(n)])
    assert [r.entry.path if r.ok and r.entry else r.code for r in results] == [f"many/{i:05}" for i in range(n)]


def test_malformed_op_fails_the_whole_request(alice: RemoteClient) -> None:
    with pytest.raises(BadRequest) as info:
        alice.commit([MkdirOp("ok"), MkdirOp("../escape")])
    assert info.value.code in ("bad_path", "bad_request")
    assert all(p.path != "ok" for p in alice.changes(0).entries)


def test_changes_snapshot_then_incremental_with_tombstones(alice: RemoteClient) -> None:
    ops = [put_bytes(alice, f"f{i}.txt", f"content {i}".encode()) for i in range(5)]
    alice.commit(ops)
    pages = list(alice.iter_changes(0, limit=2))
    assert len(pages) >= 3
    assert not pages[-1].has_more
    assert sorted(e.path for p in pages for e in p.entries) == [f"f{i}.txt" for i in range(5)]
    cursor = pages[-1].cursor
    rev = next(e.entry.rev for p in pages for e in p.entries if e.path == "f0.txt")
    alice.commit([DeleteOp("f0.txt", rev)])
    page = alice.changes(cursor)
    assert [(e.path, e.deleted) for e in page.entries] == [("f0.txt", True)]
    assert int(page.cursor) > int(cursor)  # one namespace: integer cursors
    assert [e.path for e in alice.deleted()] == ["f0.txt"]


def test_wait_changes_returns_early_on_a_commit(alice: RemoteClient) -> None:
    cursor = alice.changes(0).cursor
    assert alice.wait_changes(cursor, timeout=1).changes is False

    result: list[Any] = []
    waiter = threading.Thread(target=lambda: result.append(alice.wait_changes(cursor, timeout=60)))
    waiter.start()
    alice.commit([MkdirOp("new-dir")])
    waiter.join(30)
    assert not waiter.is_alive(), "long-poll did not return on a change"
    assert result[0].changes is True
    assert int(result[0].cursor) > int(cursor)


def test_revisions_and_restore(alice: RemoteClient) -> None:
    [r1] = alice.commit([put_bytes(alice, "notes.txt", b"version one")])
    assert r1.entry is not None
    [r2] = alice.commit([put_bytes(alice, "notes.txt", b"version two!", base_rev=r1.entry.entry.rev)])
    assert r2.entry is not None
    revs = alice.revisions("notes.txt")
    assert [r.rev for r in revs] == [r2.entry.entry.rev, r1.entry.entry.rev]  # newest first
    restored = alice.restore("notes.txt", r1.entry.entry.rev)
    assert restored.entry.content_hash == r1.entry.entry.content_hash
    assert restored.entry.rev > r2.entry.entry.rev


def test_account_counts_live_files(alice: RemoteClient) -> None:
    alice.commit([put_bytes(alice, "x.bin", b"12345"), put_bytes(alice, "y.bin", b"")])
    acct = alice.account()
    assert (acct.files, acct.bytes) == (2, 5)
    assert acct.user.startswith("user")
