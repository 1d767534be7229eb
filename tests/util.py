"""Small helpers shared by the test suites: waiting on conditions, free ports, starting real processes."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, TypeVar

import pytest
import requests

T = TypeVar("T")


def wait_until(pred: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.02, what: str = "") -> T:
    """Poll `pred` until it returns a truthy value (and return it); fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = pred()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - any condition may raise while the system settles; the last error is shown
            last_exc = exc
        if time.monotonic() > deadline:
            msg = f"timed out after {timeout}s waiting for {what or pred!r}"
            if last_exc is not None:
                msg += f" (last error: {last_exc!r})"
            raise AssertionError(msg)
        time.sleep(interval)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bin_path(name: str) -> str:
    """A console script of this venv (tests run the installed entry points, as users do)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


class OwnsProcess:
    """stop() and kill() for a test's handle on a process it started (`proc`, None while not running)."""

    proc: subprocess.Popen[bytes] | None
    stop_timeout: ClassVar[float] = 10.0  # how long a SIGTERM may take before SIGKILL

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, self.stop_timeout)
            self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@dataclass
class ServerProcess(OwnsProcess):
    """A running ferry-server; restartable on the same data dir and port."""

    data: Path
    port: int
    log: Path
    extra_args: list[str] = field(default_factory=list)
    scheme: str = "http"
    verify: str | bool = True  # a CA file for an HTTPS server with its own certificate
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        cmd = [bin_path("ferry-server"), "serve", "--data", str(self.data), "--host", "127.0.0.1",
               "--port", str(self.port), *self.extra_args]
        self.proc = subprocess.Popen(cmd, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        wait_until(self._healthy, timeout=30, what=f"ferry-server on {self.url} (log: {self.log})")
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"ferry-server exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
        try:
            return requests.get(f"{self.url}/v1/health", timeout=1, verify=self.verify).ok
        except requests.ConnectionError:
            return False

    def add_user(self, name: str, password: str) -> None:
        res = subprocess.run([bin_path("ferry-server"), "user", "add", name, "--password-stdin", "--data",
                              str(self.data), *self._db_args()], input=password.encode(), capture_output=True)
        assert res.returncode == 0, res.stderr.decode(errors="replace")

    def _db_args(self) -> list[str]:
        args = self.extra_args
        return [a for i, a in enumerate(args) if a == "--database-url" or (i and args[i - 1] == "--database-url")]

    def login(self, user: str, password: str, device: str = "test-device") -> str:
        r = requests.post(f"{self.url}/v1/login", json={"user": user, "password": password, "device_name": device},
                          timeout=10, verify=self.verify)
        r.raise_for_status()
        return str(r.json()["token"])


class ServerFactory:
    """Starts real servers for one test, each with its own data folder unless given one; stops them after."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self.started: list[ServerProcess] = []

    def make(self, extra_args: list[str] | None = None, data: Path | None = None) -> ServerProcess:
        d = data or self._tmp.mktemp("server-data")
        s = ServerProcess(data=d, port=free_port(), log=d.parent / f"{d.name}.log", extra_args=list(extra_args or []))
        self.started.append(s)
        return s.start()
