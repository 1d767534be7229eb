"""Restarts keep everything; retention prunes at start; kill -9 mid-upload leaves no partial block."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import requests
from srvapi import Api, h
from stored_blocks import stored
from util import wait_until


def _queues(local_port: int, remote_port: int) -> tuple[int, int]:
    """(tx_queue, rx_queue) of the IPv4 TCP socket local_port -> remote_port, from /proc/net/tcp (Linux)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == local_port and int(fields[2].split(":")[1], 16) == remote_port:
            tx, rx = fields[4].split(":")
            return int(tx, 16), int(rx, 16)
    raise AssertionError(f"no socket {local_port}->{remote_port}")


def _server_drained(client_port: int, server_port: int) -> bool:
    """True once everything the client sent has been read by the server process (both queues empty)."""
    return _queues(client_port, server_port)[0] == 0 and _queues(server_port, client_port)[1] == 0


def _api(server, user: str = "alice") -> Api:  # type: ignore[no-untyped-def]
    return Api(server.url, server.login(user, f"{user}-pw"), user)


def test_restart_keeps_files_blocks_tokens_and_the_feed(server) -> None:  # type: ignore[no-untyped-def]
    alice = _api(server)
    f = alice.put_file("docs/a.txt", b"persisted bytes")
    alice.one({"op": "delete", "path": "docs/a.txt", "base_rev": f["rev"]})
    g = alice.put_file("docs/b.txt", b"still here")
    before, cursor = alice.all_changes(0)
    server.stop()
    server.start()
    assert alice.all_changes(0) == (before, cursor)  # the old token still works
    assert alice.download(g) == b"still here"
    assert [e["path"] for e in alice.ok(alice.get("/v1/deleted"))["entries"]] == ["docs/a.txt"]
    h2 = alice.put_file("docs/c.txt", b"after restart")
    assert h2["seq"] == cursor + 1  # the sequence continues


def test_retention_prunes_old_revisions_and_tombstones_but_not_current_ones(server) -> None:  # type: ignore[no-untyped-def]
    alice = _api(server)
    bob = _api(server, "bob")
    v1 = alice.put_file("kept.txt", b"v1")
    v2 = alice.put_file("kept.txt", b"v2", base_rev=v1["rev"])
    gone = alice.put_file("gone.txt", b"bye")
    alice.one({"op": "delete", "path": "gone.txt", "base_rev": gone["rev"]})
    never_committed = alice.upload(b"uploaded, never used")
    bob_too = bob.put_file("bob.txt", b"bye")["blocks"][0]  # the deleted file's block is bob's too: it must stay
    old_cursor = v1["seq"]
    server.stop()
    server.extra_args = ["--retention-days", "0", "--gc-grace-hours", "0"]
    server.start()
    revs = alice.ok(alice.get("/v1/revisions", params={"path": "kept.txt"}))["revisions"]
    assert [r["rev"] for r in revs] == [v2["rev"]]  # the current revision survives any retention
    assert alice.download(alice.tree()["kept.txt"]) == b"v2"
    assert alice.ok(alice.get("/v1/deleted"))["entries"] == []
    assert alice.ok(alice.get("/v1/revisions", params={"path": "gone.txt"}))["revisions"] == []
    # A cursor from before a pruned deletion can no longer be served incrementally: the client must re-list.
    r = alice.get("/v1/changes", params={"cursor": old_cursor})
    assert r.status_code == 410
    assert r.json()["error"]["code"] == "cursor_expired"
    assert set(alice.tree()) == {"kept.txt"}
    # Blocks only pruned revisions used, and uploads never committed, are no longer held, nor stored if nobody does.
    assert alice.missing([*v1["blocks"], never_committed, bob_too, *v2["blocks"]]) == [
        *v1["blocks"], never_committed, bob_too]
    assert bob.missing([bob_too]) == []
    assert stored(server.data) == {*v2["blocks"], bob_too}
    assert bob.get(f"/v1/blocks/{bob_too}").content == b"bye"


def test_kill_during_block_upload_leaves_no_partial_block(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    alice = _api(server)
    data = os.urandom(6 * 1024 * 1024)
    digest = h(data)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    head = (f"PUT /v1/blocks/{digest} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice.token}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(data)}\r\n\r\n").encode()
    sock.sendall(head + data[: 4 * 1024 * 1024])
    # Kill only once the server has really read those 4 MiB: it is then mid-body, waiting for the rest.
    client_port = sock.getsockname()[1]
    wait_until(lambda: _server_drained(client_port, server.port), timeout=20, what="the server to read the body")
    server.kill()
    sock.close()
    server.start()
    assert alice.missing([digest]) == [digest]
    assert alice.get(f"/v1/blocks/{digest}").status_code == 404
    block_files = [p for p in (server.data / "blocks").rglob("*") if p.is_file()]
    assert block_files == []  # nothing partial, nor any temp file left over
    alice.upload(data)
    wait_until(lambda: alice.missing([digest]) == [], timeout=10)
    assert [p.name for p in (server.data / "blocks").rglob("*") if p.is_file()] == [digest]


def test_sigterm_stops_the_server_cleanly(server) -> None:  # type: ignore[no-untyped-def]
    proc = server.proc
    proc.terminate()
    # uvicorn re-raises the signal after its graceful shutdown, so "killed by SIGTERM" is the clean exit here.
    assert proc.wait(timeout=15) in (0, -signal.SIGTERM)
    server.proc = None
    log = server.log.read_text()
    assert f"listening on http://127.0.0.1:{server.port}" in log
    assert "ferry-server stopped" in log
    assert "Traceback" not in log


def test_sigterm_answers_a_parked_long_poll_and_stops_at_once(server) -> None:  # type: ignore[no-untyped-def]
    """A device is always parked on /v1/changes/wait. At a restart the server used to wait its whole grace period
    for that request, then cancel it with an ERROR and a traceback in the operator's log: every restart."""
    alice = _api(server)
    cursor = alice.all_changes(0)[1]
    answered: dict[str, object] = {}

    def park() -> None:
        try:
            r = alice.get("/v1/changes/wait", params={"cursor": cursor, "timeout": 60}, timeout=90)
            answered["status"] = r.status_code
        except Exception as exc:  # noqa: BLE001 - what the device would see instead of an answer
            answered["error"] = exc

    poller = threading.Thread(target=park)
    poller.start()
    wait_until(lambda: _parked(server), timeout=15, what="the long-poll parked on the server")
    t0 = time.monotonic()
    server.proc.terminate()
    assert server.proc.wait(timeout=15) in (0, -signal.SIGTERM)
    stopped_s = time.monotonic() - t0
    server.proc = None
    poller.join(10)
    assert answered == {"status": 200}, "the parked device got an answer, not a dropped connection"
    log = server.log.read_text()
    assert "Traceback" not in log
    assert " ERROR " not in log
    assert stopped_s < 2.5, f"the shutdown waited {stopped_s:.1f} s (the grace period is 3 s)"



def _parked(server) -> bool:  # type: ignore[no-untyped-def]
    """The server holds one long-poll now (its /metrics gauge)."""
    text = requests.get(f"{server.url}/metrics", timeout=5).text
    return "ferry_long_polls_waiting 1" in text.splitlines()
