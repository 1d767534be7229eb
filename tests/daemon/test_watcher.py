"""Live change detection: native events, quiet periods, rescans, the watch-limit fallback, a vanishing root."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from util import wait_until
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from ferrysync.daemon.journal import Journal
from ferrysync.daemon.local.marker import RootUnavailable, init_marker
from ferrysync.daemon.local.watcher import LocalObserver

FID = "f1"  # the folder id the fixtures use


def test_burst_of_creates_modifies_deletes_and_renames(
    journal: Journal, root: Path, start_observer: Callable[..., LocalObserver], lfs: Any
) -> None:
    changed: list[str] = []
    obs = start_observer(on_changes=changed.extend)
    wait_until(obs.idle, 10)
    for i in range(300):
        d = root / f"dir{i % 7}" / f"inner{i % 3}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}.txt").write_text(f"v1 {i}")
    for i in range(0, 300, 3):
        (root / f"dir{i % 7}" / f"inner{i % 3}" / f"f{i}.txt").write_text(f"v2 {i} longer")
    for i in range(1, 300, 10):
        (root / f"dir{i % 7}" / f"inner{i % 3}" / f"f{i}.txt").unlink()
    os.rename(root / "dir2/inner2/f2.txt", root / "dir5/renamed.txt")
    os.rename(root / "dir3", root / "dir3-renamed")
    lfs.wait_matches(journal, root, obs)
    assert "dir5/renamed.txt" in changed
    assert "dir3-renamed/inner0/f3.txt" in changed


def test_deep_directory_move(
    journal: Journal, root: Path, start_observer: Callable[..., LocalObserver], lfs: Any
) -> None:
    deep = root / "a/b/c/d/e/f"
    deep.mkdir(parents=True)
    for i in range(200):
        (deep / f"x{i}").write_text(str(i))
    obs = start_observer()
    lfs.wait_matches(journal, root, obs)
    (root / "z/y/x").mkdir(parents=True)
    shutil.move(root / "a/b", root / "z/y/x/b")  # one rename event for a whole subtree
    lfs.wait_matches(journal, root, obs)
    assert journal.descendants(FID, "local", "a") == []
    shutil.move(root / "z/y/x/b", root.parent / "outside-the-folder")  # moved out: a deletion
    lfs.wait_matches(journal, root, obs)
    assert journal.descendants(FID, "local", "z/y/x") == []


def test_a_slowly_written_large_file_is_hashed_once(
    journal: Journal, root: Path, counting_pool: Any, start_observer: Callable[..., LocalObserver], lfs: Any
) -> None:
    obs = start_observer(pool=counting_pool, quiet_period=1.0)
    wait_until(obs.idle, 10)
    block = os.urandom(1 << 20)
    done = threading.Event()

    def write_slowly() -> None:
        with open(root / "video.mp4", "wb") as f:
            for _ in range(24):  # ~24 MiB over ~1.2 s, in steps much shorter than the quiet period
                f.write(block)
                f.flush()
                done.wait(0.05)
        done.set()

    writer = threading.Thread(target=write_slowly)
    writer.start()
    writer.join()
    lfs.wait_matches(journal, root, obs)
    assert counting_pool.reads == {"video.mp4": 1}
    assert journal.get_local(FID, "video.mp4").size == 24 << 20  # type: ignore[union-attr]


def test_watch_limit_falls_back_to_polling_with_advice(
    journal: Journal, root: Path, start_observer: Callable[..., LocalObserver], lfs: Any
) -> None:
    class NoWatches(BaseObserver):
        def __init__(self) -> None:
            super().__init__(emitter_class=object)  # type: ignore[arg-type]

        def schedule(self, *a: Any, **kw: Any) -> ObservedWatch:
            raise OSError(errno.ENOSPC, "inotify watch limit reached")

    obs = start_observer(observer_factory=NoWatches, poll_interval=0.3)
    assert obs.status.mode == "polling"
    assert "fs.inotify.max_user_watches" in (obs.status.message or "")
    (root / "polled.txt").write_text("found by polling")
    lfs.wait_matches(journal, root, obs)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify's queue overflow")
def test_events_lost_to_a_queue_overflow_are_found_by_a_rescan(
    journal: Journal, root: Path, start_observer: Callable[..., LocalObserver], lfs: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A full inotify queue drops events and queues one IN_Q_OVERFLOW: the observer hands that fact to the watcher
    (data, not a log line), and the full rescan it answers with finds what the lost events would have said."""
    from watchdog.observers.inotify_c import InotifyConstants, InotifyEvent, Mask, WatchDescriptor

    from ferrysync.daemon.local.inotify_observer import InotifyObserver

    observers: list[InotifyObserver] = []

    def observer() -> InotifyObserver:
        observers.append(InotifyObserver())
        return observers[-1]

    obs = start_observer(observer_factory=observer)
    wait_until(lambda: obs.watcher.scans == 1 and obs.idle(), 10)
    lost: list[str | bytes] = []
    monkeypatch.setattr(obs.watcher, "on_paths", lost.extend)  # the events of this file never arrive
    (root / "unseen.txt").write_text("written while events were dropped")
    (root / "fence.txt").write_text("its event comes after every event of unseen.txt (one inotify queue)")
    wait_until(lambda: any(os.fsdecode(p).endswith("fence.txt") for p in lost), 10,
               what="the events that get lost, to the last")
    monkeypatch.undo()
    assert journal.get_local(FID, "unseen.txt") is None
    assert obs.watcher.scans == 1
    overflow = InotifyEvent(WatchDescriptor(-1), Mask(InotifyConstants.IN_Q_OVERFLOW), 0, b"")
    observers[-1].inotify.handle_event(overflow)  # what watchdog's reader does with the kernel's overflow event
    wait_until(lambda: obs.watcher.scans == 2, 10, what="a rescan after the overflow")
    lfs.wait_matches(journal, root, obs)
    assert journal.get_local(FID, "unseen.txt") is not None
    (root / "after.txt").write_text("the watches outlive the overflow")  # watchdog rebuilt them: events flow again
    wait_until(lambda: journal.get_local(FID, "after.txt") is not None, 10, what="an event after the overflow")
    assert obs.watcher.scans == 2


def test_changes_to_ignore_rules_apply_at_once(
    journal: Journal, root: Path, start_observer: Callable[..., LocalObserver], lfs: Any
) -> None:
    (root / ".ferryignore").write_text("*.log\n")
    obs = start_observer()
    (root / "app.log").write_text("noise")
    (root / "notes.txt").write_text("keep")
    lfs.wait_matches(journal, root, obs)
    assert journal.get_local(FID, "app.log") is None
    (root / ".ferryignore").write_text("# nothing ignored now\n")
    wait_until(lambda: journal.get_local(FID, "app.log") is not None, 10, what="un-ignored file indexed")
    lfs.wait_matches(journal, root, obs)


def test_vanishing_root_stops_without_deletions_and_resumes(
    journal: Journal, root: Path, tmp_path: Path, start_observer: Callable[..., LocalObserver], lfs: Any
) -> None:
    for i in range(20):
        (root / f"f{i}").write_text(str(i))
    errors: list[Exception] = []
    obs = start_observer(on_error=errors.append)
    lfs.wait_matches(journal, root, obs)
    rows = journal.count(FID, "local")
    parked = tmp_path / "unmounted"
    os.rename(root, parked)  # the disk goes away
    root.mkdir()  # an empty mount point stays behind
    obs.watcher.request_rescan("test")
    wait_until(lambda: any(isinstance(e, RootUnavailable) for e in errors), 10, what="RootUnavailable reported")
    assert obs.status.error is not None
    assert "marker" in (obs.status.message or "")
    assert journal.count(FID, "local") == rows  # nothing recorded as deleted
    root.rmdir()
    os.rename(parked, root)  # the disk is back
    wait_until(lambda: obs.status.error is None, 15, what="folder resumes")
    lfs.wait_matches(journal, root, obs)
    assert journal.count(FID, "local") == rows


def test_root_moved_away_without_any_event_stops_the_folder(
    journal: Journal, root: Path, tmp_path: Path, start_observer: Callable[..., LocalObserver], lfs: Any,
    monkeypatch: Any,
) -> None:
    """A root moved away (or a disk unmounted) raises no event on the root's own watch: the observer must still
    notice by itself, instead of letting the folder say "Up to date" over a folder that is not there."""
    monkeypatch.setattr(LocalObserver, "RETRY_S", 0.2)
    (root / "a.txt").write_text("a")
    errors: list[Exception] = []
    obs = start_observer(on_error=errors.append)
    lfs.wait_matches(journal, root, obs)
    os.rename(root, tmp_path / "moved-away")
    wait_until(lambda: obs.status.error is not None, 10, what="the missing root noticed without any event")
    assert isinstance(errors[-1], RootUnavailable)
    assert journal.get_local(FID, "a.txt") is not None
    os.rename(tmp_path / "moved-away", root)
    wait_until(lambda: obs.status.error is None, 10, what="folder resumes")
    lfs.wait_matches(journal, root, obs)


def test_marker_only_created_on_first_use(tmp_path: Path) -> None:
    r = tmp_path / "R"
    init_marker(r, FID, create_root=True)
    assert (r / ".ferry" / "folder-id").read_text().strip() == FID


def test_starting_on_a_missing_root_waits_for_it(
    journal: Journal, root: Path, tmp_path: Path, start_observer: Callable[..., LocalObserver], lfs: Any
) -> None:
    parked = tmp_path / "parked"
    os.rename(root, parked)
    errors: list[Exception] = []
    obs = start_observer(on_error=errors.append)  # must not raise: the engine starts folders blindly
    wait_until(lambda: obs.status.error is not None, 10, what="RootUnavailable while the root is missing")
    os.rename(parked, root)
    wait_until(lambda: obs.status.error is None, 15, what="folder resumes")
    (root / "after-return.txt").write_text("seen by the new native watch")
    lfs.wait_matches(journal, root, obs)
    assert obs.status.mode == "native"
    assert isinstance(errors[0], RootUnavailable)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="one inotify queue orders the events (the fence)")
def test_reading_a_file_is_not_an_event_and_a_change_of_mode_is(
    journal: Journal, root: Path, start_observer: Callable[..., LocalObserver], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only what can tell of a change is asked of the OS: a program reading a synced file (the indexer, the
    uploader, a user's search tool) reaches the daemon as nothing at all; a change of mode alone (the executable
    bit) is an event."""
    from watchdog.events import FileSystemEvent

    from ferrysync.daemon.local import watcher

    heard: list[tuple[str, str]] = []
    handle = watcher._Handler.on_any_event

    def hearing(self: watcher._Handler, event: FileSystemEvent) -> None:
        heard.append((event.event_type, os.fsdecode(event.src_path)))
        handle(self, event)
    monkeypatch.setattr(watcher._Handler, "on_any_event", hearing)
    (root / "read-me.txt").write_text("read many times")
    (root / "run.sh").write_text("#!/bin/sh\n")
    obs = start_observer()
    wait_until(lambda: obs.watcher.scans == 1 and obs.idle(), 10)
    heard.clear()
    for _ in range(3):
        assert (root / "read-me.txt").read_text() == "read many times"
    os.chmod(root / "run.sh", 0o755)
    (root / "fence.txt").write_text("its event comes after every event above (one inotify queue)")
    wait_until(lambda: any(p.endswith("fence.txt") for _, p in heard), 10, what="the fence's event")
    assert [p for _, p in heard if p.endswith("read-me.txt")] == [], heard
    assert ("attrib", str(root / "run.sh")) in heard
    wait_until(lambda: journal.get_local(FID, "run.sh") is not None
               and journal.get_local(FID, "run.sh").executable, 10,  # type: ignore[union-attr]
               what="the executable bit recorded")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="one inotify queue orders the events (the fence)")
def test_an_unnamed_download_file_is_heard_only_once_named_even_after_an_overflow(
    journal: Journal, root: Path, start_observer: Callable[..., LocalObserver], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A small download writes an unnamed file in `.ferry/tmp/unnamed` and links it at its name. Its write, its
    mode and times and its close (reported under a made-up name) reach no event handler: three events a landed file
    that crossed watchdog's threads, on the daemon's one GIL, only to be ignored. Its name is heard, as is
    everything else in `.ferry` (a named temp, the trash: a move between them and the folder stays one event); an
    overflow, after which watchdog rebuilds every watch, does not bring the unnamed folder's back."""
    from watchdog.events import FileSystemEvent
    from watchdog.observers.inotify_c import InotifyConstants, InotifyEvent, Mask, WatchDescriptor

    from ferrysync.daemon.local import fsio, watcher
    from ferrysync.daemon.local.inotify_observer import InotifyObserver
    from ferrysync.daemon.local.marker import tmp_dir, trash_dir, unnamed_dir

    heard: list[str] = []
    handle = watcher._Handler.on_any_event

    def hearing(self: watcher._Handler, event: FileSystemEvent) -> None:
        heard.append(os.fsdecode(event.src_path))
        handle(self, event)
    monkeypatch.setattr(watcher._Handler, "on_any_event", hearing)
    observers: list[InotifyObserver] = []

    def observer() -> InotifyObserver:
        observers.append(InotifyObserver())
        return observers[-1]
    unnamed_dir(root).mkdir(parents=True, exist_ok=True)
    obs = start_observer(observer_factory=observer)
    wait_until(lambda: obs.watcher.scans == 1 and obs.idle(), 10)

    def download(n: int) -> None:
        unnamed = fsio.create_unnamed(unnamed_dir(root))
        assert unnamed is not None
        os.pwrite(unnamed.fd, b"downloaded bytes %d" % n, 0)
        os.utime(unnamed.fd, ns=(1, 1_700_000_000_000_000_000))
        fsio.link_unnamed(unnamed, root / f"landed-{n}.bin")
        unnamed.close()
        (tmp_dir(root) / f"named-temp-{n}").write_bytes(b"a temp with a name")
        (trash_dir(root) / f"old-{n}").mkdir(parents=True)

    for round_ in (1, 2):
        heard.clear()
        download(round_)
        (root / f"fence-{round_}.txt").write_text("its event comes after every event above (one inotify queue)")
        fence = f"fence-{round_}.txt"
        wait_until(lambda: any(p.endswith(fence) for p in heard), 10, what="the fence's event")  # noqa: B023
        assert [p for p in heard if p.startswith(str(unnamed_dir(root)))] == [], heard
        assert str(root / f"landed-{round_}.bin") in heard
        assert str(tmp_dir(root) / f"named-temp-{round_}") in heard
        assert str(trash_dir(root) / f"old-{round_}") in heard
        if round_ == 1:  # what watchdog's reader does with the kernel's overflow event: every watch is rebuilt
            overflow = InotifyEvent(WatchDescriptor(-1), Mask(InotifyConstants.IN_Q_OVERFLOW), 0, b"")
            observers[-1].inotify.handle_event(overflow)
            wait_until(lambda: obs.watcher.scans >= 2 and obs.idle(), 10, what="the rescan after the overflow")
    wait_until(lambda: journal.get_local(FID, "landed-2.bin") is not None, 10, what="the landed file recorded")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="one inotify queue orders the events (the fence)")
def test_the_echo_of_a_recorded_change_is_not_queued_and_a_real_change_is(
    journal: Journal, root: Path, start_observer: Callable[..., LocalObserver], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An event for a path the journal already describes as it is on disk (the engine's own download or deletion,
    reported after it recorded it) is left out of the dirty queue: queued, it indexed nothing and the folder said
    "Syncing" for a quiet period after `ferry wait` had said everything was synced (CI:
    test_sync_root_vanishing_writes_nothing_there_and_deletes_nothing). A change made meanwhile still is queued."""
    (root / "synced.txt").write_text("recorded")
    os.utime(root / "synced.txt", ns=(10**18, 10**18))  # not within its mtime's tick (RACY_NS)
    obs = start_observer()
    wait_until(lambda: obs.watcher.scans == 1 and obs.idle() and journal.get_local(FID, "synced.txt") is not None,
               10)
    queued: list[str] = []
    mark = journal.mark_dirty

    def marking(folder_id: str, paths: Any, *args: Any, **kwargs: Any) -> Any:
        paths = list(paths)
        queued.extend(paths)
        return mark(folder_id, paths, *args, **kwargs)
    monkeypatch.setattr(journal, "mark_dirty", marking)
    os.utime(root / "synced.txt", ns=(10**18, 10**18))  # an event (attrib), nothing changed
    (root / "elsewhere").mkdir()
    (root / "gone-before-heard.txt").write_text("x")
    os.rename(root / "gone-before-heard.txt", root / "elsewhere" / "moved.txt")
    (root / "edited.txt").write_text("a real change")
    (root / "fence.txt").write_text("its event comes after every event above (one inotify queue)")
    wait_until(lambda: "fence.txt" in queued, 10, what="the fence's event queued")
    assert "synced.txt" not in queued
    assert "edited.txt" in queued
    assert "elsewhere" in queued
    wait_until(obs.idle, 10)
    assert journal.get_local(FID, "edited.txt") is not None
    assert journal.get_local(FID, "elsewhere/moved.txt") is not None


def test_events_the_journal_could_not_take_are_queued_soon_after_without_another_event(
    journal: Journal, root: Path, start_observer: Callable[..., LocalObserver], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A full disk refuses the journal write that queues a burst of events: the events are kept and queued again
    within seconds, not only when another event or the hourly rescan comes (until then the folder said "Syncing",
    honest but stuck, and the user's change did not travel)."""
    obs = start_observer()
    wait_until(lambda: obs.watcher.scans == 1 and obs.idle(), 10)
    mark = journal.mark_dirty
    refused: list[list[str]] = []

    def full_once(folder_id: str, paths: Any, *args: Any, **kwargs: Any) -> Any:
        paths = list(paths)
        if not refused and "edited.txt" in paths:
            refused.append(paths)
            raise sqlite3.OperationalError("database or disk is full")
        return mark(folder_id, paths, *args, **kwargs)
    monkeypatch.setattr(journal, "mark_dirty", full_once)
    (root / "edited.txt").write_text("a change made while the disk was full")
    wait_until(lambda: refused, 10, what="the refused write")
    wait_until(lambda: journal.get_local(FID, "edited.txt") is not None, 10, what="the change indexed after all")


def test_paths_the_engine_asks_to_look_at_again_are_indexed_without_an_event(
    journal: Journal, root: Path, start_observer: Callable[..., LocalObserver],
) -> None:
    """`look_again` is how the engine hands over paths it may have changed when the journal refused to queue them
    (a full disk): the observer holds them and indexes them as if the OS had reported them. Here no event and no
    rescan comes (a polling watcher that looks once an hour), so only `look_again` can tell it."""
    obs = start_observer(observer_factory=lambda: PollingObserver(timeout=3600), poll_interval=3600)
    wait_until(lambda: obs.watcher.scans == 1 and obs.idle(), 10)
    (root / "made").mkdir()  # what the engine made, its record refused
    assert obs.idle()
    assert journal.get_local(FID, "made") is None
    obs.look_again(["made"])
    wait_until(lambda: journal.get_local(FID, "made") is not None, 10, what="the folder indexed")


def test_a_start_up_scan_the_journal_refused_is_tried_again(
    journal: Journal, root: Path, start_observer: Callable[..., LocalObserver], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The start-up scan is the only look at what changed while the daemon was down. When a full disk refuses its
    journal writes, the scan is owed still and runs again once the journal takes them; it was dropped, and a save
    made before a kill -9 stayed unknown for an hour while the folder said idle (found by
    tests/e2e/test_journal_disk_refuses.py, a daemon killed and restarted on a disk that refused writes)."""
    (root / "saved-while-down.txt").write_text("made before the daemon started")
    mark = journal.mark_dirty
    refused: list[list[str]] = []

    def full_at_first(folder_id: str, paths: Any, *args: Any, **kwargs: Any) -> Any:
        paths = list(paths)
        if len(refused) < 2:
            refused.append(paths)
            raise sqlite3.OperationalError("database or disk is full")
        return mark(folder_id, paths, *args, **kwargs)
    monkeypatch.setattr(journal, "mark_dirty", full_at_first)
    obs = start_observer(observer_factory=lambda: PollingObserver(timeout=3600), poll_interval=3600)
    wait_until(lambda: len(refused) == 2, 10, what="the start-up scan refused, and refused again")
    assert not obs.idle(), "a scan still owed is work: not idle, not 'Up to date'"
    wait_until(lambda: journal.get_local(FID, "saved-while-down.txt") is not None, 15,
               what="the file found by the scan once the journal takes writes")
    wait_until(obs.idle, 10)
