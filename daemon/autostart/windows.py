"""Windows: the tray starts from the per-user Run key; ferryd from a per-user scheduled task (restarted after
a crash, no battery or 72-hour limits), falling back to the Run key where the task cannot be registered."""

from __future__ import annotations

import contextlib
import html
import importlib
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from ferrysync.daemon.autostart.base import DAEMON, TRAY, AutostartError, TargetStatus
from ferrysync.daemon.autostart.fsutil import Runner, run_tool
from ferrysync.daemon.autostart.launch import Launch, resolve
from ferrysync.daemon.autostart.render import render_task_xml, windows_command_line

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUES = {DAEMON: "Ferry daemon", TRAY: "Ferry"}


class RunKey(Protocol):
    """The HKCU Run key, as far as autostart needs it (a fake stands in for it in tests on other OSes)."""

    def get(self, name: str) -> str | None: ...

    def set(self, name: str, command: str) -> None: ...

    def delete(self, name: str) -> None: ...


def _winreg() -> Any:
    """winreg exists only on Windows; a lazy import keeps this module importable (and testable) anywhere."""
    return importlib.import_module("winreg")


class WinregRunKey:
    """HKCU\\...\\Run through winreg, imported lazily so this module loads on every OS."""

    def get(self, name: str) -> str | None:
        winreg = _winreg()
        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                value, _ = winreg.QueryValueEx(key, name)
        except FileNotFoundError:
            return None
        return str(value)

    def set(self, name: str, command: str) -> None:
        winreg = _winreg()
        try:
            with winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
                winreg.SetValueEx(key, name, 0, winreg.REG_SZ, command)
        except OSError as exc:
            raise AutostartError(f"cannot write HKCU\\{RUN_KEY}\\{name}: {exc}") from exc

    def delete(self, name: str) -> None:
        winreg = _winreg()
        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
                winreg.DeleteValue(key, name)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise AutostartError(f"cannot remove HKCU\\{RUN_KEY}\\{name}: {exc}") from exc


class WindowsBackend:
    platform = "win32"

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        run_key: RunKey | None = None,
        runner: Runner = run_tool,
    ) -> None:
        self.env = dict(os.environ if environ is None else environ)
        self.run_key: RunKey = run_key or WinregRunKey()
        self._run = runner
        user = self.env.get("USERNAME", "user")
        domain = self.env.get("USERDOMAIN")
        self.user_id = f"{domain}\\{user}" if domain else user
        self.task_name = f"Ferry sync daemon ({user})"  # task names are machine-wide; users must not collide

    def launch(self, target: str) -> Launch:
        return resolve(target, environ=self.env, platform="win32")

    def task_xml(self) -> str:
        return render_task_xml(self.launch(DAEMON), task_name=self.task_name, user_id=self.user_id)

    def enable(self, target: str) -> None:
        command = windows_command_line(self.launch(target).argv)
        if target == DAEMON and self._register_task():
            self.run_key.delete(RUN_VALUES[DAEMON])
            return
        self.run_key.set(RUN_VALUES[target], command)

    def _register_task(self) -> bool:
        """schtasks reads the definition from a UTF-16 file; a refusal (policy, old Windows) is not fatal."""
        fd, tmp = tempfile.mkstemp(prefix="ferryd-task-", suffix=".xml")
        os.close(fd)
        try:
            Path(tmp).write_text(self.task_xml(), encoding="utf-16")
            result = self._run(["schtasks", "/Create", "/TN", self.task_name, "/XML", tmp, "/F"], self.env)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return result.returncode == 0

    def _query_task(self) -> str | None:
        """The registered task's XML, or None when there is no such task."""
        result = self._run(["schtasks", "/Query", "/TN", self.task_name, "/XML"], self.env)
        return result.stdout if result.returncode == 0 else None

    def disable(self, target: str) -> None:
        if target == DAEMON and self._query_task() is not None:
            result = self._run(["schtasks", "/Delete", "/TN", self.task_name, "/F"], self.env)
            if result.returncode != 0:
                detail = result.stderr.strip() or f"exit status {result.returncode}"
                raise AutostartError(f"cannot delete the scheduled task {self.task_name!r}: {detail}")
        self.run_key.delete(RUN_VALUES[target])

    def status(self, target: str) -> TargetStatus:
        where = f"HKCU\\{RUN_KEY}\\{RUN_VALUES[target]}"
        task = self._query_task() if target == DAEMON else None
        if task is not None:
            found = [re.search(rf"<{tag}>(.*?)</{tag}>", task, re.DOTALL) for tag in ("Command", "Arguments")]
            task_command = " ".join(html.unescape(m.group(1)) for m in found if m)
            return TargetStatus(True, "task-scheduler", [f"\\{self.task_name}"], None, task_command or None)
        command = self.run_key.get(RUN_VALUES[target])
        if command is not None:
            return TargetStatus(True, "registry-run", [where], None, command)
        return TargetStatus()
