"""Stream a subtree of a user's files as a zip archive, block by block, without holding it in memory.

The share links' folder download uses this, and the web app's folder download may too: it knows nothing of
links or sessions, only entries (whose blocks the caller has already decided the reader may have) and the
BlockStore. stdlib zipfile writes to a non-seekable stream by using data descriptors (sizes and CRC after each
member's data), so the archive is produced front to back: each block is read (and verified against its hash by
the store), compressed and handed on before the next is read. At most about one block is held at a time.

A member is deflated at a low level when its first block compresses, and stored when it does not (photos,
videos, archives: deflate would cost ~25 ms of CPU per MiB to save nothing, a tenth of the speed measured here).
Folders become "name/" members so empty ones survive.
A block missing or damaged mid-archive raises: the response is cut short, and a truncated zip fails to open
rather than passing for a complete one.
"""

from __future__ import annotations

import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from ferrysync.server.store.base import Entry

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip member can carry
_ZIP_END = (2107, 12, 31, 23, 59, 58)  # and the latest
_LEVEL = 1  # deflate for speed: the point is moving bytes, not squeezing them
_SAMPLE = 64 * 1024  # bytes of a member's first block that decide whether it is deflated
_WORTH_IT = 0.9  # deflate when the sample shrinks to less than this fraction


@dataclass(frozen=True)
class Member:
    """One archive member: its name inside the zip and the entry whose content it carries."""

    name: str
    entry: Entry


class _Sink:
    """A write-only, non-seekable file object whose bytes the generator drains after each write."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.written = 0

    def write(self, data: bytes, /) -> int:
        self.buffer += data
        self.written += len(data)
        return len(data)

    def tell(self) -> int:  # zipfile asks where it is (for offsets) but never seeks
        return self.written

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        out = bytes(self.buffer)
        self.buffer.clear()
        return out


def _date_time(mtime_ns: int) -> tuple[int, int, int, int, int, int]:
    t = time.gmtime(max(mtime_ns, 0) // 1_000_000_000)
    stamp = (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)
    return min(max(stamp, _ZIP_EPOCH), _ZIP_END)


def compresses(sample: bytes) -> bool:
    """Whether deflating a member that starts with `sample` is worth its CPU (pure)."""
    head = sample[:_SAMPLE]
    return len(head) < 512 or len(zlib.compress(head, 1)) < _WORTH_IT * len(head)


def members_of(root: Entry, below: Iterable[Entry], top: str) -> list[Member]:
    """The members for a folder `root` and its live descendants `below`, under the top folder name `top`."""
    out = [Member(top + "/", root)]
    cut = len(root.path) + 1
    for entry in below:
        name = f"{top}/{entry.path[cut:]}"
        out.append(Member(name + "/" if entry.kind == "dir" else name, entry))
    return out


def stream_zip(members: Iterable[Member], read_block: Callable[[str], bytes]) -> Iterator[bytes]:
    """The zip's bytes, in pieces of about a block. `read_block(hash)` returns a block's verified bytes."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=_LEVEL,
                         allowZip64=True) as archive:
        for member in members:
            info = zipfile.ZipInfo(member.name, _date_time(member.entry.mtime_ns))
            if member.entry.kind == "dir":
                info.external_attr = 0o40755 << 16 | 0x10
                archive.writestr(info, b"")
            else:
                blocks = iter(member.entry.blocks)
                first = read_block(next(blocks)) if member.entry.blocks else b""
                info.compress_type = zipfile.ZIP_DEFLATED if compresses(first) else zipfile.ZIP_STORED
                # The level a member written through open() gets: ZipInfo's own (the archive's is not applied).
                # Named _compresslevel up to 3.12; 3.13 calls it compress_level and keeps this name as an alias.
                setattr(info, "_compresslevel", _LEVEL)  # noqa: B010 - not in the 3.11 stubs
                info.external_attr = (0o755 if member.entry.executable else 0o644) << 16 | 0o100000 << 16
                info.file_size = member.entry.size  # lets zipfile decide on zip64 up front
                with archive.open(info, "w", force_zip64=member.entry.size > 0x7FFFFFFF) as out:
                    out.write(first)
                    for digest in blocks:
                        if sink.buffer:
                            yield sink.take()
                        out.write(read_block(digest))
            if sink.buffer:
                yield sink.take()
    yield sink.take()


def stream_file(entry: Entry, read_block: Callable[[str], bytes]) -> Iterator[bytes]:
    """One file's bytes, a block at a time."""
    for digest in entry.blocks:
        yield read_block(digest)
