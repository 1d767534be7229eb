"""Helpers for the packaging tests (a uniquely named module: test dirs here are not packages)."""

from __future__ import annotations

from pathlib import Path


def files_under(root: Path) -> list[str]:
    """Every file and symlink below root (directories left empty do not count), as sorted relative paths."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_symlink() or not p.is_dir())
