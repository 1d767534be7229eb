"""A shared folder on PostgreSQL + S3 with two server processes: its owner and a member commit into the one shared
namespace through different processes at once, and every change reaches a follower exactly once, in order."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cloud import CloudServer, two_servers
from srvapi import Api, put_op


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[CloudServer, CloudServer]]:
    with two_servers(tmp_path) as servers:
        servers[0].add_user("bob", "bob-pw")
        yield servers


def test_two_processes_commit_into_one_shared_folder(pair: tuple[CloudServer, CloudServer]) -> None:
    one, two = pair
    alice = Api(one.url, one.login("alice", "alice-pw", "alice-1"), "alice")
    alice.put_file("Team/start.txt", b"start")
    assert alice.ok(alice.post("/v1/folders/share", json={"path": "Team", "user": "bob", "role": "rw"}))
    writers = [alice, Api(two.url, two.login("alice", "alice-pw", "alice-2"), "alice"),
               Api(one.url, one.login("bob", "bob-pw", "bob-1"), "bob"),
               Api(two.url, two.login("bob", "bob-pw", "bob-2"), "bob")]
    follower = Api(two.url, two.login("bob", "bob-pw", "bob-follower"), "bob")
    per_writer, per_commit = 8, 4
    seen: list[tuple[str, int]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def write(api: Api, n: int) -> None:
        try:
            digest = api.upload(b"shared content")
            for i in range(per_writer):
                ops = [put_op(f"Team/w{n}-{i}-{k}", [digest], 14) for k in range(per_commit)]
                assert all(r["ok"] for r in api.commit(*ops))
        except BaseException as exc:  # noqa: BLE001 - collected for the main thread's assertion
            errors.append(exc)

    def follow() -> None:
        entries, cursor = follower.all_changes(0)
        seen.extend((e["path"], e["seq"]) for e in entries)
        while True:
            finished = done.is_set()
            page = follower.changes(cursor, limit=5)  # small pages: many reads race the writers
            seen.extend((e["path"], e["seq"]) for e in page["entries"])
            cursor = page["cursor"]
            if finished and not page["has_more"]:
                return
            if not page["has_more"]:
                follower.get("/v1/changes/wait", params={"cursor": cursor, "timeout": 1})

    reader = threading.Thread(target=follow)
    reader.start()
    threads = [threading.Thread(target=write, args=(api, n)) for n, api in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    done.set()
    reader.join(timeout=60)
    assert not errors, errors
    written = {f"Team/w{n}-{i}-{k}" for n in range(4) for i in range(per_writer) for k in range(per_commit)}
    shared = [(p, s) for p, s in seen if p.startswith("Team/")]
    assert {p for p, _ in shared} == written | {"Team/start.txt"}
    seqs = [s for _, s in shared]
    assert len(seqs) == len(set(seqs)) == len(written) + 1  # every change once: none skipped, none repeated
    assert seqs == sorted(seqs)  # and in the namespace's order
    assert set(alice.tree()) == {"Team", "Team/start.txt", *written}
