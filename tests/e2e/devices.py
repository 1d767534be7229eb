"""A "device" for end-to-end tests: its own FERRY_HOME, a real `ferryd` process, the real `ferry` CLI."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from util import OwnsProcess, bin_path, wait_until


@dataclass
class Device(OwnsProcess):
    name: str
    home: Path
    folder: Path
    keyring_dir: Path
    proc: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    stop_timeout: ClassVar[float] = 30.0  # a daemon finishing its transfers may take a while

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"FERRY_HOME": str(self.home), "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
                    "XDG_DATA_HOME": str(self.keyring_dir), "DBUS_SESSION_BUS_ADDRESS": "disabled:"})
        env.update(self.extra_env)
        return env

    def ferry(self, *args: str, input: str | None = None, check: bool = True,
              timeout: float = 60) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([bin_path("ferry"), *args], env=self.env, input=input, capture_output=True,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"ferry {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n"
                                 f"{result.stderr}")
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ferry(*args, "--json").stdout)

    def login(self, url: str, user: str, password: str) -> None:
        self.ferry("login", url, "--user", user, "--password-stdin", "--device-name", self.name,
                   input=password + "\n")

    def add_folder(self, remote: str = "/Shared") -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.ferry("folder", "add", str(self.folder), "--remote", remote)

    def start(self) -> Device:
        log = (self.home / "ferryd.stdout").open("ab")
        # DEBUG: every plan and outcome is in the log, so a failing test can say where each file went.
        self.proc = subprocess.Popen([bin_path("ferryd"), "--log-level", "DEBUG"], env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT)
        wait_until(self._answers, timeout=30, what=f"{self.name}'s daemon to answer")
        return self

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            out = (self.home / "ferryd.stdout").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.name}: ferryd exited with {self.proc.returncode}:\n{out}")
        return self.ferry("status", "--json", check=False, timeout=10).returncode == 0

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = self.json("status")
        return data

    def wait_synced(self, timeout: float = 60) -> None:
        self.ferry("wait", "--timeout", str(timeout), timeout=timeout + 15)

    def log_tail(self) -> str:
        log = self.home / "logs" / "ferryd.log"
        return log.read_text(errors="replace")[-4000:] if log.exists() else ""


def tree(root: Path) -> dict[str, bytes | None]:
    """What a user sees in a folder: relative path -> content (None for folders); Ferry's own dir left out."""
    out: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        if rel_dir == Path("."):
            dirnames[:] = [d for d in dirnames if d != ".ferry"]
        for d in dirnames:
            out[(rel_dir / d).as_posix()] = None
        for f in filenames:
            out[(rel_dir / f).as_posix()] = (Path(dirpath) / f).read_bytes()
    return out


def same_trees(*devices: Device) -> bool:
    first = tree(devices[0].folder)
    return all(tree(d.folder) == first for d in devices[1:])


def converge(*devices: Device, timeout: float = 30) -> None:
    wait_until(lambda: same_trees(*devices), timeout=timeout,
               what="the folders to hold the same files\n" + "\n".join(d.log_tail() for d in devices))
