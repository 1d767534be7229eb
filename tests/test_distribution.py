"""The installed distribution: every package of the source tree is in it, so `pip install .` works like -e."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
TOP = {"daemon": "ferrysync.daemon", "tray": "ferrysync.tray", "server": "ferrysync.server"}


def test_every_package_directory_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for folder, name in TOP.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *rel.parts]) if rel.parts else name)
    assert found == listed, f"missing from pyproject: {found - listed}; stale: {listed - found}"


def test_console_scripts_point_at_real_functions() -> None:
    import importlib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for name, target in scripts.items():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), name


def test_a_built_wheel_holds_every_source_file(tmp_path: Path) -> None:
    """What `pip install .` installs: every module and data file the code loads at run time (migrations too)."""
    import subprocess
    import sys
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("ferrysync-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = set()
    for folder, name in TOP.items():
        base = name.replace(".", "/")
        for f in (ROOT / folder).rglob("*"):
            hidden = any(p.startswith((".", "__pycache__")) for p in f.relative_to(ROOT).parts)
            if f.is_file() and not hidden and f.suffix in (".py", ".mako", ".typed", ".html", ".js", ".css", ""):
                expected.add(f"{base}/{f.relative_to(ROOT / folder).as_posix()}")
    missing = sorted(expected - names)
    assert not missing, f"not in the wheel: {missing[:20]}"
