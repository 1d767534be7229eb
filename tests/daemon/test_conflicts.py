"""Conflict copy names: readable, extension-preserving, unique, and safe on every OS."""

from __future__ import annotations

from datetime import datetime

import pytest

from ferrysync.daemon.local.conflicts import clean_host, conflict_name, split_extension
from ferrysync.daemon.local.names import Profile, check_name

WHEN = datetime(2026, 11, 26, 14, 25, 1)
MARK = "(conflicted copy from laptop 2026-11-26 142501)"


def never(_p: str) -> bool:
    return False


@pytest.mark.parametrize(("path", "expected"), [
    ("report.txt", f"report {MARK}.txt"),
    ("docs/report.txt", f"docs/report {MARK}.txt"),
    ("Makefile", f"Makefile {MARK}"),
    (".bashrc", f".bashrc {MARK}"),
    ("dir/.config.json", f"dir/.config {MARK}.json"),
    ("backup.tar.gz", f"backup {MARK}.tar.gz"),
    ("logs.TAR.XZ", f"logs {MARK}.TAR.XZ"),
    ("report.v2.final.docx", f"report.v2.final {MARK}.docx"),
    ("trailing.", f"trailing. {MARK}"),
    ("a b.my ext", f"a b.my ext {MARK}"),
    ("..", f".. {MARK}"),
    (".tar.gz", f".tar {MARK}.gz"),
])
def test_conflict_names(path: str, expected: str) -> None:
    assert conflict_name(path, "laptop", WHEN, never) == expected


def test_taken_names_get_a_number() -> None:
    taken = {f"report {MARK}.txt", f"report {MARK} 2.txt"}
    assert conflict_name("report.txt", "laptop", WHEN, taken.__contains__) == f"report {MARK} 3.txt"


def test_host_name_is_made_safe_for_file_names() -> None:
    assert clean_host('my/evil\\host:*?"<>|') == "my evil host"
    assert clean_host("  \t ") == "unknown host"
    assert clean_host("Bob's MacBook (2)") == "Bob's MacBook 2"
    name = conflict_name("x.txt", "a/b\x00c", WHEN, never)
    assert "/" not in name
    assert "\x00" not in name


def test_long_names_stay_within_255_bytes_and_keep_marker_and_extension() -> None:
    name = conflict_name("d/" + "é" * 200 + ".txt", "laptop", WHEN, never)
    segment = name.split("/")[-1]
    assert len(segment.encode()) <= 255
    assert segment.endswith(f" {MARK}.txt")
    assert check_name(name, Profile.LINUX) is None


@pytest.mark.parametrize("path", ["report.txt", ".bashrc", "a.tar.gz", "x" * 250])
def test_conflict_names_are_valid_on_every_profile(path: str) -> None:
    name = conflict_name(path, "Laptop.", WHEN, never)
    for profile in (Profile.WINDOWS, Profile.MACOS, Profile.LINUX):
        assert check_name(name, profile) is None, (profile.name, name)


def test_split_extension() -> None:
    assert split_extension("a.txt") == ("a", ".txt")
    assert split_extension(".profile") == (".profile", "")
    assert split_extension("a.tar.gz") == ("a", ".tar.gz")
    assert split_extension("noext") == ("noext", "")
