"""The PyInstaller bundle, built and run as a user would (opt-in: FERRY_BUNDLE_TEST=1; takes minutes).

FERRY_BUNDLE_DIR=DIST reuses a bundle already built by `python packaging/build_bundle.py --dist DIST`.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("FERRY_BUNDLE_TEST") != "1", reason="bundle build is opt-in: FERRY_BUNDLE_TEST=1"
    ),
    pytest.mark.timeout(1800),
]

SCRIPT = Path(__file__).resolve().parents[2] / "packaging" / "build_bundle.py"


def load_builder() -> ModuleType:
    """packaging/ is no importable package (and would shadow PyPI's `packaging`): load the script by path."""
    spec = importlib.util.spec_from_file_location("ferry_build_bundle", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def builder() -> ModuleType:
    if importlib.util.find_spec("PyInstaller") is None:
        pytest.skip("PyInstaller is not installed (pip install pyinstaller)")
    return load_builder()


@pytest.fixture(scope="module")
def bins(builder: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    reuse = os.environ.get("FERRY_BUNDLE_DIR")
    if reuse:
        return Path(builder.bin_dir(Path(reuse)))
    root = tmp_path_factory.mktemp("bundle")
    return Path(builder.build(root / "dist", root / "work"))


def test_every_program_is_in_one_folder(builder: ModuleType, bins: Path) -> None:
    for name in builder.PROGRAMS:
        assert builder.program(bins, name).is_file(), name


def test_ferry_version(builder: ModuleType, bins: Path) -> None:
    assert builder.check_version(bins) is None


def test_daemon_starts(builder: ModuleType, bins: Path) -> None:
    assert builder.check_daemon_version(bins) is None


def test_server_help(builder: ModuleType, bins: Path) -> None:
    assert builder.check_server_help(bins) is None


def test_every_module_imports_from_the_bundle(builder: ModuleType, bins: Path) -> None:
    """Each daemon/tray/server module and the server's optional PostgreSQL/S3 back-ends installed here."""
    assert builder.check_imports(bins) is None


def test_server_serves_health(builder: ModuleType, bins: Path) -> None:
    assert builder.check_server_serves(bins) is None


def test_a_file_syncs_between_bundled_devices(builder: ModuleType, bins: Path) -> None:
    """Bundled ferry-server, ferry and ferryd only: a file saved on one device arrives intact on another."""
    assert builder.check_sync(bins) is None


@pytest.mark.parametrize("backend", ["gtk", "appindicator", "xorg"])
def test_tray_loads_its_backend(builder: ModuleType, bins: Path, backend: str) -> None:
    if builder.platform_key() != "linux":
        pytest.skip("the Linux backends")
    if not os.environ.get("DISPLAY") and shutil.which("xvfb-run") is None:
        pytest.skip("needs a display or xvfb-run (Debian package: xvfb)")
    assert builder.check_tray_backend(bins, backend) is None


def test_autostart_templates_are_bundled(bins: Path) -> None:
    """`ferry autostart enable` inside the bundle reads its templates from the bundle's data."""
    found = {p.name for p in bins.rglob("templates/*")}
    assert {"ferryd.service", "ferry-tray.desktop", "launch-agent.plist", "ferryd-task.xml"} <= found


def test_page_templates_and_static_files_are_bundled(bins: Path) -> None:
    """Every template and static file pyproject.toml ships as package data under a sub-folder (the settings window,
    the server's web app, the share-link pages) is in the bundle where its package reads it: a server without its
    web app's files would not even start (Starlette checks its static folder)."""
    import tomllib

    repo = Path(__file__).resolve().parents[2]
    package_dirs = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    data = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    bundled = {p.relative_to(bins).as_posix() for p in bins.rglob("*") if p.is_file()}
    missing = []
    for package, patterns in data.items():
        top = ".".join(package.split(".")[:2])
        source = repo / package_dirs[top] / Path(*package.split(".")[2:])
        for pattern in patterns:
            if "/" not in pattern or pattern.startswith("migrations"):
                continue  # py.typed, and the migrations (bundled as their own data: test_server_serves_health)
            for f in (f for f in source.glob(pattern) if f.is_file()):
                rel = "/".join(["ferrysync", *package.split(".")[1:], f.relative_to(source).as_posix()])
                if not any(b.endswith(rel) for b in bundled):
                    missing.append(rel)
    assert not missing, f"not in the bundle: {missing}"
