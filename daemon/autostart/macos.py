"""macOS: one LaunchAgent per target in ~/Library/LaunchAgents, loaded with launchctl when it is available."""

from __future__ import annotations

import os
import plistlib
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from xml.parsers.expat import ExpatError

from ferrysync.daemon.autostart.base import DAEMON, TRAY, AutostartError, TargetStatus
from ferrysync.daemon.autostart.fsutil import Runner, checked, remove, run_tool, write_atomic
from ferrysync.daemon.autostart.handover import stop_unmanaged_daemon
from ferrysync.daemon.autostart.launch import resolve
from ferrysync.daemon.autostart.render import render_launch_agent
from ferrysync.daemon.paths import ferry_paths

LABELS = {DAEMON: "com.ferrysync.ferryd", TRAY: "com.ferrysync.tray"}
LOG_NAMES = {DAEMON: "ferryd.launchd.log", TRAY: "ferry-tray.launchd.log"}


class MacBackend:
    """launchd starts the agent at log-in (RunAtLoad), restarts it only after a crash (KeepAlive with
    SuccessfulExit=false, so quitting the tray sticks) and expects it to stay in the foreground."""

    platform = "darwin"

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        runner: Runner = run_tool,
        stop_daemon: Callable[[Mapping[str, str]], bool] = stop_unmanaged_daemon,
    ) -> None:
        self.env = dict(os.environ if environ is None else environ)
        self.home = Path(self.env.get("HOME") or Path.home())
        self.agents_dir = self.home / "Library" / "LaunchAgents"
        self._run = runner
        self._stop_daemon = stop_daemon
        self._launchctl = shutil.which("launchctl", path=self.env.get("PATH"))

    def plist_file(self, target: str) -> Path:
        return self.agents_dir / f"{LABELS[target]}.plist"

    def log_dir(self) -> Path:
        """Where ferry_paths() puts logs on macOS, derived from this backend's HOME, not the process's."""
        if self.env.get("FERRY_HOME"):
            return ferry_paths(self.env).log_dir
        return self.home / "Library" / "Logs" / "ferry"

    def _domain(self) -> str:
        return f"gui/{os.getuid()}"

    def render(self, target: str) -> str:
        log_file = str(self.log_dir() / LOG_NAMES[target])
        launch = resolve(target, environ=self.env)
        return render_launch_agent(LABELS[target], launch, gui=target == TRAY, log_file=log_file)

    def enable(self, target: str) -> None:
        text = self.render(target)
        log_file = Path(plistlib.loads(text.encode())["StandardOutPath"])
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)  # launchd would not create it
        except OSError as exc:
            raise AutostartError(f"cannot create the log folder {log_file.parent}: {exc}") from exc
        path = self.plist_file(target)
        write_atomic(path, text.encode())
        if self._launchctl:
            service = f"{self._domain()}/{LABELS[target]}"
            self._run([self._launchctl, "bootout", service], self.env)  # an older copy may be loaded
            self._run([self._launchctl, "enable", service], self.env)  # undo a `launchctl disable`
            if target == DAEMON:
                self._stop_daemon(self.env)  # RunAtLoad starts launchd's copy now: it needs the lock
            result = self._run([self._launchctl, "bootstrap", self._domain(), str(path)], self.env)
            checked(result, "launchctl")

    def disable(self, target: str) -> None:
        if self._launchctl:
            service = f"{self._domain()}/{LABELS[target]}"
            self._run([self._launchctl, "bootout", service], self.env)  # fails harmlessly when not loaded
        remove(self.plist_file(target), stop_at=self.home)

    def status(self, target: str) -> TargetStatus:
        path = self.plist_file(target)
        if not path.exists():
            return TargetStatus()
        try:
            with path.open("rb") as fh:
                data = plistlib.load(fh)
            argv = data.get("ProgramArguments") or [] if isinstance(data, dict) else []
        except (OSError, plistlib.InvalidFileException, ValueError, ExpatError) as exc:
            raise AutostartError(f"{path} is damaged ({exc}); run `ferry autostart enable`") from exc
        running = None
        if self._launchctl:
            result = self._run([self._launchctl, "print", f"{self._domain()}/{LABELS[target]}"], self.env)
            running = result.returncode == 0 and "state = running" in result.stdout
        return TargetStatus(True, "launchd", [str(path)], running, " ".join(str(a) for a in argv))
