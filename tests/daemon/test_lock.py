"""One daemon per FERRY_HOME: the lock refuses a second holder, names the first, and dies with its process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ferrysync.daemon.lock import DaemonAlreadyRunning, DaemonLock, is_locked, read_pid

HOLDER = """
import sys
from pathlib import Path
from ferrysync.daemon.lock import DaemonLock
lock = DaemonLock(Path(sys.argv[1])).acquire()
print("locked", flush=True)
sys.stdin.read()  # hold until killed
"""


def test_lock_records_the_pid_and_refuses_a_second_holder(tmp_path: Path) -> None:
    path = tmp_path / "state" / "ferryd.lock"
    with DaemonLock(path) as lock:
        assert lock.held
        assert read_pid(path) == os.getpid()
        assert is_locked(path)
        with pytest.raises(DaemonAlreadyRunning) as info:
            DaemonLock(path).acquire()
        assert info.value.pid == os.getpid()
        assert str(os.getpid()) in str(info.value)
        assert read_pid(path) == os.getpid()  # the refused attempt did not erase it
    assert not is_locked(path)
    assert read_pid(path) is None
    DaemonLock(path).acquire().release()  # free again


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    path = tmp_path / "ferryd.lock"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(DaemonAlreadyRunning) as info:
            DaemonLock(path).acquire()
        assert info.value.pid == proc.pid
    finally:
        proc.kill()
        proc.wait()
    assert not is_locked(path)
    with DaemonLock(path):
        assert read_pid(path) == os.getpid()


def test_probing_a_missing_lock_file_creates_nothing(tmp_path: Path) -> None:
    assert not is_locked(tmp_path / "absent.lock")
    assert not (tmp_path / "absent.lock").exists()
    assert read_pid(tmp_path / "absent.lock") is None


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_disk_that_refuses_the_pid_still_gives_the_lock(tmp_path: Path) -> None:
    """The pid inside is for messages; the lock is the OS's. A full disk (here: a file-size limit of 0, so every
    write fails) must not stop the daemon from starting and saying, in its status, what the disk refuses."""
    import resource

    def refuse_writes() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))

    path = tmp_path / "ferryd.lock"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, preexec_fn=refuse_writes)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        assert is_locked(path)
        assert read_pid(path) is None
        with pytest.raises(DaemonAlreadyRunning):
            DaemonLock(path).acquire()
    finally:
        proc.kill()
        proc.wait()
