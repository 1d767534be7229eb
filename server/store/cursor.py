"""The change-feed cursor of a user who sees several namespaces: one position per namespace, in one token.

A user's feed merges their root namespace with every shared namespace mounted in it, and each namespace has its
own sequence counter (one counter per namespace is what lets commits to different namespaces run in parallel on
PostgreSQL while each stays serialised). So the cursor carries a position per namespace:

- a user with no mounts gets the root position alone, as an integer: the cursor older clients know;
- otherwise a string `"ROOT,MOUNT:SEQ,MOUNT:SEQ"` (mount ids ascending), e.g. `"42,7:13"`.

Clients treat it as opaque, except that a position can be compared per component to notice a server that went
back in time (docs/api.md). A cursor naming a different set of mounts than the user has now (one was added,
moved or revoked) cannot be continued: the server answers 410 and the client lists again. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from ferrysync.server.limits import MAX_INT


class BadCursor(ValueError):
    """Not a cursor this server hands out."""


@dataclass(frozen=True)
class Cursor:
    root: int
    mounts: tuple[tuple[int, int], ...] = ()  # (mount id, seq), mount ids ascending

    @property
    def is_start(self) -> bool:
        """Cursor 0: list the live tree (no tombstones), every namespace from its start."""
        return self.root == 0 and not self.mounts

    def mount_ids(self) -> tuple[int, ...]:
        return tuple(m for m, _ in self.mounts)

    def encode(self) -> int | str:
        if not self.mounts:
            return self.root
        return ",".join([str(self.root), *(f"{m}:{s}" for m, s in self.mounts)])


def _number(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 19:  # "³" is a digit to isdigit, not to int
        raise BadCursor(f"not a cursor: {text[:40]!r}")
    value = int(text)
    if value > MAX_INT:
        raise BadCursor("cursor out of range")
    return value


def decode(text: str) -> Cursor:
    """Parse a cursor from the query string (an integer, or the composite form)."""
    parts = text.split(",")
    if len(parts) > 10_001:
        raise BadCursor("too many positions in the cursor")
    root = _number(parts[0])
    mounts: list[tuple[int, int]] = []
    for part in parts[1:]:
        mid, sep, seq = part.partition(":")
        if not sep:
            raise BadCursor(f"not a cursor position: {part[:40]!r}")
        mounts.append((_number(mid), _number(seq)))
    ids = [m for m, _ in mounts]
    if ids != sorted(set(ids)):
        raise BadCursor("cursor positions must name each mount once, ascending")
    return Cursor(root, tuple(mounts))
