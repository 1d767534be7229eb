"""Test support for the remote/transfer suites (no tests here): one real ferry-server per module, and a fresh
user per test, because starting a server costs seconds while adding a user costs well under one."""

from __future__ import annotations

import itertools
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
import urllib3
from util import bin_path, free_port, stop_process, wait_until

from ferrysync.daemon.remote import RemoteClient

_users = itertools.count(1)


@dataclass
class SharedServer:
    """A running ferry-server process (the shape of tests/conftest.py's ServerProcess, module-scoped)."""

    data: Path
    url: str
    proc: subprocess.Popen[bytes]

    def add_user(self, name: str, password: str) -> None:
        subprocess.run([bin_path("ferry-server"), "user", "add", name, "--password-stdin", "--data",
                        str(self.data)], input=password.encode(), check=True, capture_output=True, timeout=60)


@contextmanager
def running_server(data: Path, *extra: str) -> Iterator[SharedServer]:
    port = free_port()
    log = data.parent / f"{data.name}.log"
    scheme = "https" if "--tls-cert" in extra else "http"
    with log.open("ab") as out:
        proc = subprocess.Popen([bin_path("ferry-server"), "serve", "--data", str(data), "--host", "127.0.0.1",
                                 "--port", str(port), *extra], stdout=out, stderr=subprocess.STDOUT)
    server = SharedServer(data, f"{scheme}://127.0.0.1:{port}", proc)
    try:
        wait_until(lambda: _healthy(server, log), timeout=30, what=f"ferry-server on {server.url}")
        yield server
    finally:
        stop_process(proc)


def _healthy(server: SharedServer, log: Path) -> bool:
    if server.proc.poll() is not None:
        raise RuntimeError(f"ferry-server exited with {server.proc.returncode}: {log.read_text()[-2000:]}")
    try:
        with warnings.catch_warnings():  # a self-signed test certificate: only liveness is checked here
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            return requests.get(f"{server.url}/v1/health", timeout=1, verify=False).ok
    except requests.RequestException:
        return False


@contextmanager
def fresh_user_client(server: SharedServer, device: str = "laptop") -> Iterator[RemoteClient]:
    """A client logged in as a new user with an empty tree (so tests never see each other's files)."""
    name = f"user{next(_users)}"
    server.add_user(name, f"{name}-pw")
    client = RemoteClient(server.url, retries=1, backoff=0.01)
    try:
        client.login(name, f"{name}-pw", device)
        yield client
    finally:
        client.close()
