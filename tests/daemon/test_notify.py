"""Desktop notifications: delivered over D-Bus when a notification service exists, harmless when none does."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ferrysync.daemon.notify import Notifier


def test_without_a_session_bus_it_logs_once_and_never_raises(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/nonexistent")
    caplog.set_level(logging.INFO, logger="ferrysync.daemon.notify")
    n = Notifier()
    try:
        first = n.notify("Conflict", "report.txt was edited on two devices", "conflict")
        assert first is not None
        assert first.result(timeout=10) is False
        assert not n.available
        assert n.notify("Error", "disk full", "error") is None  # no more attempts, no more noise
        assert n.notify("Info", "done") is None
    finally:
        n.close()
    assert sum("unavailable" in r.getMessage() for r in caplog.records) == 1


def test_disabled_notifications_do_nothing() -> None:
    enabled = False
    n = Notifier(enabled=lambda: enabled)
    assert n.notify("Conflict", "x") is None
    assert n._thread is None  # not even a thread was started
    n.close()


def test_a_broken_setting_callback_does_not_reach_the_engine() -> None:
    def broken() -> bool:
        raise RuntimeError("config unreadable")

    n = Notifier(enabled=broken)
    assert n.notify("Conflict", "x") is None
    n.close()


FAKE_SERVICE = """
import asyncio, sys, threading
sys.path.insert(0, sys.argv[1])
from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, method

class Notifications(ServiceInterface):
    def __init__(self):
        super().__init__("org.freedesktop.Notifications")
        self.received = []

    @method()
    def Notify(self, app_name: "s", replaces_id: "u", app_icon: "s", summary: "s", body: "s", actions: "as",
               hints: "a{sv}", expire_timeout: "i") -> "u":
        self.received.append([app_name, summary, body])
        return len(self.received)

    @method()
    def GetCapabilities(self) -> "as":
        return ["body"]

    @method()
    def GetServerInformation(self) -> "ssss":
        return ["fake", "ferry-tests", "1.0", "1.2"]

    @method()
    def CloseNotification(self, id: "u"):
        return None

service = Notifications()
ready = threading.Event()

async def serve():
    bus = await MessageBus().connect()
    bus.export("/org/freedesktop/Notifications", service)
    await bus.request_name("org.freedesktop.Notifications")
    ready.set()
    await asyncio.Event().wait()

threading.Thread(target=lambda: asyncio.run(serve()), daemon=True).start()
ready.wait(10)
from ferrysync.daemon.notify import Notifier
n = Notifier()
results = [n.notify("Conflicted copy", "report.txt was edited on two devices", "conflict").result(10),
           n.notify("Synced", "12 files", "info").result(10)]
n.close()
print(results, service.received)
"""


@pytest.mark.skipif(shutil.which("dbus-run-session") is None, reason="needs dbus-run-session (Debian: dbus)")
def test_notifications_reach_a_dbus_notification_service(tmp_path: Path) -> None:
    script = tmp_path / "fake_service.py"
    script.write_text(FAKE_SERVICE)
    proc = subprocess.run(
        ["dbus-run-session", "--", sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == (
        "[True, True] [['Ferry', 'Conflicted copy', 'report.txt was edited on two devices'], "
        "['Ferry', 'Synced', '12 files']]"
    )
