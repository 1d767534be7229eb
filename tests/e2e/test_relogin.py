"""`ferry login` while the daemon runs: it takes up the new login at once (issue 11, "server replaced").

Reproduces the report: the server was replaced by an empty one (a new data dir, the user created again), the user
ran `ferry login` and it succeeded, but the running daemon kept its old token and stayed "refused" forever; after
a restart, its cursor being ahead of the new server, it re-listed an empty remote and moved every file to the
trash. Now the daemon is told, lists the new server as a replaced one, and uploads everything; nothing is deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from devices import Device, tree
from losslib import ServerView
from util import ServerProcess, free_port, wait_until

FILES = {f"notes/n{i:02}.txt": f"note {i}".encode() for i in range(12)} | {
    "report.md": b"# report", "photos/cat.jpg": b"\xff\xd8 not really a jpeg", "empty.txt": b""}


def server_files(server: ServerProcess, prefix: str = "Shared") -> dict[str, bytes]:
    """Every live file under the folder on the server, with its content, read through the public API."""
    return ServerView(server, prefix).files()


def local_files(d: Device) -> dict[str, bytes]:
    return {p: c for p, c in tree(d.folder).items() if c is not None}


def folder_message(d: Device) -> str:
    return str(d.status()["folders"][0]["message"])


@pytest.fixture
def replacement(tmp_path: Path) -> Iterator[Callable[[int], ServerProcess]]:
    """The new server; asked for before the devices, so it stops after them (a daemon stops fast when its server
    still answers)."""
    started: list[ServerProcess] = []

    def make(port: int) -> ServerProcess:
        data = tmp_path / f"new-server-{len(started)}"
        data.mkdir()
        s = ServerProcess(data=data, port=port, log=tmp_path / f"new-server-{len(started)}.log")
        started.append(s)
        s.start()
        s.add_user("alice", "alice-pw")  # the operator creates the account again
        return s

    yield make
    for s in started:
        s.stop()


@pytest.mark.parametrize("same_port", [True, False], ids=["same-url", "new-url"])
def test_login_while_running_uploads_everything_to_a_replaced_empty_server(
        replacement: Callable[[int], ServerProcess], make_device: Callable[..., Device], server: ServerProcess,
        same_port: bool) -> None:
    a = make_device("laptop")
    for rel, data in FILES.items():
        (a.folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (a.folder / rel).write_bytes(data)
    a.wait_synced()
    assert server_files(server) == FILES

    server.stop()  # the old server and its data are gone
    new = replacement(server.port if same_port else free_port())
    if same_port:  # the old token means nothing to the new server
        wait_until(lambda: "refused" in folder_message(a), timeout=45, what="the daemon to be refused")
    a.login(new.url, "alice", "alice-pw")

    wait_until(lambda: server_files(new) == FILES, timeout=45,
               what="every local file on the new server\n" + a.log_tail())
    a.wait_synced()
    status = a.status()
    assert status["state"] == "idle", status
    assert "refused" not in folder_message(a), status
    assert status["server"] == new.url
    assert local_files(a) == FILES, "nothing changed on this disk"
    assert a.json("trash", "list")["entries"] == []
    assert not [e for e in a.json("activity", "-n", "1000")["activity"]
                if e["action"] == "deleted" and e["direction"] == "local"]
    os_trash = a.keyring_dir / "Trash" / "files"
    assert not os_trash.exists() or not any(os_trash.iterdir()), "nothing went to the system trash"

    # and the daemon keeps following the new server
    (a.folder / "after.txt").write_text("written after the move")
    wait_until(lambda: server_files(new).get("after.txt") == b"written after the move", timeout=30,
               what="a new file to reach the new server")


def test_a_daemon_that_was_not_told_takes_up_the_new_login_when_refused(
        replacement: Callable[[int], ServerProcess], make_device: Callable[..., Device],
        server: ServerProcess) -> None:
    """`ferry login` could not reach the daemon (e.g. another user's shell): the 401 makes it look again."""
    a = make_device("laptop")
    (a.folder / "kept.txt").write_text("kept through the move")
    a.wait_synced()
    server.stop()
    new = replacement(server.port)
    wait_until(lambda: "refused" in folder_message(a), timeout=45, what="the daemon to be refused")
    hidden = dict(a.extra_env)
    a.extra_env["FERRY_IPC_TRANSPORT"] = "tcp"  # this `ferry login` cannot find the daemon's socket
    try:
        a.login(new.url, "alice", "alice-pw")
    finally:
        a.extra_env.clear()
        a.extra_env.update(hidden)
    wait_until(lambda: server_files(new) == {"kept.txt": b"kept through the move"}, timeout=60,
               what="the daemon to take up the new login by itself\n" + a.log_tail())
    assert (a.folder / "kept.txt").read_text() == "kept through the move"
