"""The feed cursor as the daemon reads it: integers and the composite string form, and when a server is behind."""

from __future__ import annotations

import pytest

from ferrysync.daemon.remote.cursor import behind, is_start, normalise, parse_cursor
from ferrysync.daemon.remote.errors import ProtocolError


def test_parse_accepts_integers_and_strings_only() -> None:
    assert parse_cursor({"cursor": 5}) == 5
    assert parse_cursor({"cursor": "5,7:3"}) == "5,7:3"
    for bad in (True, None, -1, "", 1.5, ["1"]):
        with pytest.raises(ProtocolError):
            parse_cursor({"cursor": bad})


def test_start_and_journal_round_trip() -> None:
    assert is_start(0)
    assert is_start("0")
    assert not is_start("0,4:0")
    assert normalise(42) == 42
    assert normalise("42,1:2") == "42,1:2"


@pytest.mark.parametrize(("theirs", "ours", "expected"), [
    (4, 5, True), (5, 5, False), (6, 5, False),
    ("5,7:2", "5,7:3", True), ("5,7:3", "5,7:3", False), ("4,7:9", "5,7:3", True),
    ("5,8:0", "5,7:3", False),  # other mounts: not comparable (the server answers 410 and we list again)
    (5, "5,7:3", False), ("x", 5, False),
    ("³", 5, False), ("5,7:²", "5,7:3", False),  # digits to str.isdigit() that int() refuses: unreadable, no crash
])
def test_behind_compares_the_namespaces_both_name(theirs: int | str, ours: int | str, expected: bool) -> None:
    assert behind(theirs, ours) is expected
