"""Which `ferrysync` modules a bundle must hold, read from the source folders.

The spec uses it for hidden imports and for a manifest inside the bundle; the smoke test imports what that
manifest lists. So a module added to daemon/, tray/ or server/ joins the bundle without anyone editing a list,
and reading files rather than importing packages means nothing is skipped because an import failed in the
build environment. The server's optional back-ends are listed here too, for the same two readers.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

# Source folder -> import package under `ferrysync`, as [tool.setuptools] package-dir maps them in pyproject.toml.
SOURCE_PACKAGES = {"daemon": "daemon", "tray": "tray", "server": "server"}

# Written into every bundle: the modules of the sources it was built from, which its smoke test imports (the
# checkout may have moved on since, for example while others edit it).
MANIFEST = "ferrysync-modules.txt"

# The server's optional back-ends, imported lazily (so invisible to the analysis): PostgreSQL through psycopg 3
# (SQLAlchemy picks its dialect module from the URL), S3 through boto3 (its hook brings botocore's data files).
OPTIONAL = ("psycopg", "psycopg_binary", "sqlalchemy.dialects.postgresql.psycopg", "boto3", "botocore")


# Compiled accelerators whose absence is silent (pyfastcdc falls back to pure Python, about a hundred times
# slower, with only a warning): the smoke test imports them by name so a bundle without them fails.
NATIVE = ("pyfastcdc.cy", "blake3")


def available(module: str) -> bool:
    """Is the top-level package of `module` installed here (optional extras join a bundle only then)?"""
    try:
        return importlib.util.find_spec(module.split(".")[0]) is not None
    except (ImportError, ValueError):
        return False


def optional_modules() -> list[str]:
    """The optional back-ends installed in this environment: a bundle built here must hold them."""
    return [module for module in OPTIONAL if available(module)]


def _is_package(folder: Path) -> bool:
    return (folder / "__init__.py").is_file()


def module_files(repo: Path, folders: dict[str, str] | None = None) -> dict[str, Path]:
    """Every importable ferrysync module and package under `repo` -> its file.

    `folders` maps source folders to package names (default: this checkout's SOURCE_PACKAGES). Folders without
    an `__init__.py` (templates, Alembic's migration scripts) are data, not code: left out.
    """
    found: dict[str, Path] = {}
    for folder, package in (folders or SOURCE_PACKAGES).items():
        base = repo / folder
        if not _is_package(base):
            continue
        for path in base.rglob("*.py"):
            parts = path.relative_to(base).with_suffix("").parts
            if not all(_is_package(base.joinpath(*parts[:depth])) for depth in range(1, len(parts))):
                continue
            dotted = ["ferrysync", package, *parts]
            if dotted[-1] == "__init__":
                dotted.pop()
            found[".".join(dotted)] = path
    return found


def source_modules(repo: Path, folders: dict[str, str] | None = None) -> list[str]:
    """The dotted names of module_files(repo, folders), sorted."""
    return sorted(module_files(repo, folders))
