"""User isolation: another user can neither read nor probe a user's files, blocks, history or devices."""

from __future__ import annotations

import os

from srvapi import Api


def test_users_have_separate_trees_feeds_and_history(alice: Api, bob: Api) -> None:
    secret = alice.put_file("private/diary.txt", os.urandom(3000))
    alice.one({"op": "delete", "path": "private/diary.txt", "base_rev": secret["rev"]})
    alice.put_file("private/diary.txt", b"new")
    assert bob.changes(0) == {"entries": [], "cursor": 0, "has_more": False}
    assert bob.changes(1)["entries"] == []
    assert bob.ok(bob.get("/v1/revisions", params={"path": "private/diary.txt"}))["revisions"] == []
    assert bob.ok(bob.get("/v1/deleted"))["entries"] == []
    r = bob.post("/v1/restore", json={"path": "private/diary.txt", "rev": secret["rev"]})
    assert r.status_code == 404
    assert bob.missing(secret["blocks"]) == secret["blocks"]
    assert all(bob.get(f"/v1/blocks/{d}").status_code == 404 for d in secret["blocks"])
    usage = bob.ok(bob.get("/v1/account"))
    assert usage == {"user": bob.user, "bytes": 0, "files": 0, "blocks_bytes": 0, "quota_bytes": None}
    # Same paths in both accounts do not interfere.
    mine = bob.put_file("private/diary.txt", b"bob's")
    assert mine["file_id"] != secret["file_id"]
    assert alice.download(alice.tree()["private/diary.txt"]) == b"new"
    # Bob's device list shows only his devices.
    assert [d["name"] for d in bob.ok(bob.get("/v1/devices"))["devices"]] == ["test-device"]


def test_file_ops_of_another_user_see_nothing(alice: Api, bob: Api) -> None:
    f = alice.put_file("shared-name", b"alice")
    (res,) = bob.commit({"op": "delete", "path": "shared-name", "base_rev": f["rev"]})
    assert res["code"] == "conflict"
    assert res["current"] is None
    (res,) = bob.commit({"op": "move", "path": "shared-name", "to": "mine", "base_rev": f["rev"]})
    assert res["code"] == "conflict"
    assert res["current"] is None
    assert alice.tree()["shared-name"] == f
