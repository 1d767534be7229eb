"""The change feed (order, tombstones, moves, snapshot pages) and its long-poll."""

from __future__ import annotations

import threading
import time

from srvapi import Api, Server

# Run against SQLite+disk and PostgreSQL+S3 (see conftest.py).
BACKENDS = ("sqlite", "pg-s3")


def test_feed_is_in_seq_order_with_tombstones_and_moves(alice: Api) -> None:
    alice.put_file("before", b"0")
    start = alice.changes(0)["cursor"]
    assert start > 0
    f = alice.put_file("dir/a.txt", b"a")
    g = alice.put_file("dir/b.txt", b"b")
    alice.one({"op": "delete", "path": "dir/b.txt", "base_rev": g["rev"]})
    alice.one({"op": "move", "path": "dir/a.txt", "to": "moved/a.txt", "base_rev": f["rev"]})
    entries, cursor = alice.all_changes(start)
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs)
    assert cursor == seqs[-1]
    by_path = {e["path"]: e for e in entries}
    assert by_path["dir/b.txt"]["deleted"] is True
    assert by_path["dir/a.txt"]["deleted"] is True
    assert by_path["moved/a.txt"]["deleted"] is False
    assert by_path["dir/a.txt"]["file_id"] == by_path["moved/a.txt"]["file_id"] == f["file_id"]
    # The new path comes before the tombstone, so a reader never sees the file vanish first.
    assert by_path["moved/a.txt"]["seq"] < by_path["dir/a.txt"]["seq"]
    # Nothing more after the cursor.
    assert alice.changes(cursor) == {"entries": [], "cursor": cursor, "has_more": False}


def test_folder_move_feed_is_a_valid_tree_at_every_step(alice: Api) -> None:
    for name in ("x/1", "x/2", "x/sub/3"):
        alice.put_file(name, name.encode())
    cursor = alice.changes(0)["cursor"]
    x = alice.tree()["x"]
    assert alice.one({"op": "move", "path": "x", "to": "y", "base_rev": x["rev"]})["ok"]
    entries, _ = alice.all_changes(cursor)
    live: set[str] = set(alice.tree()) | {"x", "x/1", "x/2", "x/sub", "x/sub/3"}
    live -= {"y", "y/1", "y/2", "y/sub", "y/sub/3"}
    for e in entries:  # replay: every live entry's parent must be live at each step
        if e["deleted"]:
            assert not any(p.startswith(e["path"] + "/") for p in live), e["path"]
            live.discard(e["path"])
        else:
            parent = e["path"].rsplit("/", 1)[0] if "/" in e["path"] else None
            assert parent is None or parent in live, e["path"]
            live.add(e["path"])
    assert live == {"y", "y/1", "y/2", "y/sub", "y/sub/3"}


def test_cursor_zero_is_a_paginated_snapshot_of_the_live_tree(alice: Api) -> None:
    for i in range(25):
        alice.put_file(f"f{i:02d}", b"%d" % i)
    gone = alice.tree()["f03"]
    alice.one({"op": "delete", "path": "f03", "base_rev": gone["rev"]})
    pages = []
    cursor = 0
    while True:
        page = alice.changes(cursor, limit=10)
        pages.append(page)
        cursor = page["cursor"]
        if not page["has_more"]:
            break
        if len(pages) == 1:  # a change between pages still reaches the reader
            alice.put_file("late", b"late")
    paths = [e["path"] for p in pages for e in p["entries"]]
    assert "f03" not in paths[:10]
    assert {f"f{i:02d}" for i in range(25) if i != 3} | {"late"} <= set(paths)
    assert pages[0]["has_more"]
    assert len(pages[0]["entries"]) == 10
    assert pages[-1]["cursor"] == alice.changes(0)["cursor"]


def test_cursor_zero_of_an_empty_account(alice: Api) -> None:
    assert alice.changes(0) == {"entries": [], "cursor": 0, "has_more": False}


def test_bad_feed_parameters_are_400(alice: Api) -> None:
    # "³", "①": digits to str.isdigit() that int() refuses (schemathesis found the 500 it made); "٣" one it reads
    for params in [{"cursor": -1}, {"cursor": "x"}, {"limit": 0}, {"limit": 10_001}, {"cursor": 2**70},
                   {"cursor": "³"}, {"cursor": "①"}, {"cursor": "٣"}, {"cursor": "0,1:²"}]:
        r = alice.get("/v1/changes", params=params)
        assert r.status_code == 400, params
        assert r.json()["error"]["code"] == "bad_request", params
    for params in [{"timeout": 121}, {"timeout": -1}, {"cursor": -5}, {"timeout": "soon"}, {"cursor": "³"}]:
        r = alice.get("/v1/changes/wait", params=params)
        assert r.status_code == 400, params
        assert r.json()["error"]["code"] == "bad_request", params


def test_wait_returns_at_once_when_already_behind(alice: Api) -> None:
    alice.put_file("a", b"a")
    t0 = time.monotonic()
    body = alice.ok(alice.get("/v1/changes/wait", params={"cursor": 0, "timeout": 30}))
    assert body["changes"] is True
    assert body["cursor"] >= 1
    assert time.monotonic() - t0 < 5


def test_wait_times_out_without_changes(alice: Api) -> None:
    cursor = alice.changes(0)["cursor"]
    t0 = time.monotonic()
    body = alice.ok(alice.get("/v1/changes/wait", params={"cursor": cursor, "timeout": 1}))
    elapsed = time.monotonic() - t0
    assert body == {"changes": False, "cursor": cursor}
    assert 0.9 <= elapsed < 10


def test_long_poll_wakes_promptly_when_another_device_commits(shared_server: Server, alice: Api) -> None:
    other = Api(shared_server.url, shared_server.login(alice.user, f"{alice.user}-pw", "other-device"))
    cursor = alice.changes(0)["cursor"]
    digest = other.upload(b"from the other device")
    result: dict[str, object] = {}
    started = threading.Event()

    def poll() -> None:
        started.set()
        t0 = time.monotonic()
        r = alice.get("/v1/changes/wait", params={"cursor": cursor, "timeout": 60}, timeout=90)
        result["body"] = r.json()
        result["at"] = time.monotonic()
        result["waited"] = time.monotonic() - t0

    poller = threading.Thread(target=poll)
    poller.start()
    started.wait()
    # Commit only once the poll is parked on the server (it returns nothing before the timeout otherwise).
    poller.join(timeout=0.3)  # a poll parked on the server does not come back on its own
    assert "body" not in result
    committed_at = time.monotonic()
    (res,) = other.commit({"op": "put", "path": "news.txt", "blocks": [digest], "size": 21, "mtime_ns": 0,
                           "executable": False, "base_rev": None})
    poller.join(timeout=30)
    assert not poller.is_alive()
    assert result["body"] == {"changes": True, "cursor": res["entry"]["seq"]}
    assert float(result["at"]) - committed_at < 2.0, "long-poll did not wake promptly"  # type: ignore[arg-type]
    entries, _ = alice.all_changes(cursor)
    assert [e["path"] for e in entries] == ["news.txt"]
    assert entries[0]["modified_by"] == "other-device"


def test_long_poll_is_per_user(alice: Api, bob: Api) -> None:
    cursor = bob.changes(0)["cursor"]
    result: dict[str, object] = {}

    def poll() -> None:
        result["body"] = bob.ok(bob.get("/v1/changes/wait", params={"cursor": cursor, "timeout": 1.5}))

    poller = threading.Thread(target=poll)
    poller.start()
    alice.put_file("alice-only", b"x")
    poller.join(timeout=30)
    assert result["body"] == {"changes": False, "cursor": cursor}
