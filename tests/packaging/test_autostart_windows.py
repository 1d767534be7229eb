"""Windows autostart, checked on any OS: the Run key's command line and the scheduled task's XML."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from ferrysync.daemon import autostart
from ferrysync.daemon.autostart import AutostartError
from ferrysync.daemon.autostart.launch import Launch, resolve
from ferrysync.daemon.autostart.windows import RUN_VALUES, WindowsBackend

NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}


class FakeRunKey:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def set(self, name: str, command: str) -> None:
        self.values[name] = command

    def delete(self, name: str) -> None:
        self.values.pop(name, None)


class FakeSchtasks:
    """Keeps registered tasks by name; reads the XML file the way schtasks would (UTF-16)."""

    def __init__(self, accept: bool = True) -> None:
        self.accept = accept
        self.tasks: dict[str, str] = {}
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
        args = list(argv)
        self.calls.append(args)
        name = args[args.index("/TN") + 1]
        verb = args[1]
        if verb == "/Create":
            if not self.accept:
                return subprocess.CompletedProcess(args, 1, "", "ERROR: Access is denied.")
            self.tasks[name] = Path(args[args.index("/XML") + 1]).read_text(encoding="utf-16")
            return subprocess.CompletedProcess(args, 0, "SUCCESS", "")
        if verb == "/Query":
            if name in self.tasks:
                return subprocess.CompletedProcess(args, 0, self.tasks[name], "")
            return subprocess.CompletedProcess(args, 1, "", "ERROR: The system cannot find the file specified.")
        if verb == "/Delete":
            self.tasks.pop(name)
            return subprocess.CompletedProcess(args, 0, "SUCCESS", "")
        raise AssertionError(f"unexpected schtasks call {args}")


@pytest.fixture
def win_python(tmp_path: Path) -> Path:
    scripts = tmp_path / "venv" / "Scripts"
    scripts.mkdir(parents=True)
    for name in ("python.exe", "pythonw.exe"):
        (scripts / name).write_bytes(b"")
    return scripts / "python.exe"


def make_backend(win_python: Path, schtasks: FakeSchtasks, run_key: FakeRunKey, **env: str) -> WindowsBackend:
    environ = {"USERNAME": "Ada Lovelace", "USERDOMAIN": "PC", **env}

    class FromTheVenv(WindowsBackend):
        def launch(self, target: str) -> Launch:  # as if run by the venv's python.exe
            return resolve(target, environ=environ, executable=str(win_python), frozen=False, platform="win32")

    return FromTheVenv(environ, run_key=run_key, runner=schtasks)


def test_task_xml_has_no_battery_or_time_limits(win_python: Path) -> None:
    backend = make_backend(win_python, FakeSchtasks(), FakeRunKey(), FERRY_HOME=r"C:\Users\Ada\Ferry & Co")
    root = ET.fromstring(backend.task_xml())
    settings = root.find("t:Settings", NS)
    assert settings is not None
    assert settings.findtext("t:DisallowStartIfOnBatteries", namespaces=NS) == "false"
    assert settings.findtext("t:StopIfGoingOnBatteries", namespaces=NS) == "false"
    assert settings.findtext("t:ExecutionTimeLimit", namespaces=NS) == "PT0S"
    assert settings.findtext("t:RestartOnFailure/t:Count", namespaces=NS) == "10"
    assert root.findtext("t:Triggers/t:LogonTrigger/t:UserId", namespaces=NS) == r"PC\Ada Lovelace"
    assert root.findtext("t:Principals/t:Principal/t:LogonType", namespaces=NS) == "InteractiveToken"
    command = root.findtext("t:Actions/t:Exec/t:Command", namespaces=NS)
    arguments = root.findtext("t:Actions/t:Exec/t:Arguments", namespaces=NS) or ""
    assert command == str(win_python.with_name("pythonw.exe")), "pythonw: no console window at log-on"
    assert arguments.startswith('-c "')
    assert "from ferrysync.daemon.main import main" in arguments
    assert r"C:\\Users\\Ada\\Ferry & Co" in arguments, "FERRY_HOME travels inside the -c code"


def test_code_run_by_pythonw_is_valid_python(win_python: Path) -> None:
    launch = resolve("tray", environ={"FERRY_HOME": "C:\\x'y"}, executable=str(win_python), platform="win32")
    code = launch.argv[2]
    compile(code, "<ferry-tray>", "exec")
    assert "from ferrysync.tray.app import main" in code
    assert launch.environment == {}


def test_daemon_task_round_trip(win_python: Path) -> None:
    schtasks, run_key = FakeSchtasks(), FakeRunKey()
    backend = make_backend(win_python, schtasks, run_key)
    report = autostart.enable("all", using=backend)
    assert report["daemon"]["mechanism"] == "task-scheduler"
    assert report["daemon"]["files"] == [r"\Ferry sync daemon (Ada Lovelace)"]
    assert "pythonw.exe" in report["daemon"]["command"]
    assert report["tray"]["mechanism"] == "registry-run"
    assert run_key.values == {RUN_VALUES["tray"]: report["tray"]["command"]}
    tray_command = run_key.values["Ferry"]
    assert tray_command.startswith(str(win_python.with_name("pythonw.exe")) + " -c ")

    autostart.disable("all", using=backend)
    assert schtasks.tasks == {}
    assert run_key.values == {}
    assert not any(autostart.status(using=backend)[t]["enabled"] for t in ("daemon", "tray"))


def test_refused_task_falls_back_to_the_run_key(win_python: Path) -> None:
    run_key = FakeRunKey()
    backend = make_backend(win_python, FakeSchtasks(accept=False), run_key)
    backend.enable("daemon")
    assert backend.status("daemon").mechanism == "registry-run"
    assert "ferrysync.daemon.main" in run_key.values["Ferry daemon"]
    backend.disable("daemon")
    assert run_key.values == {}


def test_frozen_bundle_uses_its_own_exe(tmp_path: Path) -> None:
    for name in ("ferry.exe", "ferryd.exe", "ferry-tray.exe"):
        (tmp_path / name).write_bytes(b"")
    launch = resolve("daemon", environ={}, executable=str(tmp_path / "ferry.exe"), frozen=True, platform="win32")
    assert launch.argv == (str(tmp_path / "ferryd.exe"),)
    with pytest.raises(AutostartError, match="FERRY_HOME"):
        resolve(
            "daemon",
            environ={"FERRY_HOME": "D:\\f"},
            executable=str(tmp_path / "ferry.exe"),
            frozen=True,
            platform="win32",
        )


def test_incomplete_bundle_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ferry.exe").write_bytes(b"")
    with pytest.raises(AutostartError, match=r"ferry-tray\.exe"):
        resolve("tray", environ={}, executable=str(tmp_path / "ferry.exe"), frozen=True, platform="win32")


@pytest.mark.skipif(sys.platform != "win32", reason="touches the real HKCU Run key")
def test_real_run_key_round_trip() -> None:
    from ferrysync.daemon.autostart.windows import WinregRunKey

    key = WinregRunKey()
    key.set("Ferry test entry", "notepad.exe")
    try:
        assert key.get("Ferry test entry") == "notepad.exe"
    finally:
        key.delete("Ferry test entry")
    assert key.get("Ferry test entry") is None
