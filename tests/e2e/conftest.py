"""End-to-end fixtures: a real ferry-server and real ferryd processes, each device with its own FERRY_HOME."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from devices import Device


@pytest.fixture
def make_device(server: object, tmp_path: Path) -> Iterator[Callable[..., Device]]:
    """Factory: a logged-in device (user alice) syncing its own folder with /Shared, daemon running."""
    made: list[Device] = []

    def make(name: str, *, remote: str = "/Shared", start: bool = True, user: str = "alice",
             password: str = "alice-pw", folder: Path | None = None) -> Device:
        d = Device(name=name, home=tmp_path / f"home-{name}", folder=folder or tmp_path / f"folder-{name}",
                   keyring_dir=tmp_path / f"keyring-{name}")
        made.append(d)
        d.login(server.url, user, password)  # type: ignore[attr-defined]
        if start:
            d.start()
            d.add_folder(remote)
        return d

    yield make
    for d in made:
        d.stop()


@pytest.fixture
def pair(make_device: Callable[..., Device]) -> tuple[Device, Device]:
    return make_device("laptop"), make_device("desktop")


@pytest.fixture
def cpu_hogs() -> Iterator[None]:
    """Two busy loops on this 2-core machine: scheduling gaps of tens of milliseconds open races a quiet machine
    hides."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        yield
    finally:
        for h in hogs:
            h.kill()
            h.wait()
