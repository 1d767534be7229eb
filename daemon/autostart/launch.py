"""How to start ferryd and ferry-tray from this very installation: a venv's scripts, a PyInstaller bundle or
a plain interpreter. Autostart entries must point at the install that wrote them, not at the first on PATH."""

from __future__ import annotations

import os
import plistlib
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ferrysync.daemon.autostart.base import DAEMON, TRAY, AutostartError

# Console script name and its entry point, as declared in pyproject.toml.
ENTRY_POINTS: dict[str, tuple[str, str, str]] = {
    DAEMON: ("ferryd", "ferrysync.daemon.main", "main"),
    TRAY: ("ferry-tray", "ferrysync.tray.app", "main"),
}
# Variables an autostart entry carries over from the shell that ran `ferry autostart enable`.
CARRIED_ENV = ("FERRY_HOME",)


@dataclass(frozen=True)
class Launch:
    """A command line plus the environment it needs; `bundle_id` is set when running from a macOS .app."""

    argv: tuple[str, ...]
    environment: dict[str, str] = field(default_factory=dict)
    bundle_id: str | None = None


def _python_code(target: str, environment: Mapping[str, str]) -> str:
    _, module, func = ENTRY_POINTS[target]
    prefix = f"import os; os.environ.update({dict(environment)!r}); " if environment else ""
    return f"{prefix}import sys; from {module} import {func}; sys.exit({func}())"


def _bundle_identifier(executable: Path) -> str | None:
    """`X.app/Contents/MacOS/exe` → CFBundleIdentifier from `X.app/Contents/Info.plist`."""
    contents = executable.parent.parent
    info = contents / "Info.plist"
    if executable.parent.name != "MacOS" or contents.name != "Contents" or not info.is_file():
        return None
    try:
        with info.open("rb") as fh:
            ident = plistlib.load(fh).get("CFBundleIdentifier")
    except (OSError, plistlib.InvalidFileException, ValueError):
        return None
    return ident if isinstance(ident, str) else None


def resolve(
    target: str,
    *,
    environ: Mapping[str, str] | None = None,
    executable: str | None = None,
    frozen: bool | None = None,
    platform: str | None = None,
) -> Launch:
    """The command that starts `target` from the running installation.

    Bundles ship sibling executables; a venv has console scripts next to its interpreter. On Windows a
    non-bundled install runs through pythonw.exe so no console window opens, and since neither the Run key
    nor a scheduled task can set variables, FERRY_HOME is folded into the `-c` code.
    """
    env = os.environ if environ is None else environ
    exe = Path(executable or sys.executable)
    is_frozen = bool(getattr(sys, "frozen", False)) if frozen is None else frozen
    plat = platform or sys.platform
    windows = plat == "win32"
    carried = {k: str(Path(env[k]).expanduser()) for k in CARRIED_ENV if env.get(k)}
    script, _, _ = ENTRY_POINTS[target]

    if is_frozen:
        candidate = exe.parent / (script + ".exe" if windows else script)
        if not candidate.is_file():
            raise AutostartError(f"this Ferry bundle lacks {candidate.name} next to {exe}; reinstall it")
        if windows and carried:
            raise AutostartError(
                "autostart cannot pass FERRY_HOME to a Windows bundle: unset it, or use the pip install"
            )
        return Launch((str(candidate),), carried, _bundle_identifier(candidate))

    if windows:
        pythonw = exe.with_name("pythonw.exe")
        interpreter = pythonw if pythonw.is_file() else exe
        return Launch((str(interpreter), "-c", _python_code(target, carried)), {})

    sibling = exe.parent / script
    if sibling.is_file() and os.access(sibling, os.X_OK):
        return Launch((str(sibling),), carried)
    found = shutil.which(script, path=env.get("PATH"))
    if found:
        return Launch((str(Path(found).absolute()),), carried)
    return Launch((str(exe), "-c", _python_code(target, {})), carried)
