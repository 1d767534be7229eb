"""What the three PyInstaller specs share: the programs, their hidden imports per OS, data files, and the
one-folder build that puts all four executables side by side (autostart looks for ferryd next to ferry).

Backends chosen at run time by name (pystray, keyring, watchdog, desktop-notifier, uvicorn) are invisible to
PyInstaller's import analysis, so they are listed here by hand, per OS.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

from PyInstaller import config
from PyInstaller.building.api import COLLECT, EXE, PYZ
from PyInstaller.building.build_main import Analysis
from PyInstaller.utils.hooks import collect_data_files, collect_submodules, copy_metadata

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
ICONS = HERE.parent / "icons"
# Source folder → import package, as [tool.setuptools] package-dir maps them in pyproject.toml.
SOURCE_PACKAGES = {"daemon": "daemon", "tray": "tray", "server": "server"}
TEMPLATES_DEST = "ferrysync/daemon/autostart/templates"  # read through importlib.resources at run time
APP_NAME = "Ferry"
BUNDLE_ID = "com.ferrysync.Ferry"

# (executable, entry script, needs a console window on Windows)
PROGRAMS = (
    ("ferry", "ferry.py", True),
    ("ferryd", "ferryd.py", False),
    ("ferry-tray", "ferry-tray.py", False),
    ("ferry-server", "ferry-server.py", True),
)

COMMON_HIDDEN = [
    "keyring.backends.chainer",
    "keyring.backends.fail",
    "keyring.backends.null",
    "watchdog.observers.polling",
    "desktop_notifier.backends.dummy",
    "sqlalchemy.dialects.sqlite",
    "pyfastcdc.cy",
    "blake3",
]

PLATFORM_HIDDEN = {
    "linux": [
        "pystray._appindicator",
        "pystray._gtk",
        "pystray._xorg",
        "keyring.backends.SecretService",
        "keyring.backends.libsecret",
        "keyring.backends.kwallet",
        "watchdog.observers.inotify",
        "watchdog.observers.inotify_c",
        "watchdog.observers.inotify_move_event_grouper",
        "desktop_notifier.backends.dbus",
    ],
    "darwin": [
        "pystray._darwin",
        "keyring.backends.macOS",
        "watchdog.observers.fsevents",
        "watchdog.observers.kqueue",
        "_watchdog_fsevents",
        "desktop_notifier.backends.macos",
        "desktop_notifier.backends.macos_support",
    ],
    "win32": [
        "pystray._win32",
        "keyring.backends.Windows",
        "win32ctypes.core",
        "watchdog.observers.read_directory_changes",
        "watchdog.observers.winapi",
        "desktop_notifier.backends.winrt",
    ],
}

# Packages whose submodules are picked by name at run time: import them all.
COLLECT_ALL = {
    "common": ["ferrysync.daemon", "ferrysync.tray", "ferrysync.server", "uvicorn"],
    "linux": ["dbus_fast"],
    "darwin": ["rubicon"],
    "win32": ["winrt", "winrt_sdk"],
}


def _available(module: str) -> bool:
    """Optional extras (psycopg, boto3, winrt, ...) join the bundle only when installed in the build env."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def hidden_imports(platform: str) -> list[str]:
    names = [*COMMON_HIDDEN, *PLATFORM_HIDDEN[platform]]
    for package in [*COLLECT_ALL["common"], *COLLECT_ALL[platform]]:
        if _available(package):
            names.extend(collect_submodules(package))
    for optional in ("psycopg", "psycopg_binary", "alembic", "boto3"):
        if _available(optional):
            names.append(optional)
    return sorted({n for n in names if _available(n.split(".")[0])})


def datas() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    found += collect_data_files("desktop_notifier")
    for dist in (
        "ferrysync",
        "keyring",
    ):  # `ferry --version` and keyring's backend entry points read metadata
        found += copy_metadata(dist)
    found += [(str(p), "icons") for p in sorted(ICONS.glob("ferry*")) if p.is_file()]
    return found


def stage_sources() -> Path:
    """Lay this checkout out as `ferrysync/<pkg>` for the import analysis.

    PyInstaller cannot follow setuptools' editable-install finder, and the folders here are named `daemon/`,
    not `ferrysync/daemon/`; a copy in the work folder (copies, not links: Windows links need privileges)
    makes the bundle come from this checkout whether or not it is installed, and how.
    """
    root = Path(config.CONF["workpath"]) / "src"
    shutil.rmtree(root, ignore_errors=True)
    for folder, package in SOURCE_PACKAGES.items():
        skip = shutil.ignore_patterns("__pycache__")
        shutil.copytree(REPO / folder, root / "ferrysync" / package, ignore=skip)
    return root


def build(platform: str, *, icon: str | None, collect_name: str, first: str = "ferry") -> tuple[list[Any], Any]:
    """One Analysis of all four entry scripts, one executable each, one shared folder.

    Returns (executables, COLLECT). Each EXE gets PyInstaller's bootstrap and runtime hooks plus its own
    entry script only. `first` names the executable listed first (BUNDLE makes it the .app's main one).
    """
    src = stage_sources()
    analysis = Analysis(
        [str(HERE / "entries" / script) for _, script, _ in PROGRAMS],
        pathex=[str(src)],
        hiddenimports=hidden_imports(platform),
        datas=[*datas(), (str(src / "ferrysync" / "daemon" / "autostart" / "templates"), TEMPLATES_DEST)],
        excludes=["tkinter", "pytest", "hypothesis", "schemathesis", "mypy", "keyrings.alt"],
    )
    pyz = PYZ(analysis.pure)
    entry_names = {Path(script).stem for _, script, _ in PROGRAMS}
    exes: list[Any] = []
    for name, script, console in sorted(PROGRAMS, key=lambda program: program[0] != first):
        own = Path(script).stem
        scripts = [entry for entry in analysis.scripts if entry[0] not in entry_names - {own}]
        exes.append(
            EXE(
                pyz,
                scripts,
                [],
                exclude_binaries=True,
                name=name,
                console=console or platform != "win32",
                icon=icon,
                upx=False,
                strip=False,
                argv_emulation=False,
                codesign_identity=None,
                entitlements_file=None,
            )
        )
    coll = COLLECT(*exes, analysis.binaries, analysis.datas, name=collect_name, upx=False, strip=False)
    return exes, coll
