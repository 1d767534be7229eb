"""Fixtures for the packaging suite: a throw-away home so autostart never touches the real user's session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SESSION_VARS = ("DBUS_SESSION_BUS_ADDRESS", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "FERRY_HOME")


@pytest.fixture
def home_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """HOME, XDG dirs and a 0700 runtime dir under tmp_path, no session bus: systemctl --user reaches nothing.

    os.environ is patched too, for code (the CLI, platformdirs) that reads it directly.
    """
    home = tmp_path / "home"
    runtime = tmp_path / "run"
    home.mkdir()
    runtime.mkdir(mode=0o700)
    os.chmod(runtime, 0o700)
    for var in SESSION_VARS:
        monkeypatch.delenv(var, raising=False)
    values = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_RUNTIME_DIR": str(runtime),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return dict(os.environ)
