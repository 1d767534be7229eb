"""Files that take their name only when whole (`fsio.Unnamed`, Linux `O_TMPFILE`), as a batch of small downloads
writes them: what a user could see of one at each moment (nothing, then the whole file), that it never replaces a
file the user made, that one let go of leaves nothing behind, and the fall-back to named temps wherever the OS or
the file system has none (or the process's descriptors run short)."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from ferrysync.daemon.local import fsio
from ferrysync.daemon.local.chunker import chunk_bytes, content_hash_of
from ferrysync.daemon.model import Kind, RemoteEntry
from ferrysync.daemon.remote import RemoteClient
from ferrysync.daemon.transfer import Downloader, TargetChanged

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="unnamed files are Linux's (O_TMPFILE)")

MTIME = 1_600_000_000 * 10**9


@pytest.fixture(autouse=True)
def _unnamed_state() -> Iterator[None]:
    """Each test starts and ends with unnamed files on, and must leave no descriptor behind."""
    saved_ok, saved_budget = list(fsio._unnamed_ok), list(fsio._budget)
    before = fsio._unnamed_open
    yield
    assert fsio._unnamed_open == before, "an unnamed file's descriptor was left open"
    fsio._unnamed_ok[:] = saved_ok
    fsio._budget[:] = saved_budget


@pytest.fixture
def here(tmp_path: Path) -> Path:
    """`tmp_path`, where this file system has been seen to make an unnamed file (some do not: overlayfs before
    Linux 6.6, for one), or the test is skipped: the fall-back is tested on its own below."""
    probe = fsio.create_unnamed(tmp_path)
    if probe is None:
        pytest.skip(f"{tmp_path}'s file system makes no unnamed files")
    probe.close()
    return tmp_path


def _entry(data: bytes, name: str = "f.txt", executable: bool = False) -> tuple[RemoteEntry, dict[str, bytes]]:
    chunks = chunk_bytes(data)
    hashes = tuple(c.hash for c in chunks)
    blocks = {c.hash: data[c.offset:c.offset + c.length] for c in chunks}
    entry = RemoteEntry(name, Kind.FILE, "fid", 3, size=len(data), mtime_ns=MTIME, executable=executable,
                        content_hash=content_hash_of(hashes), blocks=hashes)
    return entry, blocks


def _downloader() -> Downloader:
    return Downloader(cast(RemoteClient, None), parallel=1)  # every block is handed in: no request is made


def test_an_unnamed_file_appears_whole_under_its_name_and_nowhere_before(here: Path) -> None:
    temps, folder = here / "tmp", here / "docs"
    temps.mkdir()
    folder.mkdir()
    seen: list[list[str]] = []
    previous = fsio.set_hook(lambda op, stage, paths: seen.append(sorted(os.listdir(temps)) +
                                                                   sorted(os.listdir(folder))))
    try:
        entry, blocks = _entry(b"the server's bytes\n" * 100, executable=True)
        staged = _downloader().stage(entry, folder / "f.txt", tmp_dir=temps, blocks=blocks, durable=False,
                                     unnamed=True)
        assert isinstance(staged.file, fsio.Unnamed)
        fsio.sync_files([staged.file])
        result = _downloader().install(staged, still_matches=lambda: True, target_is_new=True, sync_dir=False)
    finally:
        fsio.set_hook(previous)
    assert all(names == [] for names in seen[:-1]), "a name showed before the file was whole"
    st = os.stat(folder / "f.txt")
    assert (folder / "f.txt").read_bytes() == b"the server's bytes\n" * 100
    assert (st.st_mtime_ns, bool(st.st_mode & 0o100)) == (MTIME, True)
    assert result.written == (st.st_ino, st.st_size, st.st_mtime_ns, True), "the journal records what was written"
    assert os.listdir(temps) == []


def test_an_unnamed_file_is_made_in_the_folder_asked_for_made_when_missing(here: Path) -> None:
    """The engine makes its unnamed files in `.ferry/tmp/unnamed`, the one folder the watcher does not watch: the
    writes to a file that has no name yet reach no event handler (inotify_observer.py)."""
    made_in: list[str] = []
    previous = fsio.set_hook(lambda op, stage, paths: made_in.append(os.fspath(paths[0]))
                             if (op, stage) == ("open", "before") else None)
    try:
        entry, blocks = _entry(b"the server's bytes")
        staged = _downloader().stage(entry, here / "f.txt", tmp_dir=here / "tmp", blocks=blocks, durable=False,
                                     unnamed=True, unnamed_dir=here / "tmp" / "unnamed")
        assert isinstance(staged.file, fsio.Unnamed)
        fsio.sync_files([staged.file])
        _downloader().install(staged, still_matches=lambda: True, target_is_new=True, sync_dir=False)
    finally:
        fsio.set_hook(previous)
    assert made_in[-1] == str(here / "tmp" / "unnamed")
    assert (here / "f.txt").read_bytes() == b"the server's bytes"
    assert os.listdir(here / "tmp") == ["unnamed"]
    assert os.listdir(here / "tmp" / "unnamed") == []


def test_a_write_that_takes_only_part_of_a_block_loses_no_byte(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unnamed file is written unbuffered (one write(2) a block, no buffer asking the descriptor where it is):
    such a write may take only part of what it is given (a disk filling up), and the rest is written after it,
    never dropped while the file's size and hash are recorded as the server's."""
    from ferrysync.daemon.transfer import download

    class Stingy:
        """The unbuffered file, taking at most 1,000 bytes a write."""

        def __init__(self, raw: Any) -> None:
            self.raw = raw
            self.calls = 0

        def write(self, data: Any) -> int:
            self.calls += 1
            return cast(int, self.raw.write(bytes(data[:1000])))

        def __getattr__(self, name: str) -> Any:
            return getattr(self.raw, name)

    made: list[Stingy] = []
    real = os.fdopen

    def fdopen(fd: int, *args: Any, **kw: Any) -> Any:
        assert kw.get("buffering") == 0, "an unnamed file is written unbuffered"
        made.append(Stingy(real(fd, *args, **kw)))
        return made[-1]

    monkeypatch.setattr(download, "os", SimpleNamespace(**{**vars(os), "fdopen": fdopen}))
    data = os.urandom(64 * 1024)
    entry, blocks = _entry(data)
    staged = _downloader().stage(entry, here / "f.bin", tmp_dir=here / "tmp", blocks=blocks, durable=False,
                                 unnamed=True)
    assert isinstance(staged.file, fsio.Unnamed)
    assert made, "the unnamed file was not opened through os.fdopen"
    assert made[0].calls >= 64, "a write taking part of a block was not followed by one for the rest"
    fsio.sync_files([staged.file])
    _downloader().install(staged, still_matches=lambda: True, target_is_new=True, sync_dir=False)
    assert (here / "f.bin").read_bytes() == data


def test_an_unnamed_file_never_takes_a_name_the_user_took_meanwhile(here: Path) -> None:
    target = here / "f.txt"
    entry, blocks = _entry(b"the server's version")
    staged = _downloader().stage(entry, target, tmp_dir=here / "tmp", blocks=blocks, durable=False,
                                 unnamed=True)
    target.write_bytes(b"the user's new file")
    with pytest.raises(TargetChanged):
        _downloader().install(staged, still_matches=lambda: True, target_is_new=True, sync_dir=False)
    assert target.read_bytes() == b"the user's new file"
    assert os.listdir(here / "tmp") == []


def test_an_unnamed_file_let_go_of_leaves_nothing_behind(here: Path) -> None:
    """A download stopped after its bytes were written (the process killed, the batch failed): no temp file is
    left for the next start to find, as a named one would be."""
    entry, blocks = _entry(b"half way")
    staged = _downloader().stage(entry, here / "f.txt", tmp_dir=here / "tmp", blocks=blocks,
                                 durable=False, unnamed=True)
    staged.release()
    staged.release()  # idempotent: a batch releases everything it did not land
    assert os.listdir(here / "tmp") == []
    assert not (here / "f.txt").exists()


def test_a_failed_download_lets_its_unnamed_file_go(here: Path) -> None:
    entry, _blocks = _entry(b"x" * 5000)

    class Offline:
        def get_block(self, h: str, *, throttle: Any = None) -> bytes:
            raise ConnectionError("the network went away")

    with pytest.raises(ConnectionError):
        Downloader(cast(RemoteClient, Offline()), parallel=1).stage(
            entry, here / "f.txt", tmp_dir=here / "tmp", blocks={}, durable=False, unnamed=True)
    assert os.listdir(here / "tmp") == []  # the fixture checks the descriptor was closed


@pytest.mark.parametrize("stage", ["before", "after"])
def test_a_crash_at_the_open_holds_no_descriptor(here: Path, stage: str) -> None:
    """The simulation's crashes are exceptions at the seam's steps: one there must not keep a descriptor, or a
    place in the budget, that the dead process would have given back (the fixture counts them)."""

    class Crash(Exception):
        pass

    def crash(op: str, at: str, paths: tuple[str, ...]) -> None:
        if op == "open" and at == stage:
            raise Crash

    previous = fsio.set_hook(crash)
    try:
        with pytest.raises(Crash):
            fsio.create_unnamed(here)
    finally:
        fsio.set_hook(previous)


@pytest.mark.parametrize("refusal", [errno.EOPNOTSUPP, errno.EISDIR])
def test_a_file_system_without_unnamed_files_gets_named_temps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              refusal: int) -> None:
    """EOPNOTSUPP: a file system without O_TMPFILE; EISDIR: a kernel older than it. One refusal turns them off for
    the process (no failed try a file), and the download goes on the way it always did."""
    real_open = os.open

    def no_tmpfile(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_TMPFILE == os.O_TMPFILE:
            raise OSError(refusal, os.strerror(refusal))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", no_tmpfile)
    entry, blocks = _entry(b"named as before")
    staged = _downloader().stage(entry, tmp_path / "f.txt", tmp_dir=tmp_path / "tmp", blocks=blocks,
                                 durable=False, unnamed=True)
    assert not isinstance(staged.file, fsio.Unnamed)
    assert staged.file.exists()
    assert fsio._unnamed_ok == [False]
    fsio.sync_files([staged.file])
    _downloader().install(staged, still_matches=lambda: True, target_is_new=True, sync_dir=False)
    assert (tmp_path / "f.txt").read_bytes() == b"named as before"


def test_past_the_descriptor_budget_files_are_written_named(here: Path) -> None:
    fsio._budget[:] = [fsio._unnamed_open + 1]
    first = fsio.create_unnamed(here)
    try:
        assert first is not None
        assert fsio.create_unnamed(here) is None, "the budget is full: the caller writes a named temp"
    finally:
        assert first is not None
        first.close()
    second = fsio.create_unnamed(here)
    assert second is not None, "a closed one frees its place"
    second.close()


@pytest.mark.skipif(sys.platform != "linux", reason="POSIX limits, checked where they are set")
def test_the_open_file_limit_is_raised_not_lowered() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, soft), hard))
        want = 2048 if hard == resource.RLIM_INFINITY else min(2048, hard)
        assert fsio.raise_open_file_limit(2048) == want
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == want
        assert fsio.raise_open_file_limit(16) == want, "never lowered"
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
