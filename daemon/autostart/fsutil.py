"""Small helpers the backends share: atomic writes, tidy removal, running OS tools with a deadline."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ferrysync.daemon.atomic import atomic_write
from ferrysync.daemon.autostart.base import AutostartError

Runner = Callable[[Sequence[str], Mapping[str, str]], "subprocess.CompletedProcess[str]"]


def run_tool(argv: Sequence[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run an OS tool (systemctl, launchctl, schtasks) and hand back its result; never hangs for long."""
    try:
        return subprocess.run(list(argv), env=dict(env), capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(list(argv), 127, "", str(exc))


def checked(result: subprocess.CompletedProcess[str], what: str) -> subprocess.CompletedProcess[str]:
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip() or f"exit status {result.returncode}"
        raise AutostartError(f"{what} failed: {' '.join(result.args)}: {detail}")
    return result


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Readers (systemd, launchd, a desktop session) never see half a file, nor an empty one after a power cut."""
    atomic_write(path, data, mode)


def remove(path: Path, *, stop_at: Path) -> None:
    """Delete a file or symlink, then any directories it leaves empty, up to (not including) `stop_at`."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    parent = path.parent
    while parent != stop_at and stop_at in parent.parents:
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent
