"""Revisions, deleted files, restore, retention and account usage."""

from __future__ import annotations

from srvapi import Api

# Run against SQLite+disk and PostgreSQL+S3 (see conftest.py).
BACKENDS = ("sqlite", "pg-s3")


def test_revisions_are_listed_newest_first_and_restorable(alice: Api) -> None:
    v1 = alice.put_file("notes.txt", b"first version", mtime_ns=10)
    v2 = alice.put_file("notes.txt", b"second", base_rev=v1["rev"], mtime_ns=20)
    revs = alice.ok(alice.get("/v1/revisions", params={"path": "notes.txt"}))["revisions"]
    assert [r["rev"] for r in revs] == [v2["rev"], v1["rev"]]
    assert revs[1]["blocks"] == v1["blocks"]
    assert revs[1]["size"] == 13
    assert revs[1]["mtime_ns"] == 10
    assert revs[0]["modified_by"] == "test-device"
    assert revs[0]["created_at"].endswith("Z")
    restored = alice.ok(alice.post("/v1/restore", json={"path": "notes.txt", "rev": v1["rev"]}))["entry"]
    assert restored["rev"] > v2["rev"]
    assert restored["file_id"] == v1["file_id"]
    assert restored["content_hash"] == v1["content_hash"]
    assert alice.download(alice.tree()["notes.txt"]) == b"first version"
    revs = alice.ok(alice.get("/v1/revisions", params={"path": "notes.txt"}))["revisions"]
    assert [r["rev"] for r in revs] == [restored["rev"], v2["rev"], v1["rev"]]


def test_deleted_files_are_listed_and_can_be_restored(alice: Api) -> None:
    f = alice.put_file("old/report.txt", b"precious")
    keep = alice.put_file("old/keep.txt", b"k")
    moved = alice.put_file("other.txt", b"o")
    alice.one({"op": "delete", "path": "old/report.txt", "base_rev": f["rev"]})
    alice.one({"op": "move", "path": "other.txt", "to": "renamed.txt", "base_rev": moved["rev"]})
    deleted = alice.ok(alice.get("/v1/deleted"))["entries"]
    assert [e["path"] for e in deleted] == ["old/report.txt"]  # a moved file is not "deleted"
    assert deleted[0]["deleted"] is True
    assert deleted[0]["file_id"] == f["file_id"]
    assert alice.ok(alice.get("/v1/deleted", params={"prefix": "old"}))["entries"] == deleted
    assert alice.ok(alice.get("/v1/deleted", params={"prefix": "ol"}))["entries"] == []
    revs = alice.ok(alice.get("/v1/revisions", params={"path": "old/report.txt"}))["revisions"]
    assert revs[0]["deleted"] is True
    assert revs[1]["rev"] == f["rev"]
    r = alice.post("/v1/restore", json={"path": "old/report.txt", "rev": revs[0]["rev"]})
    assert r.status_code == 400  # a deletion itself is not content
    entry = alice.ok(alice.post("/v1/restore", json={"path": "old/report.txt", "rev": f["rev"]}))["entry"]
    assert entry["deleted"] is False
    assert entry["file_id"] == f["file_id"]
    assert alice.download(entry) == b"precious"
    assert alice.ok(alice.get("/v1/deleted"))["entries"] == []
    assert keep["path"] in alice.tree()


def test_restore_errors(alice: Api) -> None:
    f = alice.put_file("a", b"a")
    r = alice.post("/v1/restore", json={"path": "a", "rev": f["rev"] + 1000})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    r = alice.post("/v1/restore", json={"path": "../a", "rev": 1})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "bad_path"
    r = alice.post("/v1/restore", json={"path": "a", "rev": "1"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "bad_request"
    # The path is now a folder: restoring a file there is a conflict, and nothing changes.
    alice.one({"op": "delete", "path": "a", "base_rev": f["rev"]})
    d = alice.one({"op": "mkdir", "path": "a", "base_rev": None})["entry"]
    r = alice.post("/v1/restore", json={"path": "a", "rev": f["rev"]})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "conflict"
    assert r.json()["error"]["current"] == d
    assert alice.get("/v1/revisions", params={"path": "a/"}).json()["error"]["code"] == "bad_path"
    assert alice.get("/v1/deleted", params={"prefix": "/x"}).json()["error"]["code"] == "bad_path"


def test_restore_of_a_file_whose_id_now_lives_elsewhere_gets_a_new_id(alice: Api) -> None:
    f = alice.put_file("here", b"h")
    alice.one({"op": "move", "path": "here", "to": "there", "base_rev": f["rev"]})
    entry = alice.ok(alice.post("/v1/restore", json={"path": "here", "rev": f["rev"]}))["entry"]
    assert entry["file_id"] != f["file_id"]
    tree = alice.tree()
    assert tree["there"]["file_id"] == f["file_id"]
    assert tree["here"]["file_id"] == entry["file_id"]


def test_account_usage_counts_live_files_and_held_blocks(alice: Api) -> None:
    assert alice.ok(alice.get("/v1/account")) == {"user": alice.user, "bytes": 0, "files": 0, "blocks_bytes": 0,
                                                  "quota_bytes": None}
    a = alice.put_file("a", b"x" * 100)
    alice.put_file("dir/b", b"y" * 50)
    alice.upload(b"z" * 7)  # held, not referenced
    usage = alice.ok(alice.get("/v1/account"))
    assert usage == {"user": alice.user, "bytes": 150, "files": 2, "blocks_bytes": 157, "quota_bytes": None}
    alice.one({"op": "delete", "path": "a", "base_rev": a["rev"]})
    usage = alice.ok(alice.get("/v1/account"))
    assert usage["bytes"] == 50
    assert usage["files"] == 1
