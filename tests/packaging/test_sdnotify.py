"""ferryd's systemd notifications reach a real datagram socket, and are silent no-ops outside systemd."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ferrysync.daemon import sdnotify


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, dict[str, str]]]:
    """What systemd does for a Type=notify unit: a bound datagram socket named in NOTIFY_SOCKET."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    try:
        yield sock, {"NOTIFY_SOCKET": str(path)}
    finally:
        sock.close()


def test_lifecycle_messages(listener: tuple[socket.socket, dict[str, str]]) -> None:
    sock, env = listener
    assert sdnotify.ready("Watching 2 folders", environ=env)
    assert sock.recv(4096).decode().split("\n") == ["READY=1", "STATUS=Watching 2 folders"]
    assert sdnotify.watchdog(environ=env)
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert sdnotify.status("Syncing 3 files\n(12 MB)", environ=env)
    assert sock.recv(4096) == b"STATUS=Syncing 3 files (12 MB)", "a status is one line"
    assert sdnotify.stopping(environ=env)
    assert sock.recv(4096) == b"STOPPING=1"


def test_abstract_namespace_socket() -> None:
    name = f"ferry-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(5)
        assert sdnotify.watchdog(environ={"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(64) == b"WATCHDOG=1"


def test_no_op_outside_systemd() -> None:
    assert sdnotify.ready(environ={}) is False
    assert sdnotify.watchdog(environ={"NOTIFY_SOCKET": "vsock:2:1234"}) is False


def test_a_vanished_socket_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert sdnotify.ready(environ={"NOTIFY_SOCKET": str(tmp_path / "gone")}) is False
    assert "could not notify systemd" in caplog.text


def test_malformed_field_is_a_programming_error(listener: tuple[socket.socket, dict[str, str]]) -> None:
    for bad in ("READY", "=1", "STATUS=two\nlines"):
        with pytest.raises(ValueError, match="not a one-line KEY=value"):
            sdnotify.notify(bad, environ=listener[1])


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "60000000"}, 30.0),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"}, None),  # armed for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert sdnotify.watchdog_interval(env) == expected
