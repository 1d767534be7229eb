"""A daemon never vanishes unnoticed: `ferry start` waits for one that is stopping; dead threads and crashes are loud.

The end-to-end versions with real processes are in tests/e2e/test_daemon_lifecycle.py.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ipc_fakedaemon import FakeDaemon
from util import wait_until

from ferrysync.daemon import threads
from ferrysync.daemon.cli import session
from ferrysync.daemon.lock import DaemonLock
from ferrysync.daemon.main import install_crash_hooks
from ferrysync.daemon.paths import ferry_paths


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def daemon_log() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("ferrysync.daemon")
    logger.addHandler(handler)
    saved = (sys.excepthook, threading.excepthook)
    try:
        yield handler
    finally:
        sys.excepthook, threading.excepthook = saved
        logger.removeHandler(handler)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_thread_that_dies_says_why() -> None:
    gate = threading.Event()

    def work() -> None:
        gate.wait(10)
        raise ValueError("the journal said no")

    t = threads.start(work, "ferry-test-dies")
    assert threads.death(t) is None  # running
    gate.set()
    t.join(10)
    assert threads.death(t) == "ValueError: the journal said no"
    quiet = threads.start(lambda: None, "ferry-test-returns")
    quiet.join(10)
    assert threads.death(quiet) == "it ended without an error"  # asked only of threads that should still run
    assert threads.death(None) is None


def test_uncaught_exceptions_reach_the_log_with_their_traceback(daemon_log: Records) -> None:
    install_crash_hooks()

    def work() -> None:
        raise RuntimeError("nobody expected this")

    t = threads.start(work, "ferry-sync-f1")
    t.join(10)
    crit = [r for r in daemon_log.records if r.levelno == logging.CRITICAL]
    assert len(crit) == 1
    assert "ferry-sync-f1" in crit[0].getMessage()
    assert crit[0].exc_info is not None
    assert crit[0].exc_info[0] is RuntimeError
    assert crit[0].exc_info[2] is not None  # the traceback travels with it

    try:
        raise KeyError("main thread")
    except KeyError:
        exc_type, exc, tb = sys.exc_info()
    assert exc_type is not None
    assert exc is not None
    sys.excepthook(exc_type, exc, tb)
    assert any(r.levelno == logging.CRITICAL and "main thread" in r.getMessage() and r.exc_info
               for r in daemon_log.records)


class Spawned:
    """What `spawn_detached` returns, for a daemon the test starts in-process."""

    def __init__(self, daemon: FakeDaemon) -> None:
        self.daemon = daemon
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return None


class StartRun:
    """`ferry start` run in a thread against FERRY_HOME `home`, spawning in-process fake daemons into `spawned`."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.spawned: list[Spawned] = []
        self.result: list[int] = []
        self.thread = threading.Thread(target=self._start)

    def _start(self) -> None:
        self.result.append(session.start(argparse.Namespace(foreground=False)))

    def spawn(self, name: str, paths: Any) -> Spawned:
        DaemonLock(paths.lock_file).acquire().release()  # raises while another daemon holds the lock
        self.spawned.append(Spawned(FakeDaemon(self.home).start()))
        return self.spawned[-1]


@pytest.fixture
def start_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StartRun]:
    home = tmp_path / "home"
    monkeypatch.setenv("FERRY_HOME", str(home))
    monkeypatch.delenv("FERRY_IPC_TRANSPORT", raising=False)
    run = StartRun(home)
    monkeypatch.setattr(session, "spawn_detached", run.spawn)
    try:
        yield run
    finally:
        for s in run.spawned:
            s.daemon.stop()


def test_start_waits_for_a_stopping_daemon_then_starts_a_new_one(
        start_run: StartRun, capsys: pytest.CaptureFixture[str]) -> None:
    old = FakeDaemon(start_run.home, hold_lock=True)
    asked = threading.Semaphore(0)

    def stopping() -> bool:
        asked.release()
        return True

    old.server.stopping = stopping
    old.start()
    start_run.thread.start()
    try:
        for _ in range(3):  # it keeps asking while the old daemon says it is stopping, and spawns nothing
            assert asked.acquire(timeout=10)
        assert not start_run.spawned
        old.stop()  # the old daemon exits: socket and lock go
        start_run.thread.join(30)
        assert start_run.result == [session.EXIT_OK]
        assert len(start_run.spawned) == 1
        out = capsys.readouterr().out
        assert "is stopping: waiting for it" in out
        assert "Ferry is running" in out
        assert "already running" not in out
    finally:
        old.stop()


def test_start_waits_while_the_lock_is_held_by_a_daemon_that_does_not_answer(
        start_run: StartRun, capsys: pytest.CaptureFixture[str]) -> None:
    """Between its control channel closing and its process exiting, a stopping daemon holds only the lock."""
    lock = DaemonLock(ferry_paths().ensure().lock_file).acquire()
    start_run.thread.start()
    try:
        wait_until(lambda: "waiting for it" in capsys.readouterr().out, timeout=10, what="start to wait")
        assert not start_run.spawned
        assert start_run.thread.is_alive()
        lock.release()
        start_run.thread.join(30)
        assert start_run.result == [session.EXIT_OK]
        assert len(start_run.spawned) == 1
    finally:
        lock.release()


def test_a_daemon_that_could_not_start_on_a_full_disk_is_explained_by_whoever_started_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk swallows the daemon's last words (its log and error output are files on that disk): `ferry
    start` then names the disk itself. Room to spare: nothing is said about disks."""
    paths = ferry_paths({"FERRY_HOME": str(tmp_path / "home")}).ensure()
    assert paths.full_disks() == []
    assert session._exit_story(paths, 1) == "the daemon exited with 1"
    (paths.log_dir / "ferryd.out").write_text("ferryd: cannot open the journal: database or disk is full\n")
    assert session._exit_story(paths, 1) == ("the daemon exited with 1:\n"
                                             "ferryd: cannot open the journal: database or disk is full")

    free = {"bytes": 4096}

    def usage(path: object) -> Any:
        return argparse.Namespace(total=10**9, used=10**9 - free["bytes"], free=free["bytes"])

    monkeypatch.setattr("ferrysync.daemon.paths.shutil.disk_usage", usage)
    (paths.log_dir / "ferryd.out").write_text("")
    story = session._exit_story(paths, 1)
    assert story.startswith("the daemon exited with 1\n")
    assert f"the disk holding {paths.state_dir} is full (4,096 bytes free)" in story
    assert "free some space, then start Ferry again" in story
    assert story.count("is full") == 1, "one line per disk, though the journal and the log both sit on it"
    free["bytes"] = 10**8
    assert paths.full_disks() == []
