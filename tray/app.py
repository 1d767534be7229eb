"""`ferry-tray`: the tray icon of one daemon (the one of FERRY_HOME, or the user's default)."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from ferrysync.daemon.ipc import ControlClient, FerryPaths, ferry_paths
from ferrysync.tray import desktop
from ferrysync.tray.controller import Controller
from ferrysync.tray.ui import BACKENDS, NoTray, TrayUI, choose_backend
from ferrysync.tray.view import Command

log = logging.getLogger("ferrysync.tray")


class TrayAlreadyRunning(RuntimeError):
    pass


class _Desktop:
    """The real desktop side effects (tray/desktop.py), as the Controller's Desktop protocol."""

    def open_path(self, path: str) -> None:
        desktop.open_path(path)

    def open_url(self, url: str) -> None:
        desktop.open_url(url)

    def pick_folder(self) -> str | None:
        return desktop.pick_folder()

    def spawn(self, argv: Sequence[str]) -> None:
        desktop.spawn(argv)


def default_daemon_command() -> list[str]:
    """`ferry start` when the CLI is installed beside us, else the `ferryd` entry point (detached)."""
    here = Path(sys.executable).parent
    for name, extra in (("ferry", ["start"]), ("ferryd", [])):
        candidate = here / (name + (".exe" if os.name == "nt" else ""))
        found = str(candidate) if candidate.exists() else shutil.which(name)
        if found:
            return [found, *extra]
    return [sys.executable, "-m", "ferrysync.daemon.main"]


def single_instance(paths: FerryPaths) -> IO[str] | None:
    """Hold a lock in the runtime dir for the tray's lifetime, so one daemon never gets two icons."""
    if os.name != "posix":
        return None
    import fcntl

    paths.runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # 0600 whatever the umask, like every file in Ferry's own directories (the daemon narrows others at start)
    handle = open(paths.runtime_dir / "ferry-tray.lock", "w",  # noqa: SIM115 - held until exit
                  opener=lambda p, flags: os.open(p, flags, 0o600))
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise TrayAlreadyRunning("ferry-tray is already running for this Ferry") from None
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ferry-tray", description="Ferry's tray icon and menu.")
    p.add_argument("--backend", choices=BACKENDS, help="pystray backend (default: the best this desktop has)")
    p.add_argument("--panel", choices=("auto", "light", "dark"), default="auto",
                   help="icon variant for the panel's colour (default: guess from the desktop settings)")
    p.add_argument("--icon-size", type=int, metavar="PX",
                   help="draw the icon at this size (default: the size the tray asks for, where it says)")
    p.add_argument("--daemon-command", metavar="CMD",
                   help="what 'Start Ferry' runs (default: `ferry start`, else `ferryd`)")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    args = p.parse_args(argv)
    if args.icon_size is not None and not 8 <= args.icon_size <= 1024:
        p.error("--icon-size must be between 8 and 1024")
    if args.daemon_command is not None and not shlex.split(args.daemon_command):
        p.error("--daemon-command must not be empty")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s ferry-tray %(levelname)s %(message)s")
    paths = ferry_paths()
    try:
        lock = single_instance(paths)
    except TrayAlreadyRunning as exc:
        print(f"ferry-tray: {exc}", file=sys.stderr)
        return 1
    try:
        backend = choose_backend(args.backend)
    except ValueError as exc:
        print(f"ferry-tray: {exc}", file=sys.stderr)
        return 2
    dark = args.panel == "dark" or (args.panel == "auto" and desktop.prefers_dark_panel())
    command = shlex.split(args.daemon_command) if args.daemon_command else default_daemon_command()
    log.info("backend %s, %s panel, daemon at %s", backend, "dark" if dark else "light", paths.socket_path)

    controller: Controller | None = None

    def on_command(cmd: Command) -> None:
        if controller is not None:
            controller.dispatch(cmd)

    ui = TrayUI(on_command, backend=backend, dark=dark, icon_size=args.icon_size)
    controller = Controller(ControlClient(paths, timeout=10.0), ui, _Desktop(), daemon_command=command,
                            log_file=paths.log_file, click_opens_preferences=backend == "xorg")
    try:
        ui.run(controller.view(), on_ready=controller.start)
    except NoTray as exc:
        print(f"ferry-tray: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
        if lock is not None:
            lock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
