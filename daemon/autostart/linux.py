"""Linux: a systemd user unit for ferryd (XDG autostart where no systemd runs), XDG autostart for the tray,
and an application menu entry with Ferry's icon while anything of Ferry is set to start."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Literal

from ferrysync.daemon.autostart.base import DAEMON, TARGETS, TRAY, AutostartError, TargetStatus
from ferrysync.daemon.autostart.fsutil import Runner, checked, remove, run_tool, write_atomic
from ferrysync.daemon.autostart.handover import stop_unmanaged_daemon
from ferrysync.daemon.autostart.launch import resolve
from ferrysync.daemon.autostart.render import render_desktop_entry, render_systemd_unit

UNIT = "ferryd.service"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
SystemdMode = Literal["auto", "online", "offline", "none"]


def _xdg_dir(env: Mapping[str, str], var: str, default: Path) -> Path:
    value = env.get(var, "")
    return Path(value) if value.startswith("/") else default  # the spec ignores relative values


class LinuxBackend:
    """`systemd` picks how ferryd starts: "online" drives a reachable user manager with systemctl, "offline"
    writes the unit and its enablement symlink (systemd is the init, but no user manager answers now, e.g.
    over ssh), "none" uses XDG autostart; "auto" probes in that order."""

    platform = "linux"

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        systemd: SystemdMode = "auto",
        runner: Runner = run_tool,
        stop_daemon: Callable[[Mapping[str, str]], bool] = stop_unmanaged_daemon,
    ) -> None:
        self.env = dict(os.environ if environ is None else environ)
        home = Path(self.env.get("HOME") or Path.home())
        self.config_home = _xdg_dir(self.env, "XDG_CONFIG_HOME", home / ".config")
        self.data_home = _xdg_dir(self.env, "XDG_DATA_HOME", home / ".local" / "share")
        self.unit_file = self.config_home / "systemd" / "user" / UNIT
        self.wants_link = self.config_home / "systemd" / "user" / "default.target.wants" / UNIT
        self.autostart = {
            DAEMON: self.config_home / "autostart" / "ferryd.desktop",
            TRAY: self.config_home / "autostart" / "ferry-tray.desktop",
        }
        self.app_entry = self.data_home / "applications" / "ferry.desktop"
        self._mode: SystemdMode | None = None if systemd == "auto" else systemd
        self._run = runner
        self._stop_daemon = stop_daemon

    # -- systemd -------------------------------------------------------------------------------------------
    def mode(self) -> SystemdMode:
        if self._mode is None:
            has_systemctl = shutil.which("systemctl", path=self.env.get("PATH")) is not None
            if has_systemctl and self._systemctl("show-environment") == 0:
                self._mode = "online"
            elif Path("/run/systemd/system").is_dir():  # sd_booted(): systemd is this machine's init
                self._mode = "offline"
            else:
                self._mode = "none"
        return self._mode

    def _systemctl(self, *args: str, check: bool = False) -> int:
        result = self._run(["systemctl", "--user", *args], self.env)
        if check:
            checked(result, "systemctl")
        return result.returncode

    def _systemctl_output(self, *args: str) -> str:
        return self._run(["systemctl", "--user", *args], self.env).stdout.strip()

    # -- targets -------------------------------------------------------------------------------------------
    def enable(self, target: str) -> None:
        launch = resolve(target, environ=self.env)
        if target == DAEMON and self.mode() != "none":
            remove(self.autostart[DAEMON], stop_at=self.config_home)
            write_atomic(self.unit_file, render_systemd_unit(launch).encode())
            if self.mode() == "online":
                self._systemctl("daemon-reload", check=True)
                if self._systemctl_output("is-active", UNIT) != "active":
                    self._stop_daemon(self.env)  # one started by hand would make systemd's copy fail on the lock
                self._systemctl("enable", "--now", UNIT, check=True)
            else:
                remove(self.wants_link, stop_at=self.config_home)
                self.wants_link.parent.mkdir(parents=True, exist_ok=True)
                self.wants_link.symlink_to(Path("..") / UNIT)
        else:
            if target == DAEMON:
                self._remove_unit()
            template = "ferryd.desktop" if target == DAEMON else "ferry-tray.desktop"
            write_atomic(self.autostart[target], render_desktop_entry(template, launch).encode())
        self._install_launcher()

    def disable(self, target: str) -> None:
        if target == DAEMON:
            self._remove_unit()
        remove(self.autostart[target], stop_at=self.config_home)
        if not any(self.status(t).enabled for t in TARGETS):
            self._remove_launcher()

    def status(self, target: str) -> TargetStatus:
        if target == DAEMON and (self.unit_file.exists() or self.wants_link.is_symlink()):
            online = self.mode() == "online"
            enabled = self.wants_link.is_symlink()
            running = None
            if online:
                enabled = self._systemctl_output("is-enabled", UNIT) == "enabled"
                running = self._systemctl_output("is-active", UNIT) == "active"
            files = [str(p) for p in (self.unit_file, self.wants_link) if p.is_symlink() or p.exists()]
            return TargetStatus(enabled, "systemd", files, running, _key(self.unit_file, "ExecStart"))
        entry = self.autostart[target]
        if entry.exists():
            return TargetStatus(True, "xdg-autostart", [str(entry)], None, _key(entry, "Exec"))
        return TargetStatus()

    def _remove_unit(self) -> None:
        if not (self.unit_file.exists() or self.wants_link.is_symlink()):
            return
        online = self.mode() == "online"
        if online:
            self._systemctl("disable", "--now", UNIT)  # a unit the manager never loaded is not an error here
        remove(self.wants_link, stop_at=self.config_home)
        remove(self.unit_file, stop_at=self.config_home)
        if online:
            self._systemctl("daemon-reload", check=True)

    # -- application entry and icons -----------------------------------------------------------------------
    def icon_file(self, size: int) -> Path:
        return self.data_home / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "ferry.png"

    def _install_launcher(self) -> None:
        entry = render_desktop_entry("ferry.desktop", resolve(TRAY, environ=self.env))
        write_atomic(self.app_entry, entry.encode())
        for size in ICON_SIZES:  # drawn by the tray's artwork at build time (packaging/make_icons.py)
            path = self.icon_file(size)
            try:
                data = resources.files(__package__).joinpath("templates", "icons", f"ferry-{size}.png").read_bytes()
                path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(path, data)
            except OSError as exc:
                raise AutostartError(f"cannot write the icon {path}: {exc}") from exc

    def _remove_launcher(self) -> None:
        remove(self.app_entry, stop_at=self.data_home)
        for size in ICON_SIZES:
            remove(self.icon_file(size), stop_at=self.data_home)


def _key(path: Path, key: str) -> str | None:
    try:
        match = re.search(rf"^{key}=(.*)$", path.read_text(encoding="utf-8"), re.MULTILINE)
    except OSError:
        return None
    return match.group(1) if match else None
