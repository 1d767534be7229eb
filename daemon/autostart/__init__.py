"""`ferry autostart enable|disable|status`: start ferryd and the tray at log-in, on every desktop OS.

Each OS's native mechanism does the work (systemd or XDG autostart on Linux, launchd on macOS, Task Scheduler
and the Run key on Windows); the files are rendered from the templates in `templates/`, and disabling removes
everything enabling wrote.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from ferrysync.daemon.autostart.base import TARGETS, AutostartError, Backend, TargetStatus, normalise_targets

__all__ = ["TARGETS", "AutostartError", "TargetStatus", "backend", "cli", "disable", "enable", "status"]

MECHANISMS = {
    "systemd": "systemd user unit",
    "xdg-autostart": "XDG autostart entry",
    "launchd": "LaunchAgent",
    "task-scheduler": "scheduled task",
    "registry-run": "Run registry key",
}


def backend(environ: Mapping[str, str] | None = None, platform: str | None = None) -> Backend:
    """The backend for this OS (or `platform`, so other OSes' files can be rendered and checked anywhere)."""
    plat = platform or sys.platform
    if plat == "darwin":
        from ferrysync.daemon.autostart.macos import MacBackend

        return MacBackend(environ)
    if plat == "win32":
        from ferrysync.daemon.autostart.windows import WindowsBackend

        return WindowsBackend(environ)
    if plat.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        from ferrysync.daemon.autostart.linux import LinuxBackend

        return LinuxBackend(environ)
    raise AutostartError(f"autostart is not supported on {plat}")


def enable(targets: Iterable[str] | str = TARGETS, *, using: Backend | None = None) -> dict[str, Any]:
    """Set the targets to start at log-in (starting them now where the OS does that) and return `status()`."""
    impl = using or backend()
    for target in normalise_targets(targets):
        impl.enable(target)
    return status(using=impl)


def disable(targets: Iterable[str] | str = TARGETS, *, using: Backend | None = None) -> dict[str, Any]:
    """Stop the targets from starting at log-in, remove what `enable` wrote, and return `status()`."""
    impl = using or backend()
    for target in normalise_targets(targets):
        impl.disable(target)
    return status(using=impl)


def status(*, using: Backend | None = None) -> dict[str, Any]:
    """{"platform": ..., "daemon": {...}, "tray": {...}} with each target's `TargetStatus` as a dict."""
    impl = using or backend()
    result: dict[str, Any] = {"platform": impl.platform}
    for target in TARGETS:
        result[target] = impl.status(target).to_dict()
    return result


def format_status(report: Mapping[str, Any]) -> str:
    """The human view: one line per target, then where its entry lives."""
    lines = []
    for target in TARGETS:
        entry = report[target]
        if not entry["enabled"]:
            lines.append(f"{target}: disabled")
            continue
        state = {True: ", running", False: ", not running", None: ""}[entry["running"]]
        lines.append(f"{target}: enabled ({MECHANISMS.get(entry['mechanism'], entry['mechanism'])}{state})")
        lines.extend(f"  {f}" for f in entry["files"])
    return "\n".join(lines)


def _targets_from(args: argparse.Namespace) -> list[str]:
    """`--target all|daemon|tray`, or the `--daemon`/`--tray` flags; neither means both."""
    picked = [t for t in TARGETS if getattr(args, t, False)]
    if picked:
        return picked
    return normalise_targets(getattr(args, "target", None) or "all")


def cli(args: argparse.Namespace) -> int:
    """Entry for `ferry autostart`: 0 on success, 1 when the OS refused (the message says why)."""
    action = getattr(args, "action", None) or "status"
    try:
        if action == "status":
            report = status()
        elif action in ("enable", "disable"):
            report = (enable if action == "enable" else disable)(_targets_from(args))
        else:
            print(f"ferry autostart: unknown action {action!r} (enable, disable, status)", file=sys.stderr)
            return 2
    except AutostartError as exc:
        print(f"ferry autostart: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2) if getattr(args, "json", False) else format_status(report))
    return 0
