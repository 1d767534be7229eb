"""Name rules per platform profile, clash detection, and wire-path safety."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferrysync.daemon.local.names import (
    Profile,
    check_name,
    find_clashes,
    fold,
    is_safe_relative,
    map_listing,
    nfc,
    pick_on_disk,
)

WIN, MAC, LINUX = Profile.WINDOWS, Profile.MACOS, Profile.LINUX


@pytest.mark.parametrize("name", ["CON", "con", "Con.txt", "aux.tar.gz", "NUL", "com1", "COM9.log",
                                  "lpt3.doc",
                                  "PRN", "nul .txt", "COM¹"])
def test_windows_reserved_names_with_any_extension(name: str) -> None:
    reason = check_name(f"dir/{name}", WIN)
    assert reason is not None
    assert "is a reserved device name on windows" in reason
    assert check_name(f"dir/{name}", LINUX) is None
    assert check_name(f"dir/{name}", MAC) is None


@pytest.mark.parametrize("name", ["CONSOLE", "con1", "auxiliary.txt", "xNUL", "COM", "LPT"])
def test_names_that_only_look_reserved_are_fine(name: str) -> None:
    assert check_name(name, WIN) is None


@pytest.mark.parametrize("ch", [*'<>:"|?*', "\x01", "\x1f"])
def test_windows_forbidden_characters(ch: str) -> None:
    reason = check_name(f"ab{ch}c", WIN)
    if ch.isprintable():
        assert reason == f"'ab{ch}c': the character {ch!r} is not allowed in names on windows"
        assert check_name(f"ab{ch}c", LINUX) is None
    else:  # control characters are refused on every platform, before any per-platform rule
        assert reason is not None
        assert reason.startswith("not a safe relative path")
        assert check_name(f"ab{ch}c", LINUX) == reason


@pytest.mark.parametrize("name", ["trailing.", "trailing ", "dir./x", "dir /x"])
def test_windows_trailing_dot_or_space(name: str) -> None:
    assert "dot or a space" in (check_name(name, WIN) or "")
    assert check_name(name, LINUX) is None


def test_segment_length_counts_bytes_on_linux_and_characters_on_windows() -> None:
    too_long = "the name is longer than 255 characters allowed on"
    assert check_name("a" * 255, LINUX) is None
    assert too_long in (check_name("a" * 256, LINUX) or "")
    assert too_long in (check_name("é" * 128, LINUX) or "")  # 256 UTF-8 bytes
    assert check_name("é" * 128, WIN) is None  # 128 UTF-16 units
    assert too_long in (check_name("😀" * 128, WIN) or "")  # 256 UTF-16 units (surrogate pairs)


def test_windows_max_path_includes_the_sync_root() -> None:
    path = "/".join(["d" * 50] * 4)  # 203 characters
    assert check_name(path, WIN) is None
    assert check_name(path, WIN, root_length=len("C:\\Users\\someone\\Documents\\Ferry")) is None
    reason = check_name(path, WIN, root_length=60)
    assert reason == "the full path is longer than 259 characters allowed on windows"
    long_path = "/".join(["d" * 200] * 25)
    assert check_name(long_path, LINUX) == "the full path is longer than 4095 characters allowed on linux"
    custom = Profile(name="windows-long-paths", case_insensitive=True, max_path=None)
    assert check_name(path, custom, root_length=200) is None


@pytest.mark.parametrize("path", ["", "/abs", "a/", "a//b", "./a", "a/../b", "..", "a\\b", "a\x00b", "C:/x",
                                  "c:evil", "x:y", "a\nb", "a/\x1f"])
def test_unsafe_relative_paths(path: str) -> None:
    assert not is_safe_relative(path)
    assert (check_name(path, LINUX) or "").startswith("not a safe relative path")


@pytest.mark.parametrize("path", ["a", "a/b/c.txt", ".hidden", "a/..b", "...", "ab:c", "é/ü"])
def test_safe_relative_paths(path: str) -> None:
    assert is_safe_relative(path)


def test_case_clashes_keep_the_first_seen() -> None:
    paths = ["docs/Readme.md", "docs/README.md", "docs/readme.md", "docs/other.md"]
    assert find_clashes(paths, WIN) == {"docs/README.md", "docs/readme.md"}
    assert find_clashes(paths, MAC) == {"docs/README.md", "docs/readme.md"}
    assert find_clashes(paths, LINUX) == set()
    assert find_clashes(list(reversed(paths)), WIN) == {"docs/README.md", "docs/Readme.md"}


def test_nfc_nfd_twins_clash_on_macos_only() -> None:
    nfc, nfd = "café.txt", unicodedata.normalize("NFD", "café.txt")
    assert find_clashes([nfc, nfd], MAC) == {nfd}
    assert find_clashes([nfc, nfd], LINUX) == set()
    assert find_clashes([nfc, nfd], WIN) == set()  # NTFS keeps both forms apart


def test_everything_below_a_clashing_folder_is_reported() -> None:
    paths = ["photos", "Photos", "photos/b.jpg", "Photos/a.jpg", "photos/sub/c.jpg"]
    assert find_clashes(paths, WIN) == {"Photos", "Photos/a.jpg"}
    # A listed file claims its (unlisted) folder's spelling too.
    assert find_clashes(["Docs/a", "docs/b", "docs/c/d"], WIN) == {"docs/b", "docs/c/d"}


def test_identical_paths_are_not_a_clash() -> None:
    assert find_clashes(["a", "a", "b"], WIN) == set()


@given(st.lists(st.text(alphabet="aAbB/é", min_size=1, max_size=6), max_size=12))
def test_clash_report_leaves_one_survivor_per_key(paths: list[str]) -> None:
    clashed = find_clashes(paths, WIN)
    survivors = [p for p in dict.fromkeys(paths) if p not in clashed]
    keys = [fold(p, WIN) for p in survivors]
    assert len(keys) == len(set(keys))
    assert set(paths) - clashed == set(survivors)


# -- NFD names on a disk that does not fold Unicode forms (issue 11) -----------------------------------------------

CAFE_NFC = "caf\u00e9.txt"
CAFE_NFD = "cafe\u0301.txt"


def test_nfc_maps_an_nfd_name_and_leaves_ascii_alone() -> None:
    assert nfc(CAFE_NFD) == CAFE_NFC
    assert nfc(CAFE_NFC) == CAFE_NFC
    assert nfc("plain/ascii.txt") == "plain/ascii.txt"
    assert nfc("e\u0301te\u0301/" + CAFE_NFD) == "\u00e9t\u00e9/" + CAFE_NFC  # every segment of a path
    assert nfc("d\u0301") == "d\u0301"  # no precomposed form: NFC already


def test_an_nfd_name_alone_holds_its_nfc_path() -> None:
    assert pick_on_disk(CAFE_NFC, ["other.txt", CAFE_NFD]) == CAFE_NFD
    assert map_listing(["other.txt", CAFE_NFD]) == ({"other.txt": "other.txt", CAFE_NFD: CAFE_NFC}, {})
    assert pick_on_disk(CAFE_NFC, ["other.txt"]) is None  # not there: a new entry is created in NFC


def test_of_two_twins_the_nfc_spelling_keeps_the_path_and_the_other_is_reported() -> None:
    for listing in ([CAFE_NFC, CAFE_NFD], [CAFE_NFD, CAFE_NFC]):
        assert pick_on_disk(CAFE_NFC, listing) == CAFE_NFC
        kept, twins = map_listing(listing)
        assert kept == {CAFE_NFC: CAFE_NFC}
        assert twins == {CAFE_NFD: CAFE_NFC}


def test_two_spellings_that_are_both_not_nfc_are_decided_by_code_point_order() -> None:
    # "\u1e69" (s with dot below and above) has several non-NFC spellings
    a, b = "s\u0323\u0307.txt", "s\u0307\u0323.txt"
    assert nfc(a) == nfc(b) == "\u1e69.txt"
    assert a != b
    assert pick_on_disk("\u1e69.txt", [b, a]) == min(a, b)
    kept, twins = map_listing([b, a])
    assert kept == {min(a, b): "\u1e69.txt"}
    assert twins == {max(a, b): "\u1e69.txt"}


_NAMES = st.lists(st.sampled_from([CAFE_NFC, CAFE_NFD, "a.txt", "s\u0323\u0307", "s\u0307\u0323", "\u1e69",
                                   "\u00c5", "A\u030a", "\u212b"]), unique=True, max_size=9)


@given(_NAMES)
def test_the_listing_and_the_lookup_always_agree(names: list[str]) -> None:
    """The scanner (a listing) and the resolver (one path) must pick the same entry, or a write could land on the
    twin the journal does not describe."""
    kept, twins = map_listing(names)
    assert set(kept) | set(twins) == set(names)
    assert not set(kept) & set(twins)
    assert sorted(kept.values()) == sorted({nfc(n) for n in names})  # one entry per NFC path
    for disk_name, key in kept.items():
        assert pick_on_disk(key, names) == disk_name
    for twin, key in twins.items():
        assert pick_on_disk(key, names) != twin
