"""Commits: each op applies alone against its base revision; conflicts return the current state."""

from __future__ import annotations

import pytest
from srvapi import Api, content_hash, h, put_op, split

# Run against SQLite+disk and PostgreSQL+S3 (see conftest.py).
BACKENDS = ("sqlite", "pg-s3")


def test_put_creates_parents_and_computes_the_content_hash(alice: Api) -> None:
    data = b"x" * 200_000
    entry = alice.put_file("docs/sub/report.txt", data, mtime_ns=123, executable=True)
    blocks = [h(b) for b in split(data)]
    assert entry["blocks"] == blocks
    assert entry["size"] == len(data)
    assert entry["content_hash"] == content_hash(blocks)
    assert entry["mtime_ns"] == 123
    assert entry["executable"] is True
    assert entry["kind"] == "file"
    assert entry["rev"] == entry["seq"]
    assert entry["deleted"] is False
    assert entry["modified_by"] == "test-device"
    tree = alice.tree()
    assert tree["docs"]["kind"] == "dir"
    assert tree["docs/sub"]["kind"] == "dir"
    assert tree["docs"]["seq"] < tree["docs/sub"]["seq"] < tree["docs/sub/report.txt"]["seq"]
    assert alice.download(tree["docs/sub/report.txt"]) == data


def test_empty_file_has_no_blocks_and_the_hash_of_nothing(alice: Api) -> None:
    res = alice.one(put_op("empty", [], 0))
    assert res["ok"]
    assert res["entry"]["content_hash"] == h(b"")
    assert res["entry"]["blocks"] == []


def test_stale_base_rev_is_a_conflict_with_the_current_entry(alice: Api) -> None:
    v1 = alice.put_file("f.txt", b"one")
    v2 = alice.put_file("f.txt", b"two", base_rev=v1["rev"])
    assert v2["rev"] > v1["rev"]
    assert v2["file_id"] == v1["file_id"]
    digest = alice.upload(b"three")
    res = alice.one(put_op("f.txt", [digest], 5, base_rev=v1["rev"]))
    assert res == {"ok": False, "code": "conflict", "message": res["message"], "current": v2}
    res = alice.one(put_op("f.txt", [digest], 5, base_rev=None))
    assert res["code"] == "conflict"
    assert res["current"] == v2
    res = alice.one(put_op("nothing-here", [digest], 5, base_rev=7))
    assert res["code"] == "conflict"
    assert res["current"] is None
    assert alice.download(alice.tree()["f.txt"]) == b"two"


def test_ops_in_one_request_succeed_or_fail_alone(alice: Api) -> None:
    a, b = alice.upload(b"aaa"), alice.upload(b"bbbb")
    first = alice.put_file("keep", b"k")
    results = alice.commit(put_op("new1", [a], 3), put_op("keep", [b], 4, base_rev=None),
                           put_op("new2", [b], 4), {"op": "delete", "path": "keep", "base_rev": first["rev"]})
    assert [r["ok"] for r in results] == [True, False, True, True]
    assert results[1]["code"] == "conflict"
    tree = alice.tree()
    assert set(tree) == {"new1", "new2"}


def test_missing_blocks_and_wrong_size_fail_the_op(alice: Api) -> None:
    have = alice.upload(b"12345")
    lacking = h(b"never uploaded")
    res = alice.one(put_op("p", [have, lacking], 5 + 14))
    assert res["ok"] is False
    assert res["code"] == "missing_blocks"
    assert res["missing"] == [lacking]
    res = alice.one(put_op("p", [have], 6))
    assert res["ok"] is False
    assert res["code"] == "bad_request"
    assert alice.tree() == {}


def test_mkdir_is_idempotent_and_conflicts_with_files(alice: Api) -> None:
    first = alice.one({"op": "mkdir", "path": "a/b", "base_rev": None})
    assert first["ok"]
    assert first["entry"]["kind"] == "dir"
    again = alice.one({"op": "mkdir", "path": "a/b", "base_rev": None})
    assert again == first
    alice.put_file("file", b"f")
    res = alice.one({"op": "mkdir", "path": "file", "base_rev": None})
    assert res["code"] == "conflict"
    assert res["current"]["path"] == "file"


def test_a_file_ancestor_is_a_conflict(alice: Api) -> None:
    f = alice.put_file("plain", b"p")
    digest = alice.upload(b"child")
    for op in (put_op("plain/child", [digest], 5), {"op": "mkdir", "path": "plain/dir/x", "base_rev": None}):
        res = alice.one(op)
        assert res["ok"] is False
        assert res["code"] == "conflict"
        assert res["current"] == f
    res = alice.one(put_op("plain", [digest], 5, base_rev=None))
    assert res["code"] == "conflict"


def test_put_onto_a_folder_is_a_conflict(alice: Api) -> None:
    d = alice.one({"op": "mkdir", "path": "folder", "base_rev": None})["entry"]
    digest = alice.upload(b"z")
    res = alice.one(put_op("folder", [digest], 1, base_rev=d["rev"]))
    assert res["code"] == "conflict"
    assert res["current"] == d


def test_delete_needs_the_right_rev_and_an_empty_folder(alice: Api) -> None:
    f = alice.put_file("d/f", b"data")
    d = alice.tree()["d"]
    res = alice.one({"op": "delete", "path": "d", "base_rev": d["rev"]})
    assert res["ok"] is False
    assert res["code"] == "not_empty"
    res = alice.one({"op": "delete", "path": "d/f", "base_rev": f["rev"] - 1})
    assert res["code"] == "conflict"
    assert res["current"] == f
    gone = alice.one({"op": "delete", "path": "d/f", "base_rev": f["rev"]})
    assert gone["ok"]
    assert gone["entry"]["deleted"] is True
    assert gone["entry"]["file_id"] == f["file_id"]
    assert gone["entry"]["rev"] > f["rev"]
    assert alice.one({"op": "delete", "path": "d", "base_rev": d["rev"]})["ok"]
    res = alice.one({"op": "delete", "path": "d", "base_rev": d["rev"]})
    assert res["code"] == "conflict"
    assert res["current"] is None
    assert alice.tree() == {}


def test_move_keeps_file_ids_and_moves_whole_folders(alice: Api) -> None:
    f1 = alice.put_file("src/a/one.txt", b"1")
    f2 = alice.put_file("src/two.txt", b"22")
    src = alice.tree()["src"]
    res = alice.one({"op": "move", "path": "src", "to": "dst/inner", "base_rev": src["rev"]})
    assert res["ok"]
    assert res["entry"]["path"] == "dst/inner"
    assert res["entry"]["file_id"] == src["file_id"]
    tree = alice.tree()
    assert set(tree) == {"dst", "dst/inner", "dst/inner/a", "dst/inner/a/one.txt", "dst/inner/two.txt"}
    assert tree["dst/inner/a/one.txt"]["file_id"] == f1["file_id"]
    assert tree["dst/inner/two.txt"]["file_id"] == f2["file_id"]
    assert alice.download(tree["dst/inner/two.txt"]) == b"22"


def test_move_conflicts(alice: Api) -> None:
    a = alice.put_file("a", b"a")
    b = alice.put_file("b", b"b")
    res = alice.one({"op": "move", "path": "a", "to": "b", "base_rev": a["rev"]})
    assert res["code"] == "conflict"
    assert res["current"] == b
    res = alice.one({"op": "move", "path": "a", "to": "c", "base_rev": a["rev"] + 100})
    assert res["code"] == "conflict"
    assert res["current"] == a
    res = alice.one({"op": "move", "path": "a", "to": "b/c", "base_rev": a["rev"]})
    assert res["code"] == "conflict"
    assert res["current"] == b
    d = alice.one({"op": "mkdir", "path": "d", "base_rev": None})["entry"]
    res = alice.one({"op": "move", "path": "d", "to": "d/inside", "base_rev": d["rev"]})
    assert res["ok"] is False
    assert res["code"] == "bad_request"
    assert set(alice.tree()) == {"a", "b", "d"}


def test_a_move_whose_descendants_would_pass_the_path_limit_is_refused(alice: Api) -> None:
    deep = "/".join(["d" * 200] * 19)  # the file below it is 4,023 bytes: it fits where it is
    leaf = alice.put_file(f"{deep}/{'f' * 200}.txt", b"x")
    assert len(leaf["path"].encode()) <= 4096
    root = alice.tree()["d" * 200]
    longer = "e" * 255  # the root's new path is short; the file's would be 4,334 bytes
    res = alice.one({"op": "move", "path": "d" * 200, "to": f"{longer}/{longer}", "base_rev": root["rev"]})
    assert res["ok"] is False
    assert res["code"] == "bad_request"
    assert "4096" in res["message"]
    tree = alice.tree()
    assert leaf["path"] in tree
    assert all(len(p.encode()) <= 4096 for p in tree)
    assert not any(p.startswith(longer) for p in tree)  # nothing of the move happened, not even its parents


def test_case_only_rename_works(alice: Api) -> None:
    f = alice.put_file("readme", b"r")
    res = alice.one({"op": "move", "path": "readme", "to": "README", "base_rev": f["rev"]})
    assert res["ok"]
    assert res["entry"]["file_id"] == f["file_id"]
    assert set(alice.tree()) == {"README"}
    d = alice.one({"op": "mkdir", "path": "docs/x", "base_rev": None})
    assert d["ok"]
    docs = alice.tree()["docs"]
    assert alice.one({"op": "move", "path": "docs", "to": "Docs", "base_rev": docs["rev"]})["ok"]
    assert set(alice.tree()) == {"README", "Docs", "Docs/x"}


def test_paths_are_case_sensitive(alice: Api) -> None:
    alice.put_file("Name", b"upper")
    alice.put_file("name", b"lower")
    tree = alice.tree()
    assert alice.download(tree["Name"]) == b"upper"
    assert alice.download(tree["name"]) == b"lower"


@pytest.mark.parametrize("bad", ["", "/abs", "a/", "a//b", "a/../b", "..", ".", "a\\b", "a\x00b", "a\nb",
                                 "e\u0301", "x" * 256, "/".join(["y" * 200] * 21)])
def test_bad_paths_fail_the_whole_request_and_change_nothing(module_user: Api, bad: str) -> None:
    alice = module_user
    digest = alice.upload(b"ok")
    for op in (put_op(bad, [digest], 2), {"op": "mkdir", "path": bad, "base_rev": None},
               {"op": "move", "path": "fine", "to": bad, "base_rev": 1}):
        r = alice.post("/v1/commit", json={"ops": [put_op("fine", [digest], 2), op]})
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "bad_path"
    assert alice.tree() == {}


@pytest.mark.parametrize("op", [
    {"op": "chmod", "path": "x"},
    {"op": "put", "path": "x", "blocks": "nope", "size": 1, "mtime_ns": 0, "base_rev": None},
    {"op": "put", "path": "x", "blocks": [], "size": "0", "mtime_ns": 0, "base_rev": None},
    {"op": "put", "path": "x", "blocks": [], "size": -1, "mtime_ns": 0, "base_rev": None},
    {"op": "put", "path": "x", "blocks": ["zz"], "size": 0, "mtime_ns": 0, "base_rev": None},
    {"op": "put", "path": "x", "blocks": [], "size": 0, "mtime_ns": 2**70, "base_rev": None},
    {"op": "delete", "path": "x"},
    {"op": "delete", "path": "x", "base_rev": None},
    {"op": "move", "path": "x", "base_rev": 1},
    {"path": "x"},
    "put",
    {"op": "delete", "path": "x", "base_rev": 1, "base_revision": 1},  # unknown fields are refused, not dropped
    {"op": "mkdir", "path": "x", "base_rev": None, "mode": 448},
])
def test_malformed_ops_fail_the_whole_request(module_user: Api, op: object) -> None:
    alice = module_user
    digest = alice.upload(b"ok")
    r = alice.post("/v1/commit", json={"ops": [put_op("fine", [digest], 2), op]})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "bad_request", r.text
    assert alice.tree() == {}


def test_request_level_bad_input(alice: Api) -> None:
    for body, ctype in [(b"{not json", "application/json"), (b"[]", "application/json"),
                        (b'{"ops": 3}', "application/json"), (b"\xff\xfe", "application/json")]:
        r = alice.post("/v1/commit", data=body, headers={"Content-Type": ctype})
        assert r.status_code == 400, body
        assert r.json()["error"]["code"] == "bad_request", body
    digest = alice.upload(b"ok")
    r = alice.post("/v1/commit", json={"ops": [put_op(f"f{i}", [digest], 2) for i in range(1001)]})
    assert r.status_code == 400
    r = alice.post("/v1/commit", data=b" " * (8 * 1024 * 1024 + 1), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "too_large"
    assert alice.tree() == {}


def test_batch_commit_of_many_files(alice: Api) -> None:
    digest = alice.upload(b"same content")
    ops = [put_op(f"many/{i:04d}.txt", [digest], 12) for i in range(1000)]
    results = alice.commit(*ops)
    assert all(r["ok"] for r in results)
    seqs = [r["entry"]["seq"] for r in results]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 1000
    usage = alice.ok(alice.get("/v1/account"))
    assert usage == {"user": alice.user, "bytes": 12_000, "files": 1000, "blocks_bytes": 12, "quota_bytes": None}
