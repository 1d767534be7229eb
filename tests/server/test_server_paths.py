"""Pure unit tests of the server's path validation (the contract's refusal list), with hypothesis."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferrysync.server.limits import MAX_PATH_BYTES, MAX_SEGMENT_BYTES
from ferrysync.server.paths import (
    PathError,
    ancestors,
    is_valid_path,
    is_within,
    rebase,
    validate_path,
)

GOOD_CHARS = st.characters(min_codepoint=0x20, blacklist_characters="/\\\x7f", blacklist_categories=["Cs"])
segment = st.text(GOOD_CHARS, min_size=1, max_size=20).map(lambda s: unicodedata.normalize("NFC", s)).filter(
    lambda s: s not in (".", "..") and s != "")
good_path = st.lists(segment, min_size=1, max_size=6).map("/".join)


@given(good_path)
def test_valid_paths_are_accepted_unchanged(path: str) -> None:
    assert validate_path(path) == path


@given(good_path, st.sampled_from(["/{}", "{}/", "{}//x", "x//{}", "{}/../x", "./{}", "{}/.", "{}\\x",
                                   "{}\x00", "\x01{}", "{}\n", "{}\x7f"]))
def test_malformed_variants_are_refused(path: str, template: str) -> None:
    with pytest.raises(PathError):
        validate_path(template.format(path))


@given(st.text(max_size=40))
def test_validation_is_total_and_never_crashes(text: str) -> None:
    ok = is_valid_path(text)
    if ok:
        assert unicodedata.normalize("NFC", text) == text
        assert not text.startswith("/")
        assert ".." not in text.split("/")


@pytest.mark.parametrize("bad", ["", "/", "/abs", "a/", "a//b", ".", "..", "a/./b", "a/../b", "../a", "a\\b",
                                 "a\x00b", "a\tb", "e\u0301.txt", "\ud800x", None, 5])
def test_contract_refusal_list(bad: object) -> None:
    with pytest.raises(PathError):
        validate_path(bad)


def test_length_limits_count_utf8_bytes() -> None:
    assert is_valid_path("a" * MAX_SEGMENT_BYTES)
    assert not is_valid_path("a" * (MAX_SEGMENT_BYTES + 1))
    assert not is_valid_path("é" * (MAX_SEGMENT_BYTES // 2 + 1))  # 2 bytes each in UTF-8
    long_ok = "/".join(["b" * 200] * (MAX_PATH_BYTES // 201))
    assert is_valid_path(long_ok)
    assert not is_valid_path("/".join(["b" * 200] * (MAX_PATH_BYTES // 201 + 1)))


def test_nfc_is_refused_not_normalised() -> None:
    nfd = unicodedata.normalize("NFD", "café")
    assert not is_valid_path(nfd)
    assert is_valid_path(unicodedata.normalize("NFC", nfd))


def test_case_is_significant_and_dots_inside_names_are_fine() -> None:
    assert is_valid_path("A/a")
    assert is_valid_path("a..b/.hidden/x.")


@given(good_path)
def test_ancestors_and_within(path: str) -> None:
    parents = ancestors(path)
    assert len(parents) == path.count("/")
    for parent in parents:
        assert is_within(path, parent)
        assert path != parent
    assert is_within(path, path)
    assert not is_within(path + "x", path)


@given(good_path, good_path, good_path)
def test_rebase_moves_subtree(root: str, rest: str, new_root: str) -> None:
    assert rebase(f"{root}/{rest}", root, new_root) == f"{new_root}/{rest}"
    assert rebase(root, root, new_root) == new_root
