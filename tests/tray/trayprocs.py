"""The processes the tray tests drive: a fake or real daemon, and the tray itself (imported by the tests
and by conftest; test modules never import conftest by name, which another suite's conftest can shadow)."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

from devices import Device
from util import bin_path, stop_process, wait_until
from xsession import XSession

from ferrysync.daemon.ipc.client import ControlClient, DaemonNotRunning, IpcError
from ferrysync.daemon.paths import ferry_paths

HERE = Path(__file__).resolve().parent
FAKE_DAEMON = HERE / "fake_daemon.py"


class DaemonUnderTest(Protocol):
    """What the tray tests need of a daemon; the fake below implements it, the real ferryd can too."""

    home: Path

    @property
    def start_command(self) -> list[str]: ...
    @property
    def client_env(self) -> dict[str, str]: ...
    def start(self) -> None: ...
    def kill(self) -> None: ...
    def stop(self) -> None: ...
    def call(self, method: str, **params: Any) -> dict[str, Any]: ...
    def is_running(self) -> bool: ...


class FakeDaemonProcess:
    """tests/tray/fake_daemon.py as a process with its own FERRY_HOME (killable, restartable)."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = {**env, "FERRY_HOME": str(home)}
        self.paths = ferry_paths({"FERRY_HOME": str(home)})
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def start_command(self) -> list[str]:
        return [sys.executable, str(FAKE_DAEMON)]

    @property
    def client_env(self) -> dict[str, str]:
        return {}

    def start(self) -> None:
        log = (self.home.parent / f"{self.home.name}-daemon.log").open("ab")
        self.proc = subprocess.Popen(self.start_command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.wait_running()

    def wait_running(self) -> None:
        wait_until(self.is_running, timeout=15, what="the daemon to answer")

    def is_running(self) -> bool:
        try:
            self.call("status")
            return True
        except (DaemonNotRunning, IpcError):
            return False

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        with ControlClient(self.paths, timeout=5) as c:
            return c.call(method, **params)

    def set_state(self, lists: dict[str, Any] | None = None, **status: Any) -> None:
        """Steer the fake: status fields, and `lists` ({"conflicts"|"activity"|"deletions"|"settings": ...})."""
        self.call("_test_set", status=status, **(lists or {}))

    def calls(self, method: str) -> list[dict[str, Any]]:
        return [c["params"] for c in self.call("_test_calls")["calls"] if c["method"] == method]

    def kill(self) -> None:
        """kill -9, whoever started it (the test or the tray's "Start Ferry")."""
        pid = self._pid()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        elif pid:
            os.kill(pid, 9)
        wait_until(lambda: not self.is_running(), timeout=10, what="the daemon to die")

    def stop(self) -> None:
        pid = self._pid()
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 15)

    def _pid(self) -> int | None:
        try:
            return int(self.call("hello")["pid"])
        except (DaemonNotRunning, IpcError, KeyError, ValueError):
            return None


class RealDaemon:
    """The real `ferryd` of a logged-in device (tests/e2e/devices.py), seen through the tray's eyes: the same
    socket, and `ferry` CLI calls for what a user would check by hand."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.home = device.home
        self.paths = ferry_paths({"FERRY_HOME": str(device.home)})

    @property
    def start_command(self) -> list[str]:
        return [bin_path("ferryd")]

    @property
    def client_env(self) -> dict[str, str]:
        """What a daemon started from the tray ("Start Ferry") needs to find this device's credentials."""
        env = self.device.env
        return {k: env[k] for k in ("PYTHON_KEYRING_BACKEND", "XDG_DATA_HOME")}

    def start(self) -> None:
        self.device.start()

    def kill(self) -> None:
        """kill -9: no goodbye on the socket, a stale socket file left behind."""
        self.device.kill()
        wait_until(lambda: not self.is_running(), timeout=10, what="the daemon to die")

    def stop(self) -> None:
        self.device.stop()

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        with ControlClient(self.paths, timeout=10) as c:
            return c.call(method, **params)

    def is_running(self) -> bool:
        try:
            self.call("hello")
            return True
        except (DaemonNotRunning, IpcError):
            return False

    def status(self) -> dict[str, Any]:
        """`ferry status --json`: what the user's own CLI says."""
        return self.device.status()

    def ferry(self, *args: str) -> str:
        return self.device.ferry(*args).stdout


class TrayProcess:
    def __init__(self, session: XSession, daemon: DaemonUnderTest, log: Path) -> None:
        self.session = session
        self.daemon = daemon
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, backend: str = "gtk", *extra: str, env: dict[str, str] | None = None) -> TrayProcess:
        argv = [bin_path("ferry-tray"), "-v", "--backend", backend, "--panel", "light",
                "--daemon-command", shlex.join(self.daemon.start_command), *extra]
        full_env = self.session.env(**{"FERRY_HOME": str(self.daemon.home), **self.daemon.client_env, **(env or {})})
        self.proc = subprocess.Popen(argv, env=full_env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        return self

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_log(self, pattern: str, timeout: float = 15) -> re.Match[str]:
        def found() -> re.Match[str] | None:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"ferry-tray exited with {self.proc.returncode}:\n{self.text()[-3000:]}")
            matches = list(re.finditer(pattern, self.text()))
            return matches[-1] if matches else None

        return wait_until(found, timeout=timeout, what=f"{pattern!r} in the tray log")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
