"""Enabling autostart while a hand-started ferryd runs: it is stopped first, so the service manager's copy can
take the lock instead of failing and restarting in a loop."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ferrysync.daemon.autostart import AutostartError
from ferrysync.daemon.autostart.handover import stop_unmanaged_daemon
from ferrysync.daemon.lock import is_locked
from ferrysync.daemon.paths import ferry_paths

# A stand-in for ferryd with the real lock and control channel; `stop` ends it (or not, when told to hang).
FAKE_DAEMON = """
import sys, threading
from ferrysync.daemon.ipc.server import ControlServer
from ferrysync.daemon.lock import DaemonLock
from ferrysync.daemon.paths import ferry_paths

paths = ferry_paths().ensure()
stop = threading.Event()
hang = sys.argv[1] == "hang"
with DaemonLock(paths.lock_file), ControlServer(
    paths, {"stop": lambda p: {} if hang else (stop.set() or {})}, lambda: {"state": "idle"}
):
    print("ready", flush=True)
    stop.wait(120)
"""


@pytest.fixture
def fake_daemon(tmp_path: Path) -> Iterator[tuple[dict[str, str], list[subprocess.Popen[str]]]]:
    env = {"FERRY_HOME": str(tmp_path / "ferry home")}
    started: list[subprocess.Popen[str]] = []
    yield env, started
    for proc in started:
        proc.kill()
        proc.wait(10)


def start(env: dict[str, str], started: list[subprocess.Popen[str]], mode: str = "obey") -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", FAKE_DAEMON, mode], env={**os.environ, **env}, stdout=subprocess.PIPE, text=True
    )
    started.append(proc)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    return proc


def test_running_daemon_is_stopped_and_its_lock_freed(
    fake_daemon: tuple[dict[str, str], list[subprocess.Popen[str]]],
) -> None:
    env, started = fake_daemon
    proc = start(env, started)
    assert stop_unmanaged_daemon(env) is True
    assert not is_locked(ferry_paths(env).lock_file)
    assert proc.wait(10) == 0


def test_nothing_running_is_a_no_op(fake_daemon: tuple[dict[str, str], list[subprocess.Popen[str]]]) -> None:
    env, _ = fake_daemon
    assert stop_unmanaged_daemon(env) is False


def test_a_daemon_that_will_not_stop_is_reported(
    fake_daemon: tuple[dict[str, str], list[subprocess.Popen[str]]],
) -> None:
    env, started = fake_daemon
    proc = start(env, started, mode="hang")
    with pytest.raises(AutostartError, match=rf"pid {proc.pid}\) did not stop"):
        stop_unmanaged_daemon(env, timeout=0.5)
    assert proc.poll() is None, "it is left alone, for the user to stop"
