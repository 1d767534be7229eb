"""Fixtures shared by every suite: a real ferry-server on 127.0.0.1 with users, started as a process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).parent))

from util import bin_path, free_port, stop_process, wait_until


@dataclass
class ServerProcess:
    """A running ferry-server; restartable on the same data dir and port."""

    data: Path
    port: int
    log: Path
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

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
            return requests.get(f"{self.url}/v1/health", timeout=1).ok
        except requests.ConnectionError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def add_user(self, name: str, password: str) -> None:
        subprocess.run([bin_path("ferry-server"), "user", "add", name, "--password-stdin", "--data", str(self.data),
                        *self._db_args()], input=password.encode(), check=True, capture_output=True)

    def _db_args(self) -> list[str]:
        args = self.extra_args
        return [a for i, a in enumerate(args) if a == "--database-url" or (i and args[i - 1] == "--database-url")]

    def login(self, user: str, password: str, device: str = "test-device") -> str:
        r = requests.post(f"{self.url}/v1/login", json={"user": user, "password": password, "device_name": device},
                          timeout=10)
        r.raise_for_status()
        return str(r.json()["token"])


@pytest.fixture
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[type]:
    started: list[ServerProcess] = []

    class Factory:
        @staticmethod
        def make(extra_args: list[str] | None = None, data: Path | None = None) -> ServerProcess:
            d = data or tmp_path_factory.mktemp("server-data")
            s = ServerProcess(data=d, port=free_port(), log=d.parent / f"{d.name}.log",
                              extra_args=list(extra_args or []))
            started.append(s)
            return s.start()

    yield Factory
    for s in started:
        s.stop()


@pytest.fixture
def server(server_factory: type) -> ServerProcess:
    """A fresh server with users alice (password 'alice-pw') and bob ('bob-pw')."""
    s: ServerProcess = server_factory.make()
    s.add_user("alice", "alice-pw")
    s.add_user("bob", "bob-pw")
    return s
