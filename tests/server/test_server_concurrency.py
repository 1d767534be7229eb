"""Concurrent devices: optimistic commits have exactly one winner, and a feed reader never misses a change."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from srvapi import Api, Server, put_op

# Run against SQLite+disk and PostgreSQL+S3 (see conftest.py).
BACKENDS = ("sqlite", "pg-s3")


def _device(server: Server, api: Api, name: str) -> Api:
    return Api(server.url, server.login(api.user, f"{api.user}-pw", name), api.user)


def test_racing_creates_of_one_path_have_exactly_one_winner(shared_server: Server, alice: Api) -> None:
    devices = [_device(shared_server, alice, f"racer-{i}") for i in range(4)]
    digests = [d.upload(f"content {i}".encode()) for i, d in enumerate(devices)]
    barrier = threading.Barrier(len(devices))

    def race(i: int) -> dict[str, object]:
        barrier.wait()
        return devices[i].one(put_op("contested.txt", [digests[i]], len(f"content {i}")))

    with ThreadPoolExecutor(len(devices)) as pool:
        results = list(pool.map(race, range(len(devices))))
    winners = [r for r in results if r["ok"]]
    assert len(winners) == 1
    assert all(r["code"] == "conflict" and r["current"] == winners[0]["entry"] for r in results if not r["ok"])


def test_feed_reader_sees_every_change_made_concurrently(shared_server: Server, alice: Api) -> None:
    writers = [_device(shared_server, alice, f"writer-{i}") for i in range(3)]
    digest = alice.upload(b"x")
    seen: dict[str, int] = {}
    done = threading.Event()
    errors: list[BaseException] = []

    def read_feed() -> None:
        cursor = 0
        try:
            while True:
                finished = done.is_set()
                entries, cursor = alice.all_changes(cursor, limit=7)
                for e in entries:
                    seen[e["path"]] = e["seq"]
                if finished:
                    return
                alice.get("/v1/changes/wait", params={"cursor": cursor, "timeout": 0.2})
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    def write(i: int) -> list[int]:
        seqs = []
        for n in range(15):
            ops = [put_op(f"w{i}/f{n}-{k}", [digest], 1) for k in range(3)]
            seqs += [r["entry"]["seq"] for r in writers[i].commit(*ops)]
        return seqs

    reader = threading.Thread(target=read_feed)
    reader.start()
    with ThreadPoolExecutor(len(writers)) as pool:
        all_seqs = [s for seqs in pool.map(write, range(len(writers))) for s in seqs]
    done.set()
    reader.join(timeout=60)
    assert not errors
    assert not reader.is_alive()
    assert len(set(all_seqs)) == len(all_seqs) == 3 * 15 * 3
    tree = alice.tree()
    assert {p: e["seq"] for p, e in tree.items()} == seen
