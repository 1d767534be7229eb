"""Vocabulary shared by the per-OS autostart backends: targets, statuses, errors, the backend contract."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

DAEMON = "daemon"
TRAY = "tray"
TARGETS: tuple[str, ...] = (DAEMON, TRAY)


class AutostartError(Exception):
    """A start-at-log-on entry could not be written, registered or removed; the message says what to do."""


@dataclass
class TargetStatus:
    """What a user asks `ferry autostart status` for: is it set up, how, where, and is it running now."""

    enabled: bool = False
    mechanism: str | None = None  # "systemd", "xdg-autostart", "launchd", "task-scheduler", "registry-run"
    files: list[str] = field(default_factory=list)
    running: bool | None = None  # None where the OS cannot tell us without guessing
    command: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Backend(Protocol):
    """One OS's way of starting Ferry at log-on. Each call handles one target and is idempotent."""

    platform: str

    def enable(self, target: str) -> None: ...

    def disable(self, target: str) -> None: ...

    def status(self, target: str) -> TargetStatus: ...


def normalise_targets(targets: Iterable[str] | str) -> list[str]:
    """Accept "all", one name, or several; reject anything else before touching the disk."""
    names = [targets] if isinstance(targets, str) else list(targets)
    out: list[str] = []
    for name in names:
        expanded = list(TARGETS) if name == "all" else [name]
        for item in expanded:
            if item not in TARGETS:
                choices = ", ".join(TARGETS)
                raise AutostartError(f"unknown autostart target {item!r}: choose from all, {choices}")
            if item not in out:
                out.append(item)
    if not out:
        raise AutostartError("no autostart target given: choose from all, " + ", ".join(TARGETS))
    return out
