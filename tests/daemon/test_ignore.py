"""Ignore rules: OS and editor litter and Ferry's own files never sync; `.ferryignore` works like .gitignore."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferrysync.daemon.local.ignore import BUILTIN_ONLY, IgnoreRules, IgnoreSyntaxError, is_builtin_ignored
from ferrysync.daemon.local.scanner import RulesCache

LITTER = [
    ".DS_Store",
    "Thumbs.db",
    "THUMBS.DB",
    "desktop.ini",
    "ehthumbs.db",
    "Icon\r",
    "._report.pdf",
    ".~lock.budget.ods#",
    "~$budget.xlsx",
    "notes.txt.swp",
    ".notes.txt.swp",
    "a.swo",
    ".a.swx",
    "draft~",
    ".#draft.txt",
    ".Trash-1000",
    "$RECYCLE.BIN",
    ".ferry-tmp-abc123",
    ".ferry",
]
KEEP = [
    "report.pdf",
    "Icon",
    "budget.xlsx",
    "swap.txt",
    "~draft",
    "Thumbs.db.txt",
    ".ferryignore",
    ".gitignore",
    "ferry",
    "trash",
]


@pytest.mark.parametrize("name", LITTER)
def test_builtin_litter_is_ignored_anywhere(name: str) -> None:
    assert BUILTIN_ONLY.is_ignored(name)
    assert BUILTIN_ONLY.is_ignored(f"deep/er/{name}")
    assert BUILTIN_ONLY.is_ignored(f"{name}/child.txt")  # and everything under it


@pytest.mark.parametrize("name", KEEP)
def test_ordinary_names_are_kept(name: str) -> None:
    assert not BUILTIN_ONLY.is_ignored(name)
    assert not BUILTIN_ONLY.is_ignored(f"dir/{name}")


def test_marker_trash_and_temp_dirs_are_ignored() -> None:
    assert BUILTIN_ONLY.is_ignored(".ferry/trash/2026/old.txt")
    assert BUILTIN_ONLY.is_ignored(".ferry/tmp/.ferry-tmp-1")


def test_gitignore_syntax() -> None:
    rules = IgnoreRules.from_text("# comment\nbuild/\n*.log\n!keep.log\n/top-only.txt\ndocs/**/draft-*\n")
    assert rules.is_ignored("build", is_dir=True)
    assert rules.is_ignored("src/build/out.o")
    assert not rules.is_ignored("build", is_dir=False)  # `build/` matches directories only
    assert rules.is_ignored("x/debug.log")
    assert not rules.is_ignored("keep.log")
    assert rules.is_ignored("top-only.txt")
    assert not rules.is_ignored("sub/top-only.txt")
    assert rules.is_ignored("docs/a/b/draft-1.md")
    assert not rules.is_ignored("docs/final.md")
    assert rules.is_ignored(".DS_Store")  # built-ins still apply


def test_cannot_reinclude_a_file_inside_an_ignored_directory() -> None:
    rules = IgnoreRules.from_text("cache/\n!cache/important.txt\n")
    assert rules.is_ignored("cache/important.txt")


def test_invalid_pattern_is_a_clear_error() -> None:
    with pytest.raises(IgnoreSyntaxError, match=r"\.ferryignore"):
        IgnoreRules.from_text("ok\n!\n***/[\n")  # pathspec refuses a bare '!'


@given(st.text(st.characters(exclude_categories=["Cs"], exclude_characters="/\0"), min_size=1, max_size=20))
def test_builtin_check_never_raises(name: str) -> None:
    assert isinstance(is_builtin_ignored(name), bool)


def test_rules_cache_reloads_when_the_file_changes(tmp_path: Path) -> None:
    cache = RulesCache(tmp_path)
    assert not cache.get().is_ignored("a.log")
    (tmp_path / ".ferryignore").write_text("*.log\n")
    assert cache.get().is_ignored("a.log")
    (tmp_path / ".ferryignore").write_text("*.tmp\n# longer now\n")
    assert not cache.get().is_ignored("a.log")
    assert cache.get().is_ignored("a.tmp")
    (tmp_path / ".ferryignore").write_text("!\n")  # broken: keep the last good rules
    assert cache.get().is_ignored("a.tmp")
    (tmp_path / ".ferryignore").unlink()
    assert not cache.get().is_ignored("a.tmp")
