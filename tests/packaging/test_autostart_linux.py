"""Linux autostart: the systemd unit, the XDG entries, and enable → status → disable in a temporary home."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from packaging_util import files_under

from ferrysync.daemon import autostart
from ferrysync.daemon.autostart import AutostartError
from ferrysync.daemon.autostart.linux import ICON_SIZES, LinuxBackend


def verify_unit(unit: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", "--user", str(unit)],
        env=dict(env),
        cwd=unit.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is absent (Debian package: systemd)"
)


@needs_systemd_analyze
@pytest.mark.parametrize("ferry_home", [None, 'ferry home 100% $HOME "q"'])
def test_unit_passes_systemd_analyze_verify(home_env: dict[str, str], tmp_path: Path, ferry_home: str | None) -> None:
    env = dict(home_env)
    if ferry_home:
        env["FERRY_HOME"] = str(tmp_path / ferry_home)
    backend = LinuxBackend(env, systemd="offline")
    backend.enable("daemon")
    text = backend.unit_file.read_text()
    for line in ("Type=notify", "Restart=on-failure", "WatchdogSec=60s", "WantedBy=default.target"):
        assert line in text.splitlines()
    result = verify_unit(backend.unit_file, env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    if ferry_home:  # quoted, with the specifier escaped; `$` needs no escape in Environment=
        assert f'Environment="FERRY_HOME={tmp_path}/ferry home 100%% $HOME \\"q\\""' in text.splitlines()


@needs_systemd_analyze
def test_verify_harness_catches_a_misspelt_key(home_env: dict[str, str]) -> None:
    """Guards the check above: a wrong key exits 0 but complains on stderr, and we must see that."""
    backend = LinuxBackend(home_env, systemd="offline")
    backend.enable("daemon")
    backend.unit_file.write_text(backend.unit_file.read_text().replace("Restart=", "Restrat="))
    assert "Restrat" in verify_unit(backend.unit_file, home_env).stderr


def test_systemd_round_trip_leaves_nothing(home_env: dict[str, str]) -> None:
    home = Path(home_env["HOME"])
    backend = LinuxBackend(home_env, systemd="offline")
    report = autostart.enable(["daemon", "tray"], using=backend)

    assert report["daemon"]["enabled"]
    assert report["daemon"]["mechanism"] == "systemd"
    assert report["tray"]["enabled"]
    assert report["tray"]["mechanism"] == "xdg-autostart"
    assert backend.wants_link.is_symlink()
    assert backend.wants_link.resolve() == backend.unit_file.resolve()
    assert report["daemon"]["command"].endswith("ferryd")
    assert backend.app_entry.exists()
    assert "Icon=ferry" in backend.app_entry.read_text()
    assert all(backend.icon_file(size).exists() for size in ICON_SIZES)

    report = autostart.disable("all", using=backend)
    assert not report["daemon"]["enabled"]
    assert not report["tray"]["enabled"]
    assert files_under(home) == []


def test_xdg_fallback_round_trip_leaves_nothing(home_env: dict[str, str]) -> None:
    home = Path(home_env["HOME"])
    backend = LinuxBackend(home_env, systemd="none")
    report = autostart.enable("daemon", using=backend)
    assert report["daemon"]["mechanism"] == "xdg-autostart"
    assert not report["tray"]["enabled"]
    assert not backend.unit_file.exists()
    entry = backend.autostart["daemon"].read_text()
    assert "NoDisplay=true" in entry
    assert "X-GNOME-Autostart-enabled=true" in entry
    assert backend.app_entry.exists(), "the menu entry comes with any enabled target"

    autostart.disable("daemon", using=backend)
    assert files_under(home) == []


def test_launcher_stays_while_one_target_is_enabled(home_env: dict[str, str]) -> None:
    backend = LinuxBackend(home_env, systemd="none")
    autostart.enable("all", using=backend)
    autostart.disable("tray", using=backend)
    assert backend.app_entry.exists()
    autostart.disable("daemon", using=backend)
    assert not backend.app_entry.exists()


def test_switching_mechanism_removes_the_stale_entry(home_env: dict[str, str]) -> None:
    LinuxBackend(home_env, systemd="none").enable("daemon")
    systemd = LinuxBackend(home_env, systemd="offline")
    systemd.enable("daemon")
    assert not systemd.autostart["daemon"].exists()
    LinuxBackend(home_env, systemd="none").enable("daemon")
    assert not systemd.unit_file.exists()
    assert not systemd.wants_link.is_symlink()


def test_enable_is_idempotent_and_carries_ferry_home(home_env: dict[str, str], tmp_path: Path) -> None:
    env = dict(home_env, FERRY_HOME=str(tmp_path / "device one"))
    backend = LinuxBackend(env, systemd="none")
    backend.enable("tray")
    backend.enable("tray")
    entry = backend.autostart["tray"].read_text()
    assert f'Exec=env "FERRY_HOME={tmp_path}/device one" ' in entry
    assert backend.status("tray").enabled


def test_bad_ferry_home_is_refused_before_writing(home_env: dict[str, str]) -> None:
    env = dict(home_env, FERRY_HOME="/tmp/evil\nExecStartPre=/bin/rm")
    backend = LinuxBackend(env, systemd="offline")
    with pytest.raises(AutostartError, match="control characters"):
        backend.enable("daemon")
    assert files_under(Path(home_env["HOME"])) == []


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="needs desktop-file-utils")
def test_desktop_entries_validate(home_env: dict[str, str], tmp_path: Path) -> None:
    env = dict(home_env, FERRY_HOME=str(tmp_path / "a b"))
    backend = LinuxBackend(env, systemd="none")
    autostart.enable("all", using=backend)
    for entry in (*backend.autostart.values(), backend.app_entry):
        result = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout
        assert result.stdout == "", result.stdout


class FakeSystemctl:
    """Stands in for a reachable user manager: records calls, answers is-enabled/is-active from its state."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.enabled = False

    def __call__(self, argv: Sequence[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
        args = list(argv)
        self.calls.append(args)
        verb = args[2]
        out = ""
        if verb == "enable":
            self.enabled = True
        elif verb == "disable":
            self.enabled = False
        elif verb == "is-enabled":
            out = "enabled" if self.enabled else "disabled"
        elif verb == "is-active":
            out = "active" if self.enabled else "inactive"
        return subprocess.CompletedProcess(args, 0, out + "\n", "")


def test_online_mode_drives_systemctl(home_env: dict[str, str]) -> None:
    fake = FakeSystemctl()
    stopped: list[int] = []

    def stop_daemon(env: Mapping[str, str]) -> bool:
        stopped.append(len(fake.calls))
        return True

    backend = LinuxBackend(home_env, systemd="online", runner=fake, stop_daemon=stop_daemon)
    report = autostart.enable("daemon", using=backend)
    assert ["systemctl", "--user", "daemon-reload"] in fake.calls
    enable_at = fake.calls.index(["systemctl", "--user", "enable", "--now", "ferryd.service"])
    assert stopped, "a hand-started ferryd is stopped before systemd starts its own"
    assert stopped[0] <= enable_at, "a hand-started ferryd is stopped before systemd starts its own"
    assert report["daemon"] == {**report["daemon"], "enabled": True, "running": True, "mechanism": "systemd"}

    autostart.enable("daemon", using=backend)
    assert len(stopped) == 1, "systemd's own ferryd (active) is left running on a second enable"

    fake.calls.clear()
    autostart.disable("daemon", using=backend)
    assert fake.calls[0] == ["systemctl", "--user", "disable", "--now", "ferryd.service"]
    assert ["systemctl", "--user", "daemon-reload"] in fake.calls
    assert files_under(Path(home_env["HOME"])) == []


def test_systemctl_failure_is_reported(home_env: dict[str, str]) -> None:
    def refuse(argv: Sequence[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(list(argv), 1, "", "Failed to connect to bus")

    backend = LinuxBackend(home_env, systemd="online", runner=refuse)
    with pytest.raises(AutostartError, match="Failed to connect to bus"):
        backend.enable("daemon")


def test_auto_mode_without_a_session_never_reaches_a_manager(home_env: dict[str, str]) -> None:
    """With a private runtime dir and no bus, the probe cannot find the real user's systemd."""
    assert LinuxBackend(home_env).mode() in ("offline", "none")


def test_cli_round_trip(home_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    def run(action: str, target: str = "all", as_json: bool = False) -> int:
        return autostart.cli(argparse.Namespace(action=action, target=target, json=as_json))

    assert run("enable", "tray") == 0
    assert "tray: enabled (XDG autostart entry)" in capsys.readouterr().out
    assert run("status", as_json=True) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tray"]["enabled"]
    assert not report["daemon"]["enabled"]
    assert run("disable") == 0
    assert capsys.readouterr().out.splitlines() == ["daemon: disabled", "tray: disabled"]
    assert files_under(Path(home_env["HOME"])) == []


def test_cli_rejects_an_unknown_target(home_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert autostart.cli(argparse.Namespace(action="enable", target="everything", json=False)) == 1
    assert "unknown autostart target 'everything'" in capsys.readouterr().err
    assert files_under(Path(home_env["HOME"])) == []
