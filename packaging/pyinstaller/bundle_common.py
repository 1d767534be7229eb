"""What the three PyInstaller specs share: the programs, their hidden imports per OS, data files, and the
one-folder build that puts all four executables side by side (autostart looks for ferryd next to ferry).

Backends chosen at run time by name (pystray, keyring, watchdog, desktop-notifier, uvicorn) are invisible to
PyInstaller's import analysis, so they are listed here by hand, per OS.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

# A sibling module: each spec puts this folder on sys.path.
from bundle_sources import MANIFEST, SOURCE_PACKAGES, available, optional_modules, source_modules
from PyInstaller import config
from PyInstaller.building.api import COLLECT, EXE, PYZ
from PyInstaller.building.build_main import Analysis
from PyInstaller.utils.hooks import collect_data_files, collect_submodules, copy_metadata

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
ICONS = HERE.parent / "icons"
TEMPLATES_DEST = "ferrysync/daemon/autostart/templates"  # read through importlib.resources at run time
# Alembic reads the migration scripts as files next to ferrysync.server.store (MIGRATIONS in store/migrate.py):
# they must sit on disk at that path inside the bundle, not only as compiled modules.
MIGRATIONS_DEST = "ferrysync/server/migrations"
# Package data read from the package's own folder at run time (Jinja2 loaders, StaticFiles, importlib.resources):
# the settings window, the server's web app and its share-link pages (pyproject.toml's package-data lists them too;
# tests/packaging/test_bundle.py checks both lists agree).
PAGE_DATA = ("daemon/webui/templates", "daemon/webui/static", "server/web/templates", "server/web/static",
             "server/links/templates")
# Tool caches that land in the source folders and must not be staged (mypy's grow to many megabytes).
STAGE_SKIP = ("__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", "*.pyc")
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
    "common": ["uvicorn", "pyfastcdc"],  # pyfastcdc's Cython modules import one another unseen
    "linux": ["dbus_fast"],
    "darwin": ["rubicon"],
    "win32": ["winrt", "winrt_sdk"],
}


def hidden_imports(platform: str, modules: list[str]) -> list[str]:
    """This OS's run-time-chosen backends, plus every ferrysync module in `modules` (the CLI and the server
    import most of their sub-commands lazily, so the analysis alone would miss them)."""
    names = [*COMMON_HIDDEN, *PLATFORM_HIDDEN[platform]]
    for package in [*COLLECT_ALL["common"], *COLLECT_ALL[platform]]:
        if available(package):
            names.extend(collect_submodules(package))
    installed = {name for name in [*names, *optional_modules()] if available(name)}
    return sorted(installed | set(modules))


def datas() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    found += collect_data_files("desktop_notifier")
    for dist in (
        "ferrysync",
        "keyring",
    ):  # `ferry --version` and keyring's backend entry points read metadata
        found += copy_metadata(dist)
    found += [(str(p), "icons") for p in sorted(ICONS.glob("ferry*")) if p.is_file()]
    pngs = REPO / "daemon" / "autostart" / "templates" / "icons"
    found += [(str(p), "icons") for p in sorted(pngs.glob("ferry-*.png"))]
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
        shutil.copytree(REPO / folder, root / "ferrysync" / package, ignore=shutil.ignore_patterns(*STAGE_SKIP))
    return root


def build(platform: str, *, icon: str | None, collect_name: str, first: str = "ferry") -> tuple[list[Any], Any]:
    """One Analysis of all four entry scripts, one executable each, one shared folder.

    Returns (executables, COLLECT). Each EXE gets PyInstaller's bootstrap and runtime hooks plus its own
    entry script only. `first` names the executable listed first (BUNDLE makes it the .app's main one).
    """
    src = stage_sources()
    # The staged copy, not the checkout: the manifest must match what is analysed even while others edit.
    modules = source_modules(src, {f"ferrysync/{package}": package for package in SOURCE_PACKAGES.values()})
    manifest = src / MANIFEST
    manifest.write_text("\n".join(modules) + "\n", encoding="utf-8")
    analysis = Analysis(
        [str(HERE / "entries" / script) for _, script, _ in PROGRAMS],
        pathex=[str(src)],
        hiddenimports=hidden_imports(platform, modules),
        datas=[
            *datas(),
            (str(src / "ferrysync" / "daemon" / "autostart" / "templates"), TEMPLATES_DEST),
            (str(src / "ferrysync" / "server" / "migrations"), MIGRATIONS_DEST),
            *((str(src / "ferrysync" / folder), f"ferrysync/{folder}") for folder in PAGE_DATA),
            (str(manifest), "."),
        ],
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
