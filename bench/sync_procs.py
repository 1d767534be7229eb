"""Processes the sync benchmark drives: a real ferry-server, ferryd "devices", and a trivial HTTP sink.

Every process is started through a `Procs` registry that stops them all at the end (TERM, then KILL), so a
failed or interrupted run leaves nothing behind. Devices follow tests/e2e/devices.py: each has its own
FERRY_HOME, a plaintext keyring in its own dir, and is driven through the real `ferry` CLI.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests
import tomli_w

from ferrysync.daemon.paths import ferry_paths

T = TypeVar("T")

SINK = str(Path(__file__).with_name("sink.py"))  # the loopback HTTP ceiling


def wait_until(pred: Callable[[], T], timeout: float, what: str, interval: float = 0.02) -> T:
    """Poll `pred` until it returns something truthy; raise TimeoutError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bin_path(name: str) -> str:
    """A console script of this venv (the installed entry points, as users run them)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


class Procs:
    """Every process the benchmark started, so that all of them are stopped however the run ends."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []

    def start(self, cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        self._procs.append(proc)
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self) -> None:
        for proc in reversed(self._procs):
            self.stop(proc, timeout=15)
        self._procs.clear()


def _alive(proc: subprocess.Popen[bytes], log: Path) -> None:
    if proc.poll() is not None:
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}:\n{tail}")


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    def up() -> bool:
        _alive(proc, log)
        try:
            requests.get(url, timeout=1)
            return True
        except requests.ConnectionError:
            return False

    wait_until(up, timeout, f"{url} to answer (log: {log})", interval=0.05)


@dataclass
class FerryServer:
    """A ferry-server on 127.0.0.1 with one user, plus an API session of its own (a separate device)."""

    procs: Procs
    data: Path
    user: str = "bench"
    password: str = "bench-pw"
    port: int = field(default_factory=free_port)
    api: requests.Session = field(default_factory=requests.Session)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FerryServer:
        subprocess.run(
            [
                bin_path("ferry-server"),
                "user",
                "add",
                self.user,
                "--password-stdin",
                "--data",
                str(self.data),
            ],
            input=self.password.encode(),
            check=True,
            capture_output=True,
        )
        log = self.data.parent / "server.log"
        self.proc = self.procs.start(
            [
                bin_path("ferry-server"),
                "serve",
                "--data",
                str(self.data),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            log,
        )
        wait_http(f"{self.url}/v1/health", self.proc, log)
        r = requests.post(
            f"{self.url}/v1/login",
            json={"user": self.user, "password": self.password, "device_name": "bench-observer"},
            timeout=30,
        )
        r.raise_for_status()
        self.api.headers["Authorization"] = f"Bearer {r.json()['token']}"
        return self

    def get(self, path: str, **params: Any) -> Any:
        r = self.api.get(f"{self.url}{path}", params=params, timeout=150)
        r.raise_for_status()
        return r.json()

    def account(self) -> dict[str, int]:
        data: dict[str, int] = self.get("/v1/account")
        return data

    def cursor(self) -> int:
        return int(self.get("/v1/changes/wait", cursor=0, timeout=0)["cursor"])

    def block_count(self) -> int:
        """Blocks in the server's store (packs and files, read as the server reads them): what actually crossed
        the wire and landed."""
        from ferrysync.server.blocks.hybrid import HybridBlockStore

        store = HybridBlockStore(self.data)
        try:
            return sum(1 for _ in store.iter())
        finally:
            store.close()

    def wait_live(
        self, cursor: int, want: Callable[[dict[str, Any]], bool], count: int, timeout: float
    ) -> int:
        """Follow the change feed (long-poll) from `cursor` until `count` distinct live files matching `want`
        are committed; the new cursor. Costs the server one indexed query per wake, unlike polling usage."""
        seen: set[str] = set()
        deadline = time.monotonic() + timeout
        while len(seen) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(seen)} of {count} files committed after {timeout:g} s")
            if not self.get("/v1/changes/wait", cursor=cursor, timeout=min(60, max(1, int(left))))["changes"]:
                continue
            while True:
                page = self.get("/v1/changes", cursor=cursor, limit=10000)
                for e in page["entries"]:
                    if e["kind"] == "file" and not e["deleted"] and want(e):
                        seen.add(e["path"])
                    else:
                        seen.discard(e["path"])
                cursor = int(page["cursor"])
                if not page["has_more"]:
                    break
        return cursor

    def wait_committed(self, cursor: int, path: str, size: int, timeout: float) -> int:
        """Until a live `path` (server path) of `size` bytes is committed after `cursor`; the new cursor."""
        return self.wait_live(cursor, lambda e: e["path"] == path and e["size"] == size, 1, timeout)


@dataclass
class Device:
    """One desktop: its own FERRY_HOME, a `ferryd` process, and the real `ferry` CLI."""

    procs: Procs
    name: str
    base: Path
    proc: subprocess.Popen[bytes] | None = None
    on_spawn: Callable[[Device], None] | None = None  # e.g. attach a profiler to each new daemon

    @property
    def home(self) -> Path:
        return self.base / f"home-{self.name}"

    @property
    def folder(self) -> Path:
        return self.base / f"folder-{self.name}"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "FERRY_HOME": str(self.home),
                "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
                "XDG_DATA_HOME": str(self.base / f"keyring-{self.name}"),
                "DBUS_SESSION_BUS_ADDRESS": "disabled:",
            }
        )
        return env

    def ferry(self, *args: str, stdin: str | None = None, timeout: float = 120) -> str:
        r = subprocess.run(
            [bin_path("ferry"), *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if r.returncode != 0:
            raise RuntimeError(
                f"{self.name}: ferry {' '.join(args)} exited {r.returncode}: {r.stdout}{r.stderr}"
            )
        return r.stdout

    def login(self, server: FerryServer) -> Device:
        self.home.mkdir(parents=True, exist_ok=True)
        self.ferry(
            "login",
            server.url,
            "--user",
            server.user,
            "--password-stdin",
            "--device-name",
            self.name,
            stdin=server.password + "\n",
        )
        return self

    def start(self) -> float:
        """Start ferryd; the seconds until it answers on its control channel."""
        t0 = time.perf_counter()
        log = self.home / "ferryd.stdout"
        self.proc = self.procs.start([bin_path("ferryd")], log, env=self.env)
        if self.on_spawn is not None:
            self.on_spawn(self)

        def answers() -> bool:
            assert self.proc is not None
            _alive(self.proc, log)
            return (
                subprocess.run(
                    [bin_path("ferry"), "status", "--json"], env=self.env, capture_output=True, timeout=30
                ).returncode
                == 0
            )

        wait_until(answers, 60, f"{self.name}'s daemon to answer", interval=0.05)
        return time.perf_counter() - t0

    def set_setting(self, key: str, value: object) -> None:
        """Change a [settings] key of this device's config.toml (the daemon reads it when it starts)."""
        file = ferry_paths(self.env).config_file
        doc = tomllib.loads(file.read_text()) if file.exists() else {}
        doc.setdefault("settings", {})[key] = value
        file.write_text(tomli_w.dumps(doc))

    def wait(self, timeout: float) -> None:
        self.ferry("wait", "--timeout", str(timeout), timeout=timeout + 30)

    def stop(self) -> None:
        if self.proc is not None:
            Procs.stop(self.proc)
            self.proc = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


@dataclass
class Sink:
    """A bare ASGI app on uvicorn that reads a request body and answers 201: the loopback HTTP ceiling."""

    procs: Procs
    log: Path
    port: int = field(default_factory=free_port)

    def start(self) -> Sink:
        proc = self.procs.start([sys.executable, SINK, str(self.port)], self.log)
        wait_http(f"http://127.0.0.1:{self.port}/", proc, self.log)
        return self

    def put_file(self, path: Path) -> float:
        """Stream `path` in one PUT; the seconds it took."""
        t0 = time.perf_counter()
        with path.open("rb") as f:
            r = requests.put(f"http://127.0.0.1:{self.port}/sink", data=f, timeout=600)
        r.raise_for_status()
        if int(r.text) != path.stat().st_size:
            raise RuntimeError(f"the sink got {r.text} bytes of {path.stat().st_size}")
        return time.perf_counter() - t0

    def get_file(self, path: Path) -> float:
        """One streamed GET of `path`'s bytes from the sink, read and dropped; the seconds it took (the download
        twin of `put_file`: HTTP on this machine, no disk write, no hashing)."""
        t0 = time.perf_counter()
        got = 0
        with requests.get(
            f"http://127.0.0.1:{self.port}/", params={"file": str(path)}, stream=True, timeout=600
        ) as r:
            r.raise_for_status()
            for chunk in r.iter_content(1024 * 1024):
                got += len(chunk)
        if got != path.stat().st_size:
            raise RuntimeError(f"the sink sent {got} bytes of {path.stat().st_size}")
        return time.perf_counter() - t0

    def put_blocks(self, path: Path, block: int = 1280 * 1024, parallel: int = 4) -> float:
        """PUT `path` as `block`-sized bodies, `parallel` at a time (the shape of ferry's big-file upload);
        the seconds it took. Shows what one request per block costs over HTTP, before any storage."""
        local = threading.local()
        size = path.stat().st_size

        def put(offset: int) -> int:
            if not hasattr(local, "s"):
                local.s = requests.Session()
            with path.open("rb") as f:
                f.seek(offset)
                data = f.read(block)
            r = local.s.put(f"http://127.0.0.1:{self.port}/sink", data=data, timeout=120)
            r.raise_for_status()
            return int(r.text)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(parallel) as pool:
            got = sum(pool.map(put, range(0, size, block)))
        if got != size:
            raise RuntimeError(f"the sink got {got} bytes of {size}")
        return time.perf_counter() - t0
