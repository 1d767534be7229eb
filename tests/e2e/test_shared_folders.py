"""Folders shared between users, end to end: alice shares /Team with bob; their daemons (own FERRY_HOMEs) edit,
move and delete inside it and converge, a concurrent edit becomes a conflict copy on both, made read-only bob's
edit is refused and undone (his bytes kept in the folder's trash), and revoking removes the folder from bob's
device without touching alice's data. On SQLite + disk with one server process, and on
PostgreSQL + S3 with two processes (alice's devices on one, bob's on the other)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from devices import Device, converge, tree
from util import ServerFactory, ServerProcess, wait_until


@pytest.fixture(params=["sqlite", "pg-s3"])
def servers(request: pytest.FixtureRequest, server_factory: ServerFactory,
            tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """(alice's server, bob's server): one process, or two processes on one PostgreSQL database and S3 bucket."""
    if request.param == "sqlite":
        one = server_factory.make()
        one.add_user("alice", "alice-pw")
        one.add_user("bob", "bob-pw")
        yield one, one
        return
    from cloud import cloud_args, start_server

    with ExitStack() as stack:
        extra = stack.enter_context(cloud_args())
        first = start_server(tmp_path / "one", extra)
        stack.callback(first.stop)
        second = start_server(tmp_path / "two", extra)
        stack.callback(second.stop)
        first.add_user("alice", "alice-pw")
        first.add_user("bob", "bob-pw")
        yield first, second


def _device(tmp_path: Path, made: list[Device], server: ServerProcess, name: str, user: str) -> Device:
    d = Device(name=name, home=tmp_path / f"home-{name}", folder=tmp_path / f"folder-{name}",
               keyring_dir=tmp_path / f"keyring-{name}")
    made.append(d)
    d.login(server.url, user, f"{user}-pw")
    d.start()
    d.add_folder("/Team")
    return d


def _api(server: ServerProcess, who: str, route: str, /, **body: Any) -> Any:
    import requests

    token = server.login(who, f"{who}-pw", f"{who}-admin")
    resp = requests.post(f"{server.url}{route}", json=body, headers={"Authorization": f"Bearer {token}"},
                         timeout=30)
    assert resp.ok, resp.text
    return resp.json()


def _files(d: Device) -> dict[str, bytes]:
    return {p: c for p, c in tree(d.folder).items() if c is not None}


def test_a_folder_shared_read_write_syncs_both_ways_and_revoking_removes_it_from_the_member(
        servers: tuple[ServerProcess, ServerProcess], tmp_path: Path) -> None:
    alice_server, bob_server = servers
    made: list[Device] = []
    try:
        alice = _device(tmp_path, made, alice_server, "alice-laptop", "alice")
        (alice.folder / "plan.txt").write_text("v1 by alice")
        (alice.folder / "sub").mkdir()
        (alice.folder / "sub" / "notes.txt").write_text("notes")
        (alice.folder / "gone.txt").write_text("to delete")
        alice.wait_synced()
        bob = _device(tmp_path, made, bob_server, "bob-desktop", "bob")
        assert alice.json("share-folder", "/Team", "bob")["path"] == "Team"  # the CLI, with alice's device token
        assert [(m["user"], m["role"]) for m in alice.json("members", "/Team")["members"]] == [
            ("alice", "owner"), ("bob", "rw")]
        converge(alice, bob, timeout=60)

        # edits, moves and deletions from both sides
        (bob.folder / "plan.txt").write_text("v2 by bob")
        (bob.folder / "sub" / "notes.txt").rename(bob.folder / "sub" / "renamed.txt")
        (alice.folder / "gone.txt").unlink()
        (alice.folder / "from-alice.txt").write_text("hello bob")
        wait_until(lambda: _files(alice) == _files(bob) == {
            "plan.txt": b"v2 by bob", "sub/renamed.txt": b"notes", "from-alice.txt": b"hello bob"},
            timeout=60, what="both devices to hold the edited tree\n" + alice.log_tail() + bob.log_tail())

        # a concurrent edit while bob is offline: a conflict copy, on both devices
        bob.wait_synced()
        bob.stop()
        (bob.folder / "plan.txt").write_text("offline edit by bob")
        (alice.folder / "plan.txt").write_text("online edit by alice")
        alice.wait_synced()
        bob.start()
        converge(alice, bob, timeout=60)
        files = _files(alice)
        copies = [p for p in files if "conflicted copy" in p]
        assert len(copies) == 1, files
        assert sorted([files["plan.txt"], files[copies[0]]]) == [b"offline edit by bob", b"online edit by alice"]

        # read-only: bob's edit is refused, the shared version restored, his bytes kept in the folder's trash
        for copy in copies:
            (alice.folder / copy).unlink()
        converge(alice, bob, timeout=60)
        _api(alice_server, "alice", "/v1/folders/role", path="Team", user="bob", role="ro")
        shared = (alice.folder / "plan.txt").read_bytes()
        (bob.folder / "plan.txt").write_text("bob's edit, refused")
        wait_until(lambda: bob.status()["refused"] >= 1, timeout=60, what="the refusal\n" + bob.log_tail())
        wait_until(lambda: (bob.folder / "plan.txt").read_bytes() == shared, timeout=60,
                   what="the shared version to come back\n" + bob.log_tail())
        kept = [p.read_bytes() for p in (bob.folder / ".ferry" / "trash").rglob("plan.txt")]
        assert b"bob's edit, refused" in kept
        assert (alice.folder / "plan.txt").read_bytes() == shared

        # revoke: gone from bob's device; alice's files untouched
        before = _files(alice)
        alice.ferry("unshare-folder", "/Team", "bob")
        wait_until(lambda: _files(bob) == {}, timeout=60, what="the folder to leave bob's device\n" + bob.log_tail())
        bob.wait_synced()
        alice.wait_synced()
        assert _files(alice) == before
    finally:
        for d in made:
            d.stop()
