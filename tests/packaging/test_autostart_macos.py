"""macOS autostart, checked anywhere: the LaunchAgent plists parse and hold the keys launchd needs."""

from __future__ import annotations

import plistlib
from pathlib import Path

import pytest
from packaging_util import files_under

from ferrysync.daemon import autostart
from ferrysync.daemon.autostart.launch import resolve
from ferrysync.daemon.autostart.macos import LABELS, MacBackend
from ferrysync.daemon.autostart.render import render_launch_agent


def load(path: Path) -> dict[str, object]:
    with path.open("rb") as fh:
        data = plistlib.load(fh)
    assert isinstance(data, dict)
    return data


def test_launch_agents_hold_the_keys(home_env: dict[str, str], tmp_path: Path) -> None:
    env = dict(home_env, FERRY_HOME=str(tmp_path / "dev & <one>"))
    backend = MacBackend(env)
    autostart.enable("all", using=backend)

    daemon = load(backend.plist_file("daemon"))
    assert daemon["Label"] == LABELS["daemon"] == "com.ferrysync.ferryd"
    assert daemon["RunAtLoad"] is True
    assert daemon["KeepAlive"] == {"SuccessfulExit": False}
    assert daemon["ProcessType"] == "Standard"
    assert daemon["EnvironmentVariables"] == {"FERRY_HOME": env["FERRY_HOME"]}
    args = daemon["ProgramArguments"]
    assert isinstance(args, list)
    assert args[0].endswith("ferryd")
    assert "--daemon" not in args, "ferryd must stay in the foreground under launchd"
    assert "-d" not in args, "ferryd must stay in the foreground under launchd"
    assert str(daemon["StandardErrorPath"]).startswith(env["FERRY_HOME"])
    assert Path(str(daemon["StandardErrorPath"])).parent.is_dir()
    assert "AssociatedBundleIdentifiers" not in daemon

    tray = load(backend.plist_file("tray"))
    assert tray["Label"] == "com.ferrysync.tray"
    assert tray["LimitLoadToSessionType"] == "Aqua"
    assert tray["ProcessType"] == "Interactive"
    assert tray["KeepAlive"] == {"SuccessfulExit": False}, "quitting the tray from its menu must stick"


def test_round_trip_leaves_nothing(home_env: dict[str, str]) -> None:
    home = Path(home_env["HOME"])
    backend = MacBackend(home_env)
    report = autostart.enable("daemon", using=backend)
    assert report["daemon"]["enabled"]
    assert report["daemon"]["mechanism"] == "launchd"
    assert report["daemon"]["files"] == [str(home / "Library" / "LaunchAgents" / "com.ferrysync.ferryd.plist")]
    assert not report["tray"]["enabled"]
    autostart.disable("all", using=backend)
    assert [f for f in files_under(home) if "LaunchAgents" in f] == []
    assert not backend.status("daemon").enabled


def test_bundled_app_is_associated(tmp_path: Path) -> None:
    macos = tmp_path / "Ferry.app" / "Contents" / "MacOS"
    macos.mkdir(parents=True)
    for name in ("ferry-tray", "ferryd"):
        (macos / name).write_bytes(b"")
    (macos.parent / "Info.plist").write_bytes(plistlib.dumps({"CFBundleIdentifier": "com.ferrysync.Ferry"}))
    launch = resolve("daemon", environ={}, executable=str(macos / "ferry-tray"), frozen=True, platform="darwin")
    assert launch.argv == (str(macos / "ferryd"),)
    assert launch.bundle_id == "com.ferrysync.Ferry"
    data = plistlib.loads(render_launch_agent("com.ferrysync.ferryd", launch, gui=False, log_file="/l").encode())
    assert data["AssociatedBundleIdentifiers"] == ["com.ferrysync.Ferry"]


def test_damaged_plist_gives_a_clear_error(home_env: dict[str, str]) -> None:
    backend = MacBackend(home_env)
    backend.plist_file("tray").parent.mkdir(parents=True)
    backend.plist_file("tray").write_text("<plist><dict>")
    with pytest.raises(autostart.AutostartError, match="damaged"):
        backend.status("tray")
    backend.disable("tray")
    assert not backend.plist_file("tray").exists()
