"""The change-feed cursor as the server hands it out: an integer, or a string when the user's tree spans several
namespaces (folders shared with them; docs/api.md, "Folders shared between users").

The daemon stores and sends it back unchanged. The one thing it reads from it is whether the server went back in
time (restored from a backup): the documented string form is "ROOT,MOUNT:SEQ,...", one position per namespace,
and a server whose position in any namespace both sides know is below ours has lost history. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ferrysync.daemon.remote.errors import ProtocolError

Cursor = int | str
START: Cursor = 0
_MAX_LEN = 16_000  # what the server accepts back (docs/api.md)


def parse_cursor(obj: Mapping[str, Any], key: str = "cursor") -> Cursor:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ProtocolError(f"{key}: expected an integer or a string, got {value!r:.100}")
    if isinstance(value, int):
        if value < 0:
            raise ProtocolError(f"{key}: negative cursor {value}")
        return value
    if not value or len(value) > _MAX_LEN:
        raise ProtocolError(f"{key}: a cursor string of {len(value)} characters")
    return value


def is_start(cursor: Cursor) -> bool:
    """Cursor 0: nothing listed yet (a journal may hold 0 as an integer or, read back, as "0")."""
    return cursor in (0, "0")


def _positions(cursor: Cursor) -> dict[str, int] | None:
    """{"root": n, "MOUNT": n, ...}, or None for a string this daemon cannot read (then it never compares)."""
    if isinstance(cursor, int):
        return {"root": cursor}
    parts = cursor.split(",")
    if not cursor.isascii() or not parts[0].isdigit():  # "³" is a digit to isdigit, not to int
        return None
    out = {"root": int(parts[0])}
    for part in parts[1:]:
        mount, sep, seq = part.partition(":")
        if not sep or not mount.isdigit() or not seq.isdigit():
            return None
        out[mount] = int(seq)
    return out


def behind(theirs: Cursor, ours: Cursor) -> bool:
    """Whether the server's cursor is behind ours in a namespace both name: it lost changes we saw."""
    a, b = _positions(theirs), _positions(ours)
    if a is None or b is None:
        return False
    return any(key in a and a[key] < seq for key, seq in b.items())


def normalise(stored: object) -> Cursor:
    """A cursor read back from the journal (SQLite keeps "42" as the integer 42, which is the same cursor)."""
    if isinstance(stored, int):
        return stored
    return str(stored)
