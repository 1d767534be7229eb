"""A real desktop session for tray tests: Xvfb, a private D-Bus session bus with a notification service, and
trayer as the system tray (XEmbed). Plus screenshots and clicks through ImageMagick and xdotool.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from util import stop_process, wait_until

TOOLS = ("Xvfb", "trayer", "xdotool", "import", "dbus-daemon")
NOTIFICATION_DAEMONS = ("/usr/lib/notification-daemon/notification-daemon",)
SCREEN = (640, 300)
TRAY_HEIGHT = 32


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


def gtk_missing() -> str | None:
    """Why the GTK backend cannot run here, or None."""
    try:
        import gi

        gi.require_version("Gtk", "3.0")
        from gi.repository import Gtk  # noqa: F401
    except (ImportError, ValueError) as exc:
        return f"PyGObject/GTK 3 not importable ({exc})"
    return None


@dataclass
class XSession:
    """Xvfb + session bus + notification service + trayer, torn down in reverse order."""

    workdir: Path
    display: str = ""
    bus_address: str = ""
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    notifications: subprocess.Popen[bytes] | None = None

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "XDG_CURRENT_DESKTOP")}
        env.update(DISPLAY=self.display, DBUS_SESSION_BUS_ADDRESS=self.bus_address, NO_AT_BRIDGE="1",
                   GDK_BACKEND="x11")
        env.update(extra)
        return env

    def _log(self, name: str) -> int:
        return os.open(self.workdir / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def start(self) -> XSession:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._start_xvfb()
        bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                               stdout=subprocess.PIPE, stderr=self._log("dbus"))
        self.procs.append(bus)
        assert bus.stdout is not None
        self.bus_address = bus.stdout.readline().decode().strip()
        if not self.bus_address:
            raise RuntimeError("dbus-daemon printed no address")
        for path in NOTIFICATION_DAEMONS:
            if os.access(path, os.X_OK):
                self.notifications = self.spawn([path], "notifications")
                break
        self._start_trayer()
        return self

    def _start_xvfb(self, attempts: int = 5) -> None:
        """Xvfb on a random high display number (tools and other suites default to :0 and :99); -displayfd
        tells when it is ready. A number already taken makes Xvfb exit at once: try another.

        `-noreset`: without it the server resets itself each time its last client leaves, and refuses clients
        while it does. The readiness probe below is such a client, so the notification service and trayer,
        connecting right after it, now and then found the display closed (CI: "cannot open display", three
        trayer starts within 90 ms all refused)."""
        rng = random.Random()
        for _ in range(attempts):
            number = rng.randint(200, 899)
            r, w = os.pipe()
            xvfb = subprocess.Popen(["Xvfb", f":{number}", "-displayfd", str(w), "-screen", "0",
                                     f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp", "-noreset"], pass_fds=(w,),
                                    stdout=self._log("xvfb"), stderr=subprocess.STDOUT)
            os.close(w)
            with os.fdopen(r) as f:
                ready = f.readline().strip()
            if ready:
                self.procs.append(xvfb)
                self.display = f":{ready}"
                wait_until(self._display_answers, timeout=15, what=f"X display {self.display} to accept clients")
                return
            stop_process(xvfb)
        raise RuntimeError(f"Xvfb did not start: {(self.workdir / 'xvfb.log').read_text()[-1000:]}")

    def _display_answers(self) -> bool:
        done = subprocess.run(["xdotool", "getdisplaygeometry"], env=self.env(), capture_output=True, timeout=10)
        return done.returncode == 0

    def _start_trayer(self, attempts: int = 3) -> None:
        """trayer now and then fails to open a display that has just come up: start it again if it dies."""
        for _ in range(attempts):
            wait_until(self._display_answers, timeout=15, what=f"X display {self.display} to accept clients")
            trayer = self.spawn(["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                                 "--height", str(TRAY_HEIGHT), "--transparent", "false"], "trayer")
            def ended_or_docked(t: subprocess.Popen[bytes] = trayer) -> bool:
                return t.poll() is not None or self.tray_window() is not None

            up = wait_until(ended_or_docked, timeout=15, what="trayer's window")
            if trayer.poll() is None and up:
                return
            self.procs.remove(trayer)
        log = (self.workdir / "trayer.log").read_text(errors="replace")[-1000:]
        raise RuntimeError(f"trayer did not start on {self.display}: {log}")

    def stop_notifications(self) -> None:
        """Leave the bus without org.freedesktop.Notifications, as on many minimal desktops."""
        if self.notifications is not None:
            stop_process(self.notifications)
            self.procs.remove(self.notifications)
            self.notifications = None

    def spawn(self, argv: list[str], name: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, env=self.env(), stdout=self._log(name), stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            stop_process(proc, timeout=5)
        self.procs.clear()

    # --- looking and clicking ---

    def xdotool(self, *args: str) -> str:
        done = subprocess.run(["xdotool", *args], env=self.env(), capture_output=True, text=True, timeout=10)
        return done.stdout

    def tray_window(self) -> tuple[int, int, int, int] | None:
        """(x, y, w, h) of trayer's dock window (the 'request' width grows with the icons)."""
        out = self.xdotool("search", "--onlyvisible", "--class", "trayer")
        best = None
        for wid in out.split():
            geo = self.xdotool("getwindowgeometry", "--shell", wid)
            vals = dict(line.split("=", 1) for line in geo.splitlines() if "=" in line)
            if {"X", "Y", "WIDTH", "HEIGHT"} <= vals.keys():
                box = (int(vals["X"]), int(vals["Y"]), int(vals["WIDTH"]), int(vals["HEIGHT"]))
                if box[3] == TRAY_HEIGHT and (best is None or box[2] > best[2]):
                    best = box
        return best

    def screenshot(self) -> Image.Image:
        done = subprocess.run(["import", "-window", "root", "png24:-"], env=self.env(), capture_output=True,
                              timeout=20, check=True)
        return Image.open(io.BytesIO(done.stdout)).convert("RGB")

    def click(self, x: int, y: int, button: int = 1) -> None:
        self.xdotool("mousemove", str(x), str(y), "click", str(button))

    def icon_titles(self) -> list[str]:
        """The titles (tooltips) of the docked Ferry icons: pystray sets them as the icon window's name, as a
        screen reader would read it."""
        found = self.xdotool("search", "--name", "^Ferry").split()
        names = (self.xdotool("getwindowname", wid).strip() for wid in found)
        return [n for n in names if n.startswith("Ferry")]

    def key(self, *keys: str) -> None:
        self.xdotool("key", *keys)
