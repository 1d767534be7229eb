"""Conflict copy names: where the local version goes when both sides changed a file differently.

``docs/report (conflicted copy from HOST 2026-11-26 142501).txt``: the name says which device kept which
version and when, sorts next to the original, and keeps the extension so the copy still opens in the same
application. A name already taken gets `` 2``, `` 3``… after the parenthesis: ``report (conflicted copy from
HOST 2026-11-26 142501) 2.txt``. Pure: the clock and the host name are parameters, existence is a callable.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

MAX_SEGMENT_BYTES = 255
# Multi-dot extensions that applications recognise only whole: "a.tar.gz" -> ("a", ".tar.gz").
COMPOUND_EXTENSIONS = (".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst", ".tar.lz", ".tar.lzma", ".tar.z")
_HOST_FORBIDDEN = set('<>:"/\\|?*()')
_MAX_TRIES = 10_000


def split_extension(name: str) -> tuple[str, str]:
    """Split a file name into (stem, extension) the way a user reads it.

    Dotfiles keep their whole name as the stem (``.bashrc`` has no extension; ``.config.json`` has ``.json``),
    known compound extensions stay whole (``.tar.gz``), otherwise the last dot wins (``a.v2.txt`` ->
    ``.txt``). A trailing dot or an extension with spaces is not an extension.
    """
    lowered = name.lower()
    for ext in COMPOUND_EXTENSIONS:
        if lowered.endswith(ext) and len(name) > len(ext) and not name[: -len(ext)].endswith("."):
            stem = name[: -len(ext)]
            if stem.lstrip("."):
                return stem, name[-len(ext):]
    dot = name.rfind(".")
    if dot <= 0 or dot == len(name) - 1 or not name[:dot].lstrip("."):
        return name, ""
    ext = name[dot:]
    if " " in ext:
        return name, ""
    return name[:dot], ext


def clean_host(host: str) -> str:
    """A host name safe inside a file name on every OS (no separators, reserved chars or control chars)."""
    cleaned = "".join(" " if (c in _HOST_FORBIDDEN or ord(c) < 0x20) else c for c in host)
    cleaned = " ".join(cleaned.split()).strip(". ")
    return cleaned or "unknown host"


def _truncate_utf8(text: str, max_bytes: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", errors="ignore").rstrip(" .")


def conflict_name(path: str, host: str, when: datetime, exists: Callable[[str], bool]) -> str:
    """The path the local version of `path` moves to in a conflict; a free one according to `exists`.

    `when` is used as given (pass local wall-clock time: it is what the user sees). The last segment is kept
    within 255 UTF-8 bytes by shortening the stem, never the marker or the extension.
    """
    parent, _, name = path.rpartition("/")
    stem, ext = split_extension(name)
    marker = f" (conflicted copy from {clean_host(host)} {when:%Y-%m-%d %H%M%S})"
    for n in range(1, _MAX_TRIES):
        suffix = marker if n == 1 else f"{marker} {n}"
        room = MAX_SEGMENT_BYTES - len((suffix + ext).encode("utf-8"))
        segment = _truncate_utf8(stem, max(room, 1)) + suffix + ext
        candidate = f"{parent}/{segment}" if parent else segment
        if not exists(candidate):
            return candidate
    raise RuntimeError(f"no free conflict name for {path!r} after {_MAX_TRIES} tries")
