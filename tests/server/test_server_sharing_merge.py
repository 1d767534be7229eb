"""Folders shared between users meet the features built beside them: the web app's reads see a user's mounts, a
shared folder's quota is its owner's, and share links find their target in the right namespace (store level, on
SQLite: the HTTP layers above only pass these results on)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ferrysync.server.hashing import block_hash
from ferrysync.server.store.base import DeleteOp, MkdirOp, OpFail, OpOk, PutOp
from ferrysync.server.store.sql import SqlMetaStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlMetaStore]:
    meta = SqlMetaStore.from_url(f"sqlite:///{tmp_path / 'ferry.db'}")
    try:
        yield meta
    finally:
        meta.close()


def _put(store: SqlMetaStore, user_id: int, path: str, data: bytes) -> OpOk | OpFail:
    digest = block_hash(data)
    store.mark_uploading([digest])
    store.add_user_blocks(user_id, [(digest, len(data))])
    (result,), _ = store.commit(user_id, "dev", [PutOp(path, (digest,), len(data), 1, False, None)])
    return result


def test_a_member_browses_the_shared_folder_at_their_mount(store: SqlMetaStore) -> None:
    alice, bob = store.add_user("alice", "x"), store.add_user("bob", "x")
    assert isinstance(_put(store, alice.id, "Team/sub/a.txt", b"a"), OpOk)
    assert isinstance(_put(store, bob.id, "mine.txt", b"m"), OpOk)
    store.share_folder(alice.id, "dev", "Team", "bob", "rw")
    assert {e.path for e in store.children(bob.id, "")} == {"Team", "mine.txt"}
    assert [e.path for e in store.children(bob.id, "Team")] == ["Team/sub"]
    assert [e.path for e in store.children(bob.id, "Team/sub")] == ["Team/sub/a.txt"]
    assert [e.path for e in store.live_below(bob.id, "")] == ["Team", "Team/sub", "Team/sub/a.txt", "mine.txt"]
    assert [e.path for e in store.live_below(bob.id, "Team")] == ["Team/sub", "Team/sub/a.txt"]
    found = store.entry(bob.id, "Team/sub/a.txt")
    assert found is not None
    assert found.size == 1
    assert [e.path for e in store.live_below(alice.id, "")] == ["Team", "Team/sub", "Team/sub/a.txt"]


def test_a_shared_folder_is_charged_to_its_owners_quota(store: SqlMetaStore) -> None:
    alice, bob = store.add_user("alice", "x"), store.add_user("bob", "x")
    store.commit(alice.id, "dev", [MkdirOp("Team", None)])
    store.share_folder(alice.id, "dev", "Team", "bob", "rw")
    store.set_quota("alice", 100)
    store.set_quota("bob", 10)
    assert isinstance(_put(store, bob.id, "Team/fits", b"b" * 60), OpOk)  # alice's room, not bob's
    refused = _put(store, bob.id, "Team/too-much", b"c" * 50)
    assert isinstance(refused, OpFail)
    assert refused.code == "quota_exceeded"
    assert isinstance(_put(store, alice.id, "own", b"d" * 40), OpOk)
    assert store.usage(alice.id).bytes == 100
    assert store.usage(bob.id).bytes == 0
    assert store.quota_use(alice.id) == (100, 100)
    # one commit spread over two of alice's namespaces cannot pass her quota either
    store.set_quota("alice", 110)
    digest = block_hash(b"e" * 8)
    store.mark_uploading([digest])
    store.add_user_blocks(alice.id, [(digest, 8)])
    results, _ = store.commit(alice.id, "dev", [PutOp("Team/e1", (digest,), 8, 1, False, None),
                                                PutOp("e2", (digest,), 8, 1, False, None)])
    assert isinstance(results[0], OpOk)
    assert isinstance(results[1], OpFail)
    assert results[1].code == "quota_exceeded"


def test_share_links_follow_their_target_into_a_shared_folder(store: SqlMetaStore) -> None:
    alice, bob = store.add_user("alice", "x"), store.add_user("bob", "x")
    _put(store, alice.id, "Team/a.txt", b"a")
    target = store.live_entry(alice.id, "Team/a.txt")
    folder = store.live_entry(alice.id, "Team")
    assert target is not None
    assert folder is not None
    store.create_share(alice.id, target, "1" * 64, None, "g", None, None)
    store.create_share(alice.id, folder, "2" * 64, None, "g", None, None)
    store.share_folder(alice.id, "dev", "Team", "bob", "rw")
    # the owner's links, made before the folder was shared, keep working
    link = store.share_by_token("1" * 64)
    assert link is not None
    assert link[1] is not None
    assert link[1].path == "Team/a.txt"
    assert link[0].state(0) == "active"
    assert [e.path for e in store.live_subtree(alice.id, "Team")] == ["Team/a.txt"]
    # a member's link finds the file at the member's path, and goes once the folder is no longer shared with them
    mine = store.live_entry(bob.id, "Team/a.txt")
    assert mine is not None
    store.create_share(bob.id, mine, "3" * 64, None, "g", None, None)
    bobs = store.share_by_token("3" * 64)
    assert bobs is not None
    assert bobs[1] is not None
    assert bobs[1].path == "Team/a.txt"
    store.unshare_folder(alice.id, "dev", "Team", "bob")
    gone = store.share_by_token("3" * 64)
    assert gone is not None
    assert gone[1] is None
    assert gone[0].state(0) == "gone"
    still = store.share_by_token("1" * 64)
    assert still is not None
    assert still[1] is not None
    # deleting the file makes the owner's link gone too
    (deleted,), _ = store.commit(alice.id, "dev", [DeleteOp("Team/a.txt", still[1].seq)])
    assert isinstance(deleted, OpOk)
    after = store.share_by_token("1" * 64)
    assert after is not None
    assert after[1] is None


def test_ferry_decrypt_reads_a_users_tree_by_namespace(store: SqlMetaStore, tmp_path: Path) -> None:
    """`ferry decrypt` reads the database itself (docs/encryption.md): a user's root rows plus their mounts' rows at
    the mount's path, for a user whose root namespace id is not their user id too."""
    from ferrysync.daemon.cli.decrypt import _entries

    z2 = store.add_user("zed", "x"), store.add_user("z2", "x")
    store.commit(z2[1].id, "dev", [MkdirOp("Team2", None)])
    store.share_folder(z2[1].id, "dev", "Team2", "zed", "rw")  # a namespace id more than user ids from here on
    alice, bob = store.add_user("alice", "x"), store.add_user("bob", "x")
    _put(store, alice.id, "Vault/sub/a", b"a")
    _put(store, bob.id, "Mine/b", b"b")
    store.share_folder(alice.id, "dev", "Vault", "bob", "ro")
    db = tmp_path / "ferry.db"
    assert [(p, k) for p, k, _ in _entries(db, "bob")] == [
        ("Mine", "dir"), ("Mine/b", "file"), ("Vault", "dir"), ("Vault/sub", "dir"), ("Vault/sub/a", "file")]
    assert [p for p, _, _ in _entries(db, "alice")] == ["Vault", "Vault/sub", "Vault/sub/a"]
    assert [b for p, _, b in _entries(db, "bob") if p == "Vault/sub/a"] == [[block_hash(b"a")]]
