"""Several ferry-server processes sharing one PostgreSQL database and one S3 bucket.

A long-poll held by one process wakes when another commits; concurrent commits through both never make a feed
reader skip or repeat a change; killing one process mid-sync loses nothing the client was told is stored.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from cloud import CloudServer, two_servers
from srvapi import Api, h, put_op, split
from util import wait_until


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[CloudServer, CloudServer]]:
    """Two server processes on one PostgreSQL database and one bucket, and a user alice."""
    with two_servers(tmp_path) as servers:
        yield servers


def _api(server: CloudServer, device: str) -> Api:
    return Api(server.url, server.login("alice", "alice-pw", device), "alice")


def _waiting(server: CloudServer) -> int:
    """How many long-polls the process holds now (its /metrics gauge)."""
    text = requests.get(f"{server.url}/metrics", timeout=5).text
    line = next(x for x in text.splitlines() if x.startswith("ferry_long_polls_waiting "))
    return int(line.split()[1])


def test_a_long_poll_on_one_process_wakes_when_another_commits(pair: tuple[CloudServer, CloudServer]) -> None:
    one, two = pair
    writer, waiter = _api(one, "writer"), _api(two, "waiter")
    cursor = waiter.changes(0)["cursor"]
    for round_ in range(3):  # repeatedly: each wake-up is a real cross-process notification
        with ThreadPoolExecutor(1) as pool:
            polled = pool.submit(waiter.get, "/v1/changes/wait", params={"cursor": cursor, "timeout": 30})
            wait_until(lambda: _waiting(two) == 1, timeout=10, what="the long-poll to park")
            committed = time.monotonic()
            entry = writer.put_file(f"note-{round_}.txt", b"hello %d" % round_)
            answer = waiter.ok(polled.result(timeout=30))
            woke_after = time.monotonic() - committed
        assert answer == {"changes": True, "cursor": entry["seq"]}
        assert woke_after < 2.0, woke_after  # far below the 5 s database re-check: the NOTIFY woke it
        cursor = entry["seq"]
    # Blocks written through one process are served by the other.
    assert waiter.download(waiter.tree()["note-2.txt"]) == b"hello 2"


def test_concurrent_commits_through_two_processes_are_neither_skipped_nor_repeated(
        pair: tuple[CloudServer, CloudServer]) -> None:
    one, two = pair
    writers = [_api(server, f"writer-{i}") for i, server in enumerate([one, two, one, two])]
    reader = _api(two, "reader")
    per_writer, per_commit = 12, 5
    seen: list[int] = []
    done = threading.Event()
    errors: list[BaseException] = []

    def write(api: Api, n: int) -> None:
        try:
            digest = api.upload(b"shared content")
            for i in range(per_writer):
                ops = [put_op(f"w{n}-{i}-{k}", [digest], 14) for k in range(per_commit)]
                assert all(r["ok"] for r in api.commit(*ops))
        except BaseException as exc:  # noqa: BLE001 - collected for the main thread's assertion
            errors.append(exc)

    # Taken before any writer starts: taken in the follower thread, a slow start (a loaded machine) let the writers
    # commit first, and the cursor then skipped their changes (seen in CI: seq 1-45 missing).
    start = reader.changes(0)["cursor"]

    def follow() -> None:
        cursor = start
        while True:
            finished = done.is_set()
            page = reader.changes(cursor, limit=7)  # small pages: many reads race the writers
            seen.extend(e["seq"] for e in page["entries"])
            cursor = page["cursor"]
            if finished and not page["has_more"]:
                return
            if not page["has_more"]:
                reader.get("/v1/changes/wait", params={"cursor": cursor, "timeout": 1})

    follower = threading.Thread(target=follow)
    follower.start()
    threads = [threading.Thread(target=write, args=(api, n)) for n, api in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    done.set()
    follower.join(timeout=60)
    assert not errors, errors
    total = len(writers) * per_writer * per_commit
    assert sorted(seen) == list(range(1, total + 1))  # every change exactly once: none skipped, none repeated
    assert seen == sorted(seen)  # and in order


def test_killing_one_process_mid_sync_loses_nothing(pair: tuple[CloudServer, CloudServer]) -> None:
    one, two = pair
    client = _api(one, "laptop")
    files = {f"big/{i}.bin": os.urandom(300_000) for i in range(40)}
    acknowledged: dict[str, dict[str, object]] = {}
    stop = threading.Event()

    def sync(api: Api) -> None:
        for path, data in files.items():
            if stop.is_set():
                return
            if path in acknowledged:
                continue
            try:
                acknowledged[path] = api.put_file(path, data)
            except requests.RequestException:  # the process died under us: the caller retries elsewhere
                return

    syncing = threading.Thread(target=sync, args=(client,))
    syncing.start()
    wait_until(lambda: len(acknowledged) >= 5, timeout=60, what="some files synced")
    assert one.proc is not None
    one.proc.kill()
    one.proc.wait()
    one.proc = None
    syncing.join(timeout=60)
    stop.set()
    # Everything acknowledged by the dead process is there, through the other one, with its bytes.
    survivor = _api(two, "laptop-again")
    tree = survivor.tree()
    for path, entry in acknowledged.items():
        assert tree[path]["seq"] == entry["seq"]
        assert survivor.download(tree[path]) == files[path]
    # The client finishes its sync through the survivor (re-uploading whatever the dead one never recorded).
    rest = {p: d for p, d in files.items() if p not in tree}
    for path, data in rest.items():
        blocks = split(data)
        missing = set(survivor.missing([h(b) for b in blocks]))
        for block in blocks:
            if h(block) in missing:
                survivor.upload(block)
        (res,) = survivor.commit(put_op(path, [h(b) for b in blocks], len(data)))
        assert res["ok"], res
    final = survivor.tree()
    assert all(survivor.download(final[p]) == d for p, d in files.items())


def test_the_same_block_uploaded_at_once_through_both_processes(pair: tuple[CloudServer, CloudServer]) -> None:
    one, two = pair
    apis = [_api(server, f"dev-{i}") for i, server in enumerate([one, two] * 4)]
    blocks = [os.urandom(50_000) for _ in range(5)]
    with ThreadPoolExecutor(len(apis)) as pool:  # every device uploads every block, all at the same moment
        uploads = [pool.submit(api.put, f"/v1/blocks/{h(b)}", data=b) for api in apis for b in blocks]
        assert [f.result().status_code for f in uploads] == [201] * len(uploads)
    assert apis[0].missing([h(b) for b in blocks]) == []
    assert all(apis[1].get(f"/v1/blocks/{h(b)}").content == b for b in blocks)
