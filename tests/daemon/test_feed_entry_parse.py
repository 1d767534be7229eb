"""A change-feed entry from the server is parsed strictly (remote/types.py `FeedEntry.parse`): a field of the wrong
type or an unknown kind is a ProtocolError naming it, never a half-filled journal row."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any

import pytest

from ferrysync.daemon.model import Kind
from ferrysync.daemon.remote.errors import ProtocolError
from ferrysync.daemon.remote.types import FeedEntry, parse_entries

H = "ab" * 32


def _entry(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"path": "/docs/a.txt", "kind": "file", "file_id": "f1", "rev": 3, "size": 5,
                            "mtime_ns": 7, "executable": True, "content_hash": H, "blocks": [H], "seq": 9,
                            "deleted": False, "modified_by": "laptop"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


class _ReadOnly(Mapping[str, Any]):
    """An answer decoded into some other mapping than a dict: read as one all the same."""

    def __init__(self, d: dict[str, Any]) -> None:
        self.d = d

    def __getitem__(self, key: str) -> Any:
        return self.d[key]

    def __iter__(self) -> Any:
        return iter(self.d)

    def __len__(self) -> int:
        return len(self.d)


@pytest.mark.parametrize("obj", [_entry(), _ReadOnly(_entry())], ids=["dict", "mapping"])
def test_every_field_is_read(obj: Mapping[str, Any]) -> None:
    fe = FeedEntry.parse(obj)
    e = fe.entry
    assert (e.path, e.kind, e.file_id, e.rev, e.size, e.mtime_ns, e.executable, e.content_hash, e.blocks) == (
        "/docs/a.txt", Kind.FILE, "f1", 3, 5, 7, True, H, (H,))
    assert (fe.seq, fe.deleted, fe.modified_by) == (9, False, "laptop")


def test_optional_fields_may_be_missing_or_null() -> None:
    fe = FeedEntry.parse(_entry(kind="dir", size=..., mtime_ns=None, executable=..., content_hash=None,
                                blocks=None, deleted=..., modified_by=...))
    assert (fe.entry.kind, fe.entry.size, fe.entry.mtime_ns, fe.entry.executable, fe.entry.blocks) == (
        Kind.DIR, 0, 0, False, ())
    assert (fe.deleted, fe.modified_by) == (False, None)


@pytest.mark.parametrize(("changes", "names"), [
    ({"kind": "fifo"}, "unknown kind 'fifo'"),
    ({"kind": 1}, "'kind'"),
    ({"path": None}, "'path'"),
    ({"rev": "3"}, "'rev'"),
    ({"rev": True}, "'rev'"),  # a bool is an int to Python, never to the wire format
    ({"seq": ...}, "'seq'"),
    ({"size": 1.5}, "'size'"),
    ({"blocks": [H, 7]}, "'blocks'"),
    ({"blocks": H}, "'blocks'"),
])
def test_a_field_of_the_wrong_type_is_a_protocol_error_naming_it(changes: dict[str, Any], names: str) -> None:
    with pytest.raises(ProtocolError, match=names):
        FeedEntry.parse(_entry(**changes))


@pytest.mark.parametrize("entries", [[["not", "an", "object"]], ["x"], [None]])
def test_an_entry_that_is_not_an_object_is_a_protocol_error(entries: list[Any]) -> None:
    with pytest.raises(ProtocolError, match="expected an object"):
        parse_entries({"entries": entries})


def test_an_entry_moved_to_the_folders_path_keeps_every_other_field() -> None:
    """`RemoteEntry.at` is `dataclasses.replace(entry, path=...)`, field for field (it is what the feed and the
    executor record for every file)."""
    e = FeedEntry.parse(_entry()).entry
    assert e.at("a.txt") == replace(e, path="a.txt")
    assert [getattr(e.at("a.txt"), f.name) for f in fields(e)][1:] == [getattr(e, f.name) for f in fields(e)][1:]
