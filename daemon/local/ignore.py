"""Which paths Ferry never syncs: built-in OS/editor litter, its own files, and the user's `.ferryignore`.

Pure: rules are built from text; the caller reads `.ferryignore` and rebuilds the rules when it changes. The user
file uses gitignore syntax (pathspec's GitIgnoreSpec, so `!negation` and `dir/` patterns behave like git). A path
is ignored when it, or any of its parent directories, matches.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

import pathspec

IGNORE_FILE = ".ferryignore"
MARKER_NAME = ".ferry"  # the marker dir at a sync root (also holds the folder's trash and temp files)
TEMP_PREFIX = ".ferry-tmp-"

BUILTIN_NAMES: tuple[str, ...] = (
    ".DS_Store", "Thumbs.db", "desktop.ini", "ehthumbs.db", "Icon\r", "._*", ".~lock.*#", "~$*",
    "*.swp", "*.swo", "*.swx", "*~", ".#*", ".Trash-*", "$RECYCLE.BIN", "System Volume Information",
    TEMP_PREFIX + "*", MARKER_NAME,
)  # fmt: skip
# Windows litter is matched case-insensitively (Windows writes THUMBS.DB and thumbs.db alike).
_BUILTIN_RE = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in BUILTIN_NAMES), re.IGNORECASE)


_DIR_CACHE = 20_000


class IgnoreSyntaxError(ValueError):
    """A `.ferryignore` line that is not a valid gitignore pattern."""


def is_builtin_ignored(name: str) -> bool:
    """True for one path segment that Ferry never syncs, wherever it appears."""
    return _BUILTIN_RE.match(name) is not None


class IgnoreRules:
    """Built-in rules plus the user's gitignore-style patterns (immutable; build a new one on reload)."""

    def __init__(self, user_lines: Iterable[str] = ()) -> None:
        lines = [ln.rstrip("\r\n") for ln in user_lines]
        try:
            self._spec = pathspec.GitIgnoreSpec.from_lines(lines)
        except (ValueError, re.error) as exc:  # pathspec's GitIgnorePatternError is a ValueError; regex errors too
            raise IgnoreSyntaxError(f"{IGNORE_FILE}: {exc}") from exc
        self.user_lines = tuple(lines)
        self._dirs: dict[str, bool] = {}  # parent-directory verdicts (rules are immutable, so this stays valid)

    @classmethod
    def from_text(cls, text: str) -> IgnoreRules:
        return cls(text.splitlines())

    def matches(self, path: str, is_dir: bool) -> bool:
        """Whether `path` itself matches, assuming its parents are not ignored (what a walk that skips ignored
        directories needs: like git, a file inside an ignored directory cannot be re-included)."""
        if is_builtin_ignored(path.rsplit("/", 1)[-1]):
            return True
        return bool(self.user_lines) and self._spec.match_file(path + "/" if is_dir else path)

    def _dir_ignored(self, path: str) -> bool:
        hit = self._dirs.get(path)
        if hit is None:
            parent = path.rpartition("/")[0]
            hit = (bool(parent) and self._dir_ignored(parent)) or self.matches(path, True)
            if len(self._dirs) > _DIR_CACHE:
                self._dirs.clear()
            self._dirs[path] = hit
        return hit

    def is_ignored(self, path: str, is_dir: bool = False) -> bool:
        """`path` is relative to the sync root, '/'-separated; it is ignored if it or a parent matches."""
        parent = path.rpartition("/")[0]
        return (bool(parent) and self._dir_ignored(parent)) or self.matches(path, is_dir)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IgnoreRules) and other.user_lines == self.user_lines

    def __hash__(self) -> int:
        return hash(self.user_lines)


BUILTIN_ONLY = IgnoreRules()
