"""zipstream (pure: entries and a block reader in, zip bytes out) and the link grants' signing (pure)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

from ferrysync.server.links import grants
from ferrysync.server.store.base import Entry
from ferrysync.server.zipstream import members_of, stream_file, stream_zip

MIB = 1024 * 1024


def _file(path: str, blocks: dict[str, bytes], names: list[str], **kw: object) -> Entry:
    return Entry(path, "file", path, 1, False, size=sum(len(blocks[n]) for n in names), blocks=tuple(names),
                 **kw)  # type: ignore[arg-type]


def test_a_tree_streams_as_a_zip_a_block_at_a_time(tmp_path: Path) -> None:
    blocks = {"r1": os.urandom(MIB), "r2": os.urandom(MIB), "r3": os.urandom(MIB // 2), "t": b"text " * 100}
    root = Entry("Docs", "dir", "root", 1, False)
    below = [Entry("Docs/empty", "dir", "e", 2, False),
             _file("Docs/big.bin", blocks, ["r1", "r2", "r3", "r1"], mtime_ns=1_700_000_000 * 10**9),
             _file("Docs/run.sh", blocks, ["t"], executable=True, mtime_ns=0),
             _file("Docs/zero", blocks, [], mtime_ns=2**62)]
    reads: list[str] = []

    def read(digest: str) -> bytes:
        reads.append(digest)
        return blocks[digest]

    pieces = list(stream_zip(members_of(root, below, "Docs"), read))
    # Random data does not compress: the largest piece is about one block, never the whole archive.
    assert max(len(p) for p in pieces) < 1.1 * MIB
    assert reads == ["r1", "r2", "r3", "r1", "t"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(pieces)))
    assert archive.testzip() is None
    assert archive.namelist() == ["Docs/", "Docs/empty/", "Docs/big.bin", "Docs/run.sh", "Docs/zero"]
    assert archive.read("Docs/big.bin") == blocks["r1"] + blocks["r2"] + blocks["r3"] + blocks["r1"]
    assert archive.read("Docs/zero") == b""
    assert archive.getinfo("Docs/run.sh").external_attr >> 16 & 0o777 == 0o755
    assert archive.getinfo("Docs/run.sh").date_time == (1980, 1, 1, 0, 0, 0)  # before 1980: the zip epoch
    assert archive.getinfo("Docs/zero").date_time[0] == 2107  # past 2107: the last time a zip holds
    assert archive.getinfo("Docs/big.bin").date_time[:3] == (2023, 11, 14)
    assert b"".join(stream_file(below[1], read)) == archive.read("Docs/big.bin")
    # Random bytes are stored (deflating them saves nothing), text is deflated.
    assert archive.getinfo("Docs/big.bin").compress_type == zipfile.ZIP_STORED
    assert archive.getinfo("Docs/run.sh").compress_type == zipfile.ZIP_DEFLATED
    assert archive.getinfo("Docs/run.sh").compress_size < 100
    unzip = shutil.which("unzip")
    if unzip is not None:  # Info-ZIP reads both kinds of member, with their data descriptors, as whole
        path = tmp_path / "docs.zip"
        path.write_bytes(b"".join(pieces))
        checked = subprocess.run([unzip, "-tq", str(path)], capture_output=True, text=True, check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_failing_block_cuts_the_archive_short() -> None:
    root = Entry("D", "dir", "root", 1, False)
    below = [_file("D/a", {"x": b"x"}, ["x"])]

    def read(_digest: str) -> bytes:
        raise KeyError("gone")

    stream = stream_zip(members_of(root, below, "D"), read)
    got = b""
    try:
        for piece in stream:
            got += piece
    except KeyError:
        pass
    else:
        raise AssertionError("a missing block must end the stream with an error")
    try:
        zipfile.ZipFile(io.BytesIO(got))
    except zipfile.BadZipFile:
        pass
    else:
        raise AssertionError("what was sent must not pass for a whole archive")


def test_grants_are_per_link_unforgeable_and_expire() -> None:
    key = "k" * 64
    value = grants.issue(key, "link1", 10_000)
    assert grants.valid(value, key, "link1", 9_999)
    assert not grants.valid(value, key, "link1", 10_000)  # expired
    assert not grants.valid(value, key, "link2", 9_999)  # another link
    assert not grants.valid(value, "j" * 64, "link1", 9_999)  # another key (the link was re-made)
    until, mac = value.split(".")
    assert not grants.valid(f"{int(until) + 1000}.{mac}", key, "link1", 9_999)  # a longer life, forged
    for junk in (None, "", ".", "x.y", "99999999999999999999.ab", "10000.\u00e9", value + "0"):
        assert not grants.valid(junk, key, "link1", 0)
    assert grants.csrf_ok("abc", "abc")
    assert not grants.csrf_ok("abc", "abd")
    assert not grants.csrf_ok(None, "abc")
    assert not grants.csrf_ok("", "")
    assert not grants.csrf_ok("\u00e9", "abc")
