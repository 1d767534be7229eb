"""Which names a desktop can hold, and which names collide there: pure rules per platform profile.

The server is case-sensitive and stores NFC paths; desktops are not so accommodating. Windows refuses reserved
device names (``CON``, ``aux.txt``), a set of characters and trailing dots or spaces; macOS and Windows fold
case, and macOS also folds Unicode normalisation, so ``Report.txt`` and ``report.txt`` (or an NFC and an NFD
``café``) are two entries on the server but one on such a disk. The planner keeps such names *out* of the
local folder (they stay on the server, untouched) instead of letting one silently overwrite the other. Every
rule is a field of :class:`Profile`, so Linux tests exercise the Windows and macOS rules.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{i}" for i in range(10)}
    | {f"LPT{i}" for i in range(10)}
    | {"COM¹", "COM²", "COM³", "LPT¹", "LPT²", "LPT³"}
)
_DRIVE_SEGMENT = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True, slots=True)
class Profile:
    """The naming rules of one kind of local file system.

    ``max_segment`` counts UTF-16 code units when ``utf16_lengths`` (NTFS, APFS in practice allow 255
    characters) and UTF-8 bytes otherwise (ext4). ``max_path`` bounds the whole absolute path (sync root
    included, see ``check_name``'s ``root_length``); ``None`` means no practical limit is enforced.
    """

    name: str
    case_insensitive: bool = False
    normalization_insensitive: bool = False
    reserved_names: frozenset[str] = frozenset()
    forbidden_chars: str = "/\x00"
    forbid_control_chars: bool = False
    forbid_trailing_dot_space: bool = False
    max_segment: int = 255
    max_path: int | None = None
    utf16_lengths: bool = False
    executable_bit: bool = True

    LINUX: ClassVar[Profile]
    MACOS: ClassVar[Profile]
    WINDOWS: ClassVar[Profile]

    @staticmethod
    def current() -> Profile:
        """The profile of the platform this process runs on (decided by sys.platform)."""
        if sys.platform.startswith("win"):
            return Profile.WINDOWS
        if sys.platform == "darwin":
            return Profile.MACOS
        return Profile.LINUX


Profile.LINUX = Profile(name="linux", max_path=4095)
Profile.MACOS = Profile(
    name="macos", case_insensitive=True, normalization_insensitive=True, max_path=1023, utf16_lengths=True,
)
Profile.WINDOWS = Profile(
    name="windows",
    case_insensitive=True,
    reserved_names=_WINDOWS_RESERVED,
    forbidden_chars='<>:"/\\|?*\x00',
    forbid_control_chars=True,
    forbid_trailing_dot_space=True,
    max_path=259,  # MAX_PATH (260) minus the terminating NUL, without the long-path opt-in
    utf16_lengths=True,
    executable_bit=False,
)


def _length(text: str, utf16: bool) -> int:
    return len(text.encode("utf-16-le")) // 2 if utf16 else len(text.encode("utf-8"))


def is_safe_relative(path: str) -> bool:
    """True if `path` can only name something inside the sync root, on any OS.

    Refused (as the server does): empty, absolute, trailing '/', empty/'.'/'..' segments, backslashes, control
    characters below 0x20; and also a first segment like ``C:`` (drive-relative on Windows).
    """
    if not path or path.startswith("/") or path.endswith("/"):
        return False
    if "\\" in path or any(ord(c) < 0x20 for c in path):
        return False
    segments = path.split("/")
    if any(seg in ("", ".", "..") for seg in segments):
        return False
    return not _DRIVE_SEGMENT.match(segments[0])


SERVER_MAX_SEGMENT_BYTES = 255
SERVER_MAX_PATH_BYTES = 4096


def check_server_path(path: str) -> str | None:
    """Why the server would refuse `path` (API contract: safe, NFC, 255-byte names, 4096-byte paths), or None.

    A local entry with such a name (an NFD name written by another program, a backslash in a Linux name) stays
    local and is reported, instead of failing its upload forever.
    """
    if not is_safe_relative(path):
        return "the server refuses this path (empty segment, '..', absolute, backslash or control character)"
    if unicodedata.normalize("NFC", path) != path:
        return "the name is not in Unicode NFC form, which the server requires"
    if any(len(seg.encode("utf-8")) > SERVER_MAX_SEGMENT_BYTES for seg in path.split("/")):
        return f"a name is longer than the server's {SERVER_MAX_SEGMENT_BYTES} bytes"
    if len(path.encode("utf-8")) > SERVER_MAX_PATH_BYTES:
        return f"the path is longer than the server's {SERVER_MAX_PATH_BYTES} bytes"
    return None


def _check_segment(seg: str, profile: Profile) -> str | None:
    for ch in seg:
        if ch in profile.forbidden_chars:
            return f"the character {ch!r} is not allowed in names on {profile.name}"
        if profile.forbid_control_chars and ord(ch) < 0x20:
            return f"control character {ord(ch):#04x} is not allowed in names on {profile.name}"
    if profile.forbid_trailing_dot_space and seg[-1] in ". ":
        return f"names ending with a dot or a space are not allowed on {profile.name}"
    if profile.reserved_names:
        stem = seg.split(".", 1)[0].rstrip(" ").upper()
        if stem in profile.reserved_names:
            return f"{stem} is a reserved device name on {profile.name} (with any extension)"
    if _length(seg, profile.utf16_lengths) > profile.max_segment:
        return f"the name is longer than {profile.max_segment} characters allowed on {profile.name}"
    return None


def check_name(path: str, profile: Profile, root_length: int = 0) -> str | None:
    """Why `path` (relative, '/'-separated) cannot exist under a sync root on `profile`, or None if it can.

    `root_length` is the length of the sync root's absolute path (in the profile's units, without the trailing
    separator), so the MAX_PATH check sees the full path the OS will see.
    """
    if not is_safe_relative(path):
        return "not a safe relative path (empty segment, '..', absolute, backslash or control character)"
    for seg in path.split("/"):
        reason = _check_segment(seg, profile)
        if reason is not None:
            return f"{seg!r}: {reason}"
    if profile.max_path is not None:
        total = root_length + 1 + _length(path, profile.utf16_lengths) if root_length else _length(
            path, profile.utf16_lengths)
        if total > profile.max_path:
            return f"the full path is longer than {profile.max_path} characters allowed on {profile.name}"
    return None


def fold(path: str, profile: Profile) -> str:
    """The key under which `profile`'s file system looks `path` up: one key, one entry there."""
    key = unicodedata.normalize("NFC", path) if profile.normalization_insensitive else path
    if profile.case_insensitive:
        key = key.casefold()
        if profile.normalization_insensitive:  # casefolding can leave a string non-NFC
            key = unicodedata.normalize("NFC", key)
    return key


def find_clashes(paths: Iterable[str], profile: Profile) -> set[str]:
    """The given paths that collide on `profile` with a path seen before them (or lie below such a folder).

    Order is precedence: pass the paths already synced (or already on disk) first, so they keep their place
    and the newcomers are reported. Parent folders count even when not listed (``Docs/a`` and ``docs/b``
    collide in their folders). Identical strings are one path, never a clash.
    """
    given = list(dict.fromkeys(paths))
    expanded: dict[str, None] = {}
    for path in given:
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            expanded.setdefault("/".join(parts[:i]))
    owner: dict[str, str] = {}
    clashed: set[str] = set()
    # Shallow paths first (a stable sort keeps the precedence within a depth), so a folder's verdict is known
    # before its contents: everything below a kept-out folder is kept out too and claims no key.
    for path in sorted(expanded, key=lambda p: p.count("/")):
        parts = path.split("/")
        below_clash = any("/".join(parts[:i]) in clashed for i in range(1, len(parts)))
        if below_clash or owner.setdefault(fold(path, profile), path) != path:
            clashed.add(path)
    return clashed & set(given)


# -- names on this disk ----------------------------------------------------------------------------------------
#
# The journal and the wire use NFC paths (the server refuses anything else), but a disk that does not fold Unicode
# forms (Linux) can hold a name in NFD, as macOS and some apps write them. Such a file keeps its name on disk: Ferry
# maps it to its NFC path instead of renaming the user's file or leaving it out of the sync. Two entries of one
# folder whose names differ only in Unicode form ("twins") would map to the same path: one keeps it, the other is
# kept out and reported, and neither ever overwrites the other. These two functions are the only rule for which
# one keeps the path, so the scanner (listing a folder) and the resolver (opening one path) always agree.

TWIN_REASON = ("another entry in this folder has the same name in another Unicode form (NFC/NFD): this one is "
               "left out of the sync; rename one of them")


def nfc(name: str) -> str:
    """The NFC form of a name or path (ASCII, the common case, is returned as is without work)."""
    return name if name.isascii() else unicodedata.normalize("NFC", name)


def _keeper(wanted: str, candidates: Iterable[str]) -> str:
    # The spelling that is already NFC keeps the path; among other spellings, the first in code-point order.
    found = sorted(candidates)
    return wanted if wanted in found else found[0]


def pick_on_disk(wanted: str, names: Iterable[str]) -> str | None:
    """Which entry of a folder listing (`names`, as on disk) holds the NFC name `wanted`, or None if none does."""
    candidates = [n for n in names if nfc(n) == wanted]
    return _keeper(wanted, candidates) if candidates else None


def map_listing(names: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
    """A folder listing as the journal sees it: (on-disk name -> NFC name, twins left out -> NFC name)."""
    listed = list(names)
    if all(n.isascii() for n in listed):  # the common case: an ASCII name is its own NFC form, and has no twin
        return {n: n for n in listed}, {}
    groups: dict[str, list[str]] = {}
    for n in listed:
        groups.setdefault(nfc(n), []).append(n)
    kept: dict[str, str] = {}
    twins: dict[str, str] = {}
    for key, group in groups.items():
        keeper = _keeper(key, group)
        kept[keeper] = key
        twins.update({n: key for n in group if n != keeper})
    return kept, twins
