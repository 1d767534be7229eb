"""Fixtures for the tray suites: the daemon under test (swappable), a desktop session, a running tray."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from devices import Device
from trayprocs import DaemonUnderTest, FakeDaemonProcess, RealDaemon, TrayProcess
from util import ServerFactory, ServerProcess
from xsession import XSession, gtk_missing, missing_tools

HERE = Path(__file__).resolve().parent


@pytest.fixture
def alice_server(server_factory: ServerFactory) -> ServerProcess:
    """A real ferry-server with the one user the tray tests need (each user added costs a process start)."""
    s = server_factory.make()
    s.add_user("alice", "alice-pw")
    return s


@pytest.fixture
def real_daemon(tmp_path: Path, alice_server: Any) -> Iterator[RealDaemon]:
    """alice's device on a real ferry-server, syncing tmp_path/Ferry with /Shared, its ferryd running."""
    device = Device(name="tray-pc", home=tmp_path / "home", folder=tmp_path / "Ferry",
                    keyring_dir=tmp_path / "keyring")
    d = RealDaemon(device)
    try:
        device.login(alice_server.url, "alice", "alice-pw")
        d.start()
        device.add_folder("/Shared")
        yield d
    finally:
        d.stop()


@pytest.fixture
def desktop_session(tmp_path: Path) -> Iterator[XSession]:
    """A fresh X display with a tray and a session bus per test: no icon of one test is seen by the next."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"tray tests need {', '.join(missing)} (apt-get install xvfb trayer xdotool imagemagick dbus)")
    why = gtk_missing()
    if why:
        pytest.skip(f"tray tests need the GTK backend: {why}")
    session = XSession(tmp_path / "x")
    try:
        session.start()
        yield session
    finally:
        session.stop()


@pytest.fixture
def daemon(tmp_path: Path, desktop_session: XSession) -> Iterator[FakeDaemonProcess]:
    """The daemon under test. Override this fixture to run the same tests against the real ferryd."""
    d = FakeDaemonProcess(tmp_path / "home", desktop_session.env())
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture
def tray(tmp_path: Path, desktop_session: XSession, daemon: DaemonUnderTest) -> Iterator[TrayProcess]:
    t = TrayProcess(desktop_session, daemon, tmp_path / "tray.log")
    try:
        yield t
    finally:
        t.stop()


@pytest.fixture
def artifacts() -> Callable[[str], Path]:
    """Where screenshots go: $FERRY_ARTIFACTS/tray or tests/artifacts/tray."""
    root = Path(os.environ["FERRY_ARTIFACTS"]) if os.environ.get("FERRY_ARTIFACTS") else HERE.parent / "artifacts"
    out = root / "tray"
    out.mkdir(parents=True, exist_ok=True)
    return lambda name: out / name
