"""Folders shared between users, on both backends: routing of commits into a shared namespace, the merged feed
and its cursor, read-only members, revoking, moving a mount, what is refused, and whose quota a shared folder
counts against."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from srvapi import Api, UserFactory, h, put_op

BACKENDS = ("sqlite", "pg-s3")


def share(owner: Api, path: str, member: Api, role: str = "rw") -> dict[str, Any]:
    return dict(owner.ok(owner.post("/v1/folders/share", json={"path": path, "user": member.user, "role": role})))


def error(resp: Any, status: int) -> str:
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    return str(resp.json()["error"]["code"])


@pytest.fixture
def team(make_user: UserFactory) -> tuple[Api, Api]:
    """alice with Team/plan.txt (two versions) and Team/sub/x, shared read-write with bob."""
    alice, bob = make_user(), make_user()
    first = alice.put_file("Team/plan.txt", b"v1")
    alice.put_file("Team/plan.txt", b"v2", base_rev=first["rev"])
    alice.put_file("Team/sub/x", b"x" * 100)
    alice.put_file("own.txt", b"alice's own")
    assert share(alice, "Team", bob) == {"user": bob.user, "role": "rw", "path": "Team"}
    return alice, bob


def test_the_owner_keeps_paths_revisions_and_history_and_the_member_sees_the_folder(team: tuple[Api, Api]) -> None:
    alice, bob = team
    tree = alice.tree()
    assert set(tree) == {"Team", "Team/plan.txt", "Team/sub", "Team/sub/x", "own.txt"}
    revs = alice.ok(alice.get("/v1/revisions", params={"path": "Team/plan.txt"}))["revisions"]
    assert len(revs) == 2
    assert revs[0]["rev"] == tree["Team/plan.txt"]["rev"]
    theirs = bob.tree()
    assert set(theirs) == {"Team", "Team/plan.txt", "Team/sub", "Team/sub/x"}
    assert theirs["Team/plan.txt"]["rev"] == tree["Team/plan.txt"]["rev"]
    assert theirs["Team/plan.txt"]["file_id"] == tree["Team/plan.txt"]["file_id"]
    assert bob.download(theirs["Team/plan.txt"]) == b"v2"  # alice's blocks, readable by the member
    assert bob.missing([h(b"v2"), h(b"nobody")]) == [h(b"nobody")]
    assert bob.ok(bob.get("/v1/revisions", params={"path": "Team/plan.txt"}))["revisions"] == revs
    members = bob.ok(bob.get("/v1/folders/members", params={"path": "Team"}))["members"]
    assert [(m["user"], m["role"]) for m in members] == [(alice.user, "owner"), (bob.user, "rw")]
    assert bob.ok(bob.get("/v1/folders/mounts"))["mounts"] == [
        {"path": "Team", "role": "rw", "owner": alice.user, "members": 2}]


def test_a_members_writes_land_in_the_owners_folder_and_the_feed_carries_them(team: tuple[Api, Api]) -> None:
    alice, bob = team
    _, a_cursor = alice.all_changes(0)
    _, b_cursor = bob.all_changes(0)
    assert isinstance(a_cursor, str)
    assert isinstance(b_cursor, str)
    plan = bob.tree()["Team/plan.txt"]
    edited = bob.put_file("Team/plan.txt", b"bob's v3", base_rev=plan["rev"])
    assert edited["path"] == "Team/plan.txt"
    assert edited["rev"] > plan["rev"]
    bob.put_file("Team/new.txt", b"new from bob")
    (moved,) = bob.commit({"op": "move", "path": "Team/sub/x", "to": "Team/y", "base_rev": alice.tree()[
        "Team/sub/x"]["rev"]})
    assert moved["ok"], moved
    page = alice.changes(a_cursor)
    changed = {e["path"]: e for e in page["entries"]}
    assert changed["Team/plan.txt"]["rev"] == edited["rev"]
    assert {"Team/new.txt", "Team/y"} <= set(changed)
    assert changed["Team/sub/x"]["deleted"]
    assert alice.download(alice.tree()["Team/plan.txt"]) == b"bob's v3"
    # a stale base is a conflict for the owner too: conflicts work across both users
    (stale,) = alice.commit(put_op("Team/plan.txt", [alice.upload(b"alice")], 5, base_rev=plan["rev"]))
    assert stale["code"] == "conflict"
    assert stale["current"]["path"] == "Team/plan.txt"
    # deletions in the shared folder land in the trash both see
    (gone,) = alice.commit({"op": "delete", "path": "Team/new.txt", "base_rev": changed["Team/new.txt"]["rev"]})
    assert gone["ok"]
    assert "Team/new.txt" in {e["path"] for e in bob.ok(bob.get("/v1/deleted"))["entries"]}
    assert bob.ok(bob.get("/v1/deleted", params={"prefix": "Team"}))["entries"][0]["path"] == "Team/new.txt"
    assert bob.changes(b_cursor)["cursor"] != b_cursor


def test_a_long_poll_wakes_for_a_change_in_a_shared_folder(team: tuple[Api, Api]) -> None:
    alice, bob = team
    _, cursor = alice.all_changes(0)
    assert alice.ok(alice.get("/v1/changes/wait", params={"cursor": cursor, "timeout": 0}))["changes"] is False
    answers: list[dict[str, Any]] = []
    waiter = threading.Thread(target=lambda: answers.append(alice.ok(alice.get(
        "/v1/changes/wait", params={"cursor": cursor, "timeout": 30}, timeout=60))))
    waiter.start()
    bob.put_file("Team/wake.txt", b"wake up")
    waiter.join(60)
    assert answers
    assert answers[0]["changes"] is True
    assert answers[0]["cursor"] != cursor


def test_a_cursor_from_before_the_mounts_changed_lists_again(make_user: UserFactory) -> None:
    alice, bob = make_user(), make_user()
    alice.put_file("Team/a", b"a")
    _, old = alice.all_changes(0)
    assert isinstance(old, int)  # one namespace: the integer cursor older clients know
    share(alice, "Team", bob)
    assert alice.ok(alice.get("/v1/changes/wait", params={"cursor": old, "timeout": 5}))["changes"] is True
    assert error(alice.get("/v1/changes", params={"cursor": old}), 410) == "cursor_expired"
    assert error(alice.get("/v1/changes", params={"cursor": "1,x"}), 400) == "bad_request"


def test_a_read_only_member_is_refused_every_write(make_user: UserFactory) -> None:
    alice, bob = make_user(), make_user()
    entry = alice.put_file("Team/doc.txt", b"read me")
    share(alice, "Team", bob, "ro")
    assert bob.download(bob.tree()["Team/doc.txt"]) == b"read me"
    digest = bob.upload(b"bob's edit")
    results = bob.commit(put_op("Team/doc.txt", [digest], 10, base_rev=entry["rev"]),
                         {"op": "mkdir", "path": "Team/d", "base_rev": None},
                         {"op": "delete", "path": "Team/doc.txt", "base_rev": entry["rev"]},
                         {"op": "move", "path": "Team/doc.txt", "to": "Team/b.txt", "base_rev": entry["rev"]},
                         put_op("mine.txt", [digest], 10))
    assert [r.get("code") for r in results] == ["read_only"] * 4 + [None]
    assert error(bob.post("/v1/restore", json={"path": "Team/doc.txt", "rev": entry["rev"]}), 403) == "read_only"
    assert alice.download(alice.tree()["Team/doc.txt"]) == b"read me"
    assert alice.ok(alice.post("/v1/folders/role", json={"path": "Team", "user": bob.user, "role": "rw"}))
    (ok,) = bob.commit(put_op("Team/doc.txt", [digest], 10, base_rev=entry["rev"]))
    assert ok["ok"], ok


def test_revoking_removes_the_folder_from_the_member_only(team: tuple[Api, Api]) -> None:
    alice, bob = team
    before = alice.tree()
    _, cursor = bob.all_changes(0)
    assert alice.ok(alice.post("/v1/folders/unshare", json={"path": "Team", "user": bob.user}))["ok"]
    assert set(bob.tree()) == set()
    assert error(bob.get("/v1/changes", params={"cursor": cursor}), 410) == "cursor_expired"
    assert bob.get(f"/v1/blocks/{h(b'v2')}").status_code == 404  # alice's block: no longer bob's to read
    after = alice.tree()
    assert {p: (e["rev"], e["content_hash"]) for p, e in after.items() if p != "Team"} == {
        p: (e["rev"], e["content_hash"]) for p, e in before.items() if p != "Team"}
    assert error(alice.post("/v1/folders/unshare", json={"path": "Team", "user": bob.user}), 404) == "not_a_member"


def test_moves_across_a_shared_folder_are_refused_and_the_mount_moves_whole(team: tuple[Api, Api]) -> None:
    alice, bob = team
    tree = bob.tree()
    bob.put_file("mine.txt", b"bob's")
    (out,) = bob.commit({"op": "move", "path": "Team/plan.txt", "to": "plan.txt",
                         "base_rev": tree["Team/plan.txt"]["rev"]})
    assert out["code"] == "cross_namespace"
    (into,) = bob.commit({"op": "move", "path": "mine.txt", "to": "Team/mine.txt", "base_rev": bob.tree()[
        "mine.txt"]["rev"]})
    assert into["code"] == "cross_namespace"
    (rm,) = bob.commit({"op": "delete", "path": "Team", "base_rev": tree["Team"]["rev"]})
    assert rm["code"] == "mount_point"
    digest = bob.upload(b"z")
    mv, after = bob.commit({"op": "move", "path": "Team", "to": "Work/Shared", "base_rev": tree["Team"]["rev"]},
                           put_op("Work/Shared/z", [digest], 1))  # routed by where the mount is by then
    assert mv["ok"], mv
    assert after["ok"], after
    assert set(bob.tree()) == {"mine.txt", "Work", "Work/Shared", "Work/Shared/plan.txt", "Work/Shared/sub",
                               "Work/Shared/sub/x", "Work/Shared/z"}
    assert "Team/z" in alice.tree()
    bob.put_file("Work/Shared/from-bob.txt", b"still shared")
    assert "Team/from-bob.txt" in alice.tree()
    (hold,) = bob.commit({"op": "move", "path": "Work", "to": "Elsewhere", "base_rev": bob.tree()["Work"]["rev"]})
    assert hold["code"] == "cross_namespace"


def test_sharing_rules(make_user: UserFactory) -> None:
    alice, bob, carol = make_user(), make_user(), make_user()
    alice.put_file("Team/sub/a", b"a")
    alice.put_file("file.txt", b"f")
    bob.put_file("Team/bobs.txt", b"bob already has a Team")
    assert error(alice.post("/v1/folders/share", json={"path": "file.txt", "user": bob.user}), 400) == \
        "not_a_folder"
    assert error(alice.post("/v1/folders/share", json={"path": "Team", "user": "nobody-here"}), 404) == \
        "no_such_user"
    assert error(alice.post("/v1/folders/share", json={"path": "Team", "user": alice.user}), 400) == "bad_request"
    assert share(alice, "Team", bob)["path"] == f"Team ({alice.user})"  # bob's own Team stays his
    assert error(alice.post("/v1/folders/share", json={"path": "Team/sub", "user": carol.user}), 400) == \
        "nested_share"
    assert error(bob.post("/v1/folders/share", json={"path": f"Team ({alice.user})", "user": carol.user}),
                 403) == "not_owner"
    assert share(alice, "Team", carol, "ro")["path"] == "Team"
    assert share(alice, "Team", carol, "rw")["role"] == "rw"  # sharing again changes the role
    members = alice.ok(alice.get("/v1/folders/members", params={"path": "Team"}))["members"]
    assert {m["user"]: m["role"] for m in members} == {alice.user: "owner", bob.user: "rw", carol.user: "rw"}
    assert carol.ok(carol.post("/v1/folders/leave", json={"path": "Team"}))["ok"]
    assert set(carol.tree()) == set()
    assert error(alice.post("/v1/folders/leave", json={"path": "Team"}), 400) == "bad_request"


def test_a_shared_folder_counts_against_its_owner(make_user: UserFactory) -> None:
    alice, bob = make_user(), make_user()
    alice.put_file("Team/a", b"a" * 1000)
    share(alice, "Team", bob)
    bob.put_file("Team/b", b"b" * 5000)
    a_use = alice.ok(alice.get("/v1/account"))
    b_use = bob.ok(bob.get("/v1/account"))
    assert (a_use["bytes"], a_use["files"]) == (6000, 2)
    assert (b_use["bytes"], b_use["files"]) == (0, 0)



def test_removing_the_owner_takes_the_folder_out_of_members_trees(tmp_path: Path) -> None:
    from ferrysync.server.store.base import MkdirOp
    from ferrysync.server.store.sql import SqlMetaStore

    store = SqlMetaStore.from_url(f"sqlite:///{tmp_path / 'ferry.db'}")
    try:
        alice, bob = store.add_user("alice", "x"), store.add_user("bob", "x")
        store.commit(alice.id, "dev", [MkdirOp("Team/a", None)])
        store.commit(bob.id, "dev", [MkdirOp("mine", None)])
        store.share_folder(alice.id, "dev", "Team", "bob", "rw")
        assert {e.path for e in store.changes(bob.id, 0, 100).entries} == {"Team", "Team/a", "mine"}
        cursor, _ = store.feed_position(bob.id)
        assert store.remove_user("alice")
        assert {e.path for e in store.changes(bob.id, 0, 100).entries} == {"mine"}
        assert store.feed_position(bob.id)[0].root > cursor.root  # bob's devices wake up and list again
        assert store.mounts(bob.id) == []
    finally:
        store.close()
