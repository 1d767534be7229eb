"""Validation of the relative paths that cross the wire (pure: no I/O).

The server refuses rather than repairs: a client that sends a non-NFC or otherwise odd path gets a 400, so two
devices can never be silently merged onto one row (NFC/NFD twins) or escape the user's tree ('..').
"""

from __future__ import annotations

import unicodedata

from ferrysync.server.limits import MAX_PATH_BYTES, MAX_SEGMENT_BYTES


class PathError(ValueError):
    """A path the API refuses; the message says why (shown to the client)."""


def validate_path(path: object) -> str:
    """Return `path` unchanged if it is a valid relative path, else raise PathError with the reason."""
    if not isinstance(path, str):
        raise PathError("path must be a string")
    if path == "":
        raise PathError("path is empty")
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError:
        raise PathError("path is not valid Unicode (lone surrogate)") from None
    if len(encoded) > MAX_PATH_BYTES:
        raise PathError(f"path is longer than {MAX_PATH_BYTES} UTF-8 bytes")
    if path.startswith("/"):
        raise PathError("path must be relative (no leading '/')")
    if path.endswith("/"):
        raise PathError("path must not end with '/'")
    if "\\" in path:
        raise PathError("path must not contain a backslash")
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in path):
        raise PathError("path must not contain NUL or control characters")
    if unicodedata.normalize("NFC", path) != path:
        raise PathError("path is not NFC-normalised")
    for segment in path.split("/"):
        if segment == "":
            raise PathError("path has an empty segment ('//')")
        if segment in (".", ".."):
            raise PathError("path must not contain '.' or '..' segments")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise PathError(f"a path segment is longer than {MAX_SEGMENT_BYTES} UTF-8 bytes")
    return path


def is_valid_path(path: object) -> bool:
    try:
        validate_path(path)
    except PathError:
        return False
    return True


def ancestors(path: str) -> list[str]:
    """The proper ancestors of a valid path, outermost first: 'a/b/c' -> ['a', 'a/b']."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def is_within(path: str, root: str) -> bool:
    """True if `path` is `root` itself or lies below it (segment-wise, case-sensitive)."""
    return path == root or path.startswith(root + "/")


def rebase(path: str, old_root: str, new_root: str) -> str:
    """Move `path` (within `old_root`) to the same place under `new_root`."""
    if path == old_root:
        return new_root
    if not path.startswith(old_root + "/"):
        raise ValueError(f"{path!r} is not within {old_root!r}")
    return new_root + path[len(old_root):]
