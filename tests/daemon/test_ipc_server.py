"""A live ControlServer, driven through raw sockets and the real client: answers, errors, limits, safety."""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import stat
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ipc_fakedaemon import FakeDaemon
from util import bin_path, wait_until

from ferrysync.daemon.ipc.client import ControlClient
from ferrysync.daemon.ipc.protocol import MAX_LINE, IpcError
from ferrysync.daemon.ipc.server import ControlServer, DaemonAlreadyRunning
from ferrysync.daemon.paths import ferry_paths


class Raw:
    """A bare connection speaking lines, to send what no well-behaved client would."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(str(path))
        self.file = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> dict[str, Any]:
        raw = self.file.readline()
        assert raw.endswith(b"\n"), f"connection closed or partial line: {raw!r}"
        answer: dict[str, Any] = json.loads(raw)
        return answer

    def ask(self, data: bytes) -> dict[str, Any]:
        self.send(data)
        return self.line()

    def at_eof(self) -> bool:
        return self.file.read() == b""

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def status_request(rid: int = 99) -> bytes:
    return json.dumps({"v": 1, "id": rid, "method": "status"}).encode() + b"\n"


def test_calls_return_results_and_the_socket_is_private(daemon: FakeDaemon) -> None:
    with ControlClient(daemon.paths) as c:
        hello = c.call("hello", client="test")
        assert hello == {"daemon_version": "0.1.0", "protocol": 1, "pid": os.getpid(), "starting": False,
                         "stopping": False}
        assert c.call("status")["message"] == "Up to date"
        assert c.call("pause") == {"paused": True}
        assert c.call("status")["state"] == "paused"
    assert stat.S_IMODE(os.stat(daemon.paths.socket_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(daemon.paths.runtime_dir).st_mode) == 0o700


def test_handler_errors_are_answers_and_the_daemon_carries_on(tmp_path: Path) -> None:
    def boom(p: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("disk on fire")

    def missing(p: dict[str, Any]) -> dict[str, Any]:
        raise IpcError("not_found", "no such thing")

    handlers: dict[str, Any] = {
        "boom": boom,
        "missing": missing,
        "weird": lambda p: {"when": object()},
        "list": lambda p: [1, 2],
    }
    paths = ferry_paths({"FERRY_HOME": str(tmp_path)})
    with ControlServer(paths, handlers, lambda: {"state": "idle"}), ControlClient(paths) as c:
        for method, code, words in [
            ("boom", "failed", "disk on fire"),
            ("missing", "not_found", "no such thing"),
            ("weird", "failed", "not JSON"),
            ("list", "failed", "not an object"),
            ("nosuch", "unknown_method", "nosuch"),
        ]:
            with pytest.raises(IpcError) as info:
                c.call(method)
            assert info.value.code == code
            assert words in info.value.message
        assert c.call("status") == {"state": "idle"}


def test_garbage_gets_errors_and_the_connection_stays_usable(daemon: FakeDaemon) -> None:
    raw = Raw(daemon.paths.socket_path)
    try:
        for junk, code in [
            (b"hello there\n", "bad_request"),
            (b"\xff\xfe\xfd\n", "bad_request"),
            (b"[]\n", "bad_request"),
            (b'{"v": 1}\n', "bad_request"),
            (b'{"v": 7, "id": 1, "method": "status"}\n', "unsupported_version"),
            (b'{"v": 1, "id": 2, "method": "folder_remove", "params": {"id": []}}\n', "bad_request"),
            (b'{"v": 1, "id": 3, "method": "nope"}\n', "unknown_method"),
        ]:
            answer = raw.ask(junk)
            assert answer["ok"] is False, (junk, answer)
            assert answer["error"]["code"] == code, (junk, answer)
        raw.send(b"\n\n")  # blank lines are ignored
        answer = raw.ask(status_request(5))
        assert answer["ok"] is True
        assert answer["id"] == 5
        assert answer["result"]["state"] == "idle"
    finally:
        raw.close()


def test_a_huge_line_is_refused_and_closed_but_the_daemon_still_answers(daemon: FakeDaemon) -> None:
    raw = Raw(daemon.paths.socket_path)
    # the server may hang up before we finish sending; its answer is still there to read
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        raw.send(b"x" * (MAX_LINE + 65536))
    answer = raw.line()
    assert answer["error"]["code"] == "too_large"
    assert raw.at_eof()
    raw.close()
    with ControlClient(daemon.paths) as c:
        assert c.call("status")["state"] == "idle"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    junk=st.lists(
        st.binary(max_size=300).filter(lambda b: b"\n" not in b and b.strip()), min_size=1, max_size=5
    )
)
def test_fuzz_live_server_answers_every_line(daemon: FakeDaemon, junk: list[bytes]) -> None:
    raw = Raw(daemon.paths.socket_path)
    try:
        raw.send(b"".join(j + b"\n" for j in junk))
        for _ in junk:
            answer = raw.line()
            assert answer["v"] == 1
            assert isinstance(answer["ok"], bool)
        assert raw.ask(status_request())["ok"] is True
    finally:
        raw.close()


def subscribe_request(rid: int = 1) -> bytes:
    return json.dumps({"v": 1, "id": rid, "method": "subscribe", "params": {"events": ["status"]}}).encode() + b"\n"


def test_connections_are_bounded(tmp_path: Path) -> None:
    d = FakeDaemon(tmp_path / "home", max_connections=2).start()
    held = [Raw(d.paths.socket_path) for _ in range(2)]
    try:
        for r in held:  # subscribers are never closed to make room
            assert r.ask(subscribe_request())["ok"] is True
            assert r.line()["event"] == "status"
        extra = Raw(d.paths.socket_path)
        assert extra.line()["error"]["code"] == "busy"
        assert extra.at_eof()
        extra.close()
        held.pop().close()
        wait_until(lambda: d.server.connections == 1, what="the closed connection to be noticed")
        with ControlClient(d.paths) as c:
            assert c.call("status")["state"] == "idle"
    finally:
        for r in held:
            r.close()
        d.stop()


def test_an_idle_connection_is_closed_after_the_timeout_and_a_subscriber_is_not(tmp_path: Path) -> None:
    d = FakeDaemon(tmp_path / "home", idle_timeout=0.5).start()
    idle, sub = Raw(d.paths.socket_path), Raw(d.paths.socket_path)
    try:
        assert idle.ask(status_request())["ok"] is True
        assert sub.ask(subscribe_request())["ok"] is True
        assert sub.line()["event"] == "status"
        idle.sock.settimeout(5)
        assert idle.at_eof(), "closed by the daemon once idle for 0.5 s"
        wait_until(lambda: d.server.connections == 1, timeout=5, what="only the subscriber to remain")
        d.set_status(state="syncing", message="Syncing")  # well after the timeout: still streamed
        assert sub.line()["data"]["state"] == "syncing"
        # a client that was idle too long reconnects by itself
        with ControlClient(d.paths) as c:
            assert c.call("status")["state"] == "syncing"
            wait_until(lambda: d.server.connections == 2, timeout=5, what="the client's connection")
            wait_until(lambda: d.server.connections == 1, timeout=5, what="the idle client to be closed")
            assert c.call("status")["state"] == "syncing"
    finally:
        idle.close()
        sub.close()
        d.stop()


def test_forty_idle_connections_do_not_lock_the_cli_out(tmp_path: Path) -> None:
    d = FakeDaemon(tmp_path / "home").start()  # the defaults: 32 connections, 8 per process, 60 s idle
    held: list[Raw] = []
    try:
        for _ in range(40):
            r = Raw(d.paths.socket_path)
            held.append(r)
            assert r.ask(status_request())["ok"] is True, "each new connection gets in: an idle one makes room"
        assert d.server.connections <= 8
        result = subprocess.run([bin_path("ferry"), "status", "--json"], capture_output=True, text=True,
                                timeout=30, env={**os.environ, "FERRY_HOME": str(d.paths.state_dir.parent)})
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["state"] == "idle"
    finally:
        for r in held:
            r.close()
        d.stop()


def test_one_process_cannot_take_every_connection_with_subscriptions(tmp_path: Path) -> None:
    d = FakeDaemon(tmp_path / "home", max_per_peer=3).start()
    subs: list[Raw] = []
    try:
        for _ in range(3):
            subs.append(Raw(d.paths.socket_path))
            assert subs[-1].ask(subscribe_request())["ok"] is True
        extra = Raw(d.paths.socket_path)
        refused = extra.line()["error"]
        assert refused["code"] == "busy"
        assert "from one process" in refused["message"]
        extra.close()
        result = subprocess.run([bin_path("ferry"), "status", "--json"], capture_output=True, text=True,
                                timeout=30, env={**os.environ, "FERRY_HOME": str(d.paths.state_dir.parent)})
        assert result.returncode == 0, result.stderr
    finally:
        for r in subs:
            r.close()
        d.stop()


def test_stale_socket_is_replaced_and_a_live_daemon_is_not(tmp_path: Path) -> None:
    paths = ferry_paths({"FERRY_HOME": str(tmp_path / "home")})
    paths.runtime_dir.mkdir(parents=True, mode=0o700)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(paths.socket_path))  # a crashed daemon leaves its socket file behind
    dead.close()
    first = FakeDaemon(tmp_path / "home").start()
    try:
        second = FakeDaemon(tmp_path / "home")
        with pytest.raises(DaemonAlreadyRunning):
            second.start()
        with ControlClient(paths) as c:
            assert c.call("status")["state"] == "idle"
    finally:
        first.stop()
    assert not paths.socket_path.exists()


def test_stopping_an_old_server_leaves_a_newer_ones_socket(tmp_path: Path) -> None:
    old = FakeDaemon(tmp_path / "home").start()
    old.paths.socket_path.unlink()  # as if a newer daemon had taken over the path
    new = FakeDaemon(tmp_path / "home").start()
    try:
        old.stop()
        with ControlClient(new.paths) as c:
            assert c.call("status")["state"] == "idle"
    finally:
        new.stop()


def test_refuses_a_runtime_dir_that_is_a_symlink(tmp_path: Path) -> None:
    paths = ferry_paths({"FERRY_HOME": str(tmp_path / "home")})
    (tmp_path / "elsewhere").mkdir()
    paths.runtime_dir.parent.mkdir(parents=True)
    paths.runtime_dir.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(PermissionError, match="symlink"):
        ControlServer(paths, {}, dict).start()


def test_stop_answers_first_then_goes_away(daemon: FakeDaemon) -> None:
    with ControlClient(daemon.paths) as c:
        sub = c.subscribe(["status"])
        assert c.call("stop") == {}
        wait_until(lambda: not daemon.paths.socket_path.exists(), what="the socket to be removed")
        events = list(sub)  # the stream ends when the daemon goes away
        assert events
        assert {e["event"] for e in events} == {"status"}
    assert daemon.server.connections == 0


def test_a_subscriber_holds_the_current_status_as_soon_as_it_has_the_ok(tmp_path: Path) -> None:
    """The ok and the first status go out in one write: a daemon that stops right after answering (CI once caught
    that between two writes) cannot leave a subscriber without the status it was promised. The status source
    looks at the client's end of the socket when it is read: nothing may have arrived there yet (a write to a
    local socket is in the peer's queue when it returns, so an ok sent first would be seen every time)."""
    d = FakeDaemon(tmp_path / "home").start()
    current = d.server.status_source
    arrived_first: list[bool] = []
    raw = Raw(d.paths.socket_path)

    def status_looking_at_the_client() -> dict[str, Any]:
        arrived_first.append(bool(select.select([raw.sock], [], [], 0)[0]))
        return dict(current())

    d.server.status_source = status_looking_at_the_client
    try:
        ok = raw.ask(json.dumps({"v": 1, "id": 1, "method": "subscribe", "params": {"events": ["status"]}}).encode()
                     + b"\n")
        assert ok == {"v": 1, "id": 1, "ok": True, "result": {}}
        first = raw.line()
        assert first["event"] == "status"
        assert first["data"]["message"] == "Up to date"
        assert arrived_first == [False]  # the status was in hand before anything went out
    finally:
        raw.close()
        d.stop()


def test_concurrent_calls_from_threads_share_one_client(daemon: FakeDaemon) -> None:
    errors: list[BaseException] = []
    with ControlClient(daemon.paths) as c:

        def worker(n: int) -> None:
            try:
                for _ in range(30):
                    assert c.call("activity", limit=n)["activity"][-1]["path"] == f"file{n - 1}.txt"
            except BaseException as exc:  # noqa: BLE001 - collected for the main thread
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(1, 9)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


def test_tcp_mode_needs_the_secret(tmp_path: Path) -> None:
    d = FakeDaemon(tmp_path / "home", transport="tcp").start()
    try:
        secret_file = d.paths.ipc_secret_file
        assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
        info = json.loads(secret_file.read_text())
        with ControlClient(d.paths, transport="tcp") as c:
            assert c.call("status")["state"] == "idle"
        for first in (
            {"v": 1, "id": 1, "method": "status"},
            {"v": 1, "id": 1, "method": "hello", "params": {"secret": info["secret"][:-1] + "?"}},
            {"v": 1, "id": 1, "method": "hello"},
        ):
            with socket.create_connection(("127.0.0.1", info["port"]), timeout=5) as s:
                s.sendall(json.dumps(first).encode() + b"\n")
                f = s.makefile("rb")
                assert json.loads(f.readline())["error"]["code"] == "unauthorized"
                assert f.read() == b""  # and the connection is closed
    finally:
        d.stop()
    assert not d.paths.ipc_secret_file.exists()
