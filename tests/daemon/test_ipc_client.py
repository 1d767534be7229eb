"""The client as the tray and CLI use it: subscriptions, an absent daemon, restarts, timeouts, other users."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from ipc_fakedaemon import FakeDaemon
from util import wait_until

from ferrysync.daemon.ipc.client import ControlClient, DaemonNotRunning, IpcTimeout
from ferrysync.daemon.ipc.protocol import IpcError
from ferrysync.daemon.ipc.server import ControlServer
from ferrysync.daemon.paths import ferry_paths


def test_subscription_starts_with_the_current_status_and_coalesces_bursts(daemon: FakeDaemon) -> None:
    with ControlClient(daemon.paths) as c, c.subscribe(["status"]) as sub:
        first = sub.next_event(5)
        assert first is not None
        assert first["event"] == "status"
        assert first["data"]["state"] == "idle"
        started = time.monotonic()
        for n in range(500):
            daemon.set_status(message=f"Syncing {n} files")
        received: list[dict[str, Any]] = []

        def settled() -> bool:
            event = sub.next_event(0.5)
            if event is not None:
                received.append(event)
            return bool(received) and received[-1]["data"]["message"] == "Syncing 499 files"

        wait_until(settled, timeout=10, what="the last status to arrive")
        elapsed = time.monotonic() - started
        assert len(received) <= 2 + elapsed * 10  # about 10/s at most, however many changes happened


def test_subscription_filters_events_and_carries_other_kinds(daemon: FakeDaemon) -> None:
    with ControlClient(daemon.paths) as c, c.subscribe(["activity"]) as sub:
        daemon.set_status(message="ignored")
        daemon.server.publish("activity", {"path": "a.txt", "action": "upload"})
        event = sub.next_event(5)
        assert event == {"v": 1, "event": "activity", "data": {"path": "a.txt", "action": "upload"}}
        assert sub.next_event(0.3) is None  # no status: this subscriber did not ask for it


def test_a_subscriber_that_stops_reading_is_dropped_without_blocking_publish(tmp_path: Path) -> None:
    d = FakeDaemon(tmp_path / "home", max_queued_events=16, send_timeout=0.5).start()
    try:
        with ControlClient(d.paths) as c:
            slow = c.subscribe(["activity"])  # never read
            fast = c.subscribe(["activity"])
            blob = {"path": "x" * 20_000}
            started = time.monotonic()
            for _ in range(400):
                d.server.publish("activity", blob)
            assert time.monotonic() - started < 1.0  # publish never waits for a subscriber
            wait_until(
                lambda: d.server.connections <= 2, timeout=10, what="the slow subscriber to be dropped"
            )
            fast.close()
            assert c.call("status")["state"] == "idle"
            slow.close()
    finally:
        d.stop()


def test_closing_a_subscription_unsubscribes_and_wakes_its_reader(daemon: FakeDaemon) -> None:
    c = ControlClient(daemon.paths)
    sub = c.subscribe()
    assert sub.next_event(5) is not None
    seen: list[dict[str, Any]] = []
    reader = threading.Thread(target=lambda: seen.extend(sub))
    reader.start()
    wait_until(lambda: daemon.server.connections == 1, what="the subscription to be open")
    sub.close()
    reader.join(5)
    assert not reader.is_alive()
    wait_until(lambda: daemon.server.connections == 0, what="the daemon to notice the hang-up")


def test_iteration_ends_when_the_daemon_stops(daemon: FakeDaemon) -> None:
    c = ControlClient(daemon.paths)
    sub = c.subscribe(["status"])
    assert next(sub)["event"] == "status"  # a plain iterator, as the tray uses it
    threading.Timer(0.2, daemon.stop).start()
    assert list(sub) == []
    with pytest.raises(StopIteration):
        next(sub)


def test_no_daemon_means_daemon_not_running(tmp_path: Path) -> None:
    paths = ferry_paths({"FERRY_HOME": str(tmp_path / "nobody-home")})
    with pytest.raises(DaemonNotRunning):
        ControlClient(paths).call("status")
    paths.runtime_dir.mkdir(parents=True)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(paths.socket_path))  # a socket file with nobody listening: connection refused
    dead.close()
    with pytest.raises(DaemonNotRunning):
        ControlClient(paths).call("status")
    with pytest.raises(DaemonNotRunning):
        ControlClient(paths, transport="tcp").subscribe()


def test_client_survives_a_daemon_restart(tmp_path: Path) -> None:
    d = FakeDaemon(tmp_path / "home").start()
    c = ControlClient(d.paths)
    try:
        assert c.call("status")["state"] == "idle"
        d.stop()
        with pytest.raises(DaemonNotRunning):
            c.call("status")
        d = FakeDaemon(tmp_path / "home").start()
        assert c.call("status")["state"] == "idle"  # reconnects by itself
    finally:
        c.close()
        d.stop()


def test_a_slow_answer_times_out_and_the_next_call_works(tmp_path: Path) -> None:
    release = threading.Event()

    def slow(p: dict[str, Any]) -> dict[str, Any]:
        release.wait(10)
        return {"late": True}

    paths = ferry_paths({"FERRY_HOME": str(tmp_path)})
    with ControlServer(paths, {"slow": slow}, lambda: {"state": "idle"}):
        c = ControlClient(paths, timeout=0.3)
        with pytest.raises(IpcTimeout):
            c.call("slow")
        release.set()
        assert c.call("status") == {"state": "idle"}
        c.close()


def test_daemon_errors_are_typed(daemon: FakeDaemon) -> None:
    with ControlClient(daemon.paths) as c, pytest.raises(IpcError) as info:
        c.call("folder_remove", id="f404")
    assert info.value.code == "not_found"
    assert "f404" in info.value.message


RAW_CLIENT = """
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
try:
    s.connect(sys.argv[1])
except PermissionError:
    print("permission denied"); sys.exit(0)
s.sendall(b'{"v": 1, "id": 1, "method": "status"}\\n')
print(s.makefile("rb").readline().decode().strip())
"""


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to run as another user"
)
@pytest.mark.skipif(shutil.which("runuser") is None, reason="needs runuser (util-linux)")
def test_another_user_is_refused() -> None:
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    home = Path(tempfile.mkdtemp(prefix="ferry-uid-test-"))  # pytest's tmp_path is private to root
    home.chmod(0o755)
    script = home / "raw_client.py"
    script.write_text(RAW_CLIENT)
    script.chmod(0o644)
    d = FakeDaemon(home / "h").start()
    try:
        run = ["runuser", "-u", "nobody", "--", python, str(script), str(d.paths.socket_path)]
        # as shipped, the 0700 runtime dir keeps the other user from even reaching the socket
        out = subprocess.run(run, capture_output=True, text=True, timeout=30, check=True).stdout
        assert out.strip() == "permission denied"
        # with the permissions loosened, the peer-credential check still refuses
        for p in (home / "h", d.paths.runtime_dir):
            p.chmod(0o755)
        d.paths.socket_path.chmod(0o666)
        out = subprocess.run(run, capture_output=True, text=True, timeout=30, check=True).stdout
        assert json.loads(out)["error"]["code"] == "unauthorized"
        with ControlClient(d.paths) as c:  # its owner is still served
            assert c.call("status")["state"] == "idle"
    finally:
        d.stop()
        shutil.rmtree(home, ignore_errors=True)
