"""A daemon that stops must not vanish unnoticed, and one that cannot go on must say why (issue 11, item 3).

The reported symptom: after rounds of kills, restarts and server restarts, a device's `ferryd` was gone
(`ferry status` exit 3) and its log said nothing about it. Found cause: `ferry start` asked "does a daemon
answer?", and a daemon that is shutting down still answers for a while (its engine stop may take up to 30 s, e.g.
while a transfer waits on a hung server). `ferry start` then said "Ferry is already running." and returned 0; the
old daemon exited moments later and nothing was running any more. These tests drive real processes.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from devices import Device, converge, tree
from util import ServerProcess, bin_path, wait_until

FAULTS = str(Path(__file__).parent / "faults")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours still "exists": reap it
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == 0


def daemon_pid(d: Device) -> int:
    return int((d.home / "state" / "ferryd.lock").read_text().strip())


def log_text(d: Device) -> str:
    return (d.home / "logs" / "ferryd.log").read_text(errors="replace")


@pytest.fixture
def frozen(server: ServerProcess) -> Iterator[Callable[[bool], None]]:
    """freeze(True) stops the server process in its tracks (a hung server: connections open, no answers)."""
    assert server.proc is not None
    pid = server.proc.pid

    def freeze(on: bool) -> None:
        os.kill(pid, signal.SIGSTOP if on else signal.SIGCONT)

    yield freeze
    freeze(False)


def test_start_while_the_old_daemon_is_stopping_waits_and_leaves_one_running(
        make_device: Callable[..., Device], frozen: Callable[[bool], None]) -> None:
    """The cause of the vanished daemons: `ferry start` took a stopping daemon for a running one."""
    a = make_device("laptop")
    assert a.proc is not None
    old = a.proc.pid
    a.wait_synced()
    frozen(True)  # the next upload hangs on the server: the daemon's stop has to wait for it
    (a.folder / "report.txt").write_text("saved while the server hangs")
    wait_until(lambda: a.status()["pending_up"]["count"] >= 1, timeout=30, what="the upload to hang")
    a.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: " stopping" in log_text(a), timeout=10, what="the daemon to begin stopping")
    assert a.ferry("status", check=False).returncode == 0, "a stopping daemon still answers"

    starter = subprocess.Popen([bin_path("ferry"), "start"], env=a.env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        assert starter.stdout is not None
        ready, _, _ = select.select([starter.stdout], [], [], 30)
        assert ready, "`ferry start` said nothing within 30 s"
        first = starter.stdout.readline()
        assert "waiting for it" in first, f"`ferry start` must wait for the stopping daemon, said: {first!r}"
        frozen(False)  # the hung upload ends, the old daemon exits, the new one starts
        out, _ = starter.communicate(timeout=60)
    finally:
        if starter.poll() is None:
            starter.kill()
    a.proc.wait(30)
    a.proc = None
    try:
        assert starter.returncode == 0, first + out
        assert "Ferry is running" in out
        assert not alive(old)
        new = daemon_pid(a)
        assert new != old
        assert alive(new)
        status = a.ferry("status", "--json", check=False)
        assert status.returncode == 0, status.stderr  # not exit 3: a daemon runs
        wait_until(lambda: "report.txt" in {e["path"].rsplit("/", 1)[-1] for e in a.json("activity")["activity"]}
                   and a.ferry("wait", "--timeout", "1", check=False).returncode == 0,
                   timeout=45, what="the new daemon to upload what the old one could not")
    finally:
        a.ferry("stop", check=False)


def test_kill9_then_an_immediate_restart_over_the_stale_socket_and_lock(make_device: Callable[..., Device]) -> None:
    a = make_device("laptop")
    (a.folder / "one.txt").write_text("1")
    a.wait_synced()
    for round_ in range(3):
        assert a.proc is not None
        old = a.proc.pid
        os.kill(old, signal.SIGKILL)  # not waited for: the restart races the dying process
        (a.folder / f"during-{round_}.txt").write_text(str(round_))
        a.proc.wait()
        socket_file = next((a.home / "run").glob("ferryd.sock"), None)
        assert socket_file is not None, "kill -9 leaves the socket file behind"
        a.proc = None
        a.start()
        assert daemon_pid(a) != old
    a.wait_synced()
    assert a.proc is not None
    assert a.proc.poll() is None
    b = make_device("desktop")
    converge(a, b)
    assert {"during-0.txt", "during-1.txt", "during-2.txt"} <= set(tree(b.folder))


def test_a_sync_loop_that_dies_is_an_error_in_the_status_and_the_log(make_device: Callable[..., Device]) -> None:
    a = make_device("laptop", start=False)
    a.extra_env.update({"PYTHONPATH": FAULTS, "FERRY_TEST_FAULT": "sync-loop"})
    a.start()
    a.add_folder()
    (a.folder / "before.txt").write_text("synced before the fault")
    a.wait_synced()
    assert a.status()["folders"][0]["message"] == "Up to date"

    (a.home / "break-sync-loop").touch()
    (a.folder / "after.txt").write_text("the loop dies planning this")
    wait_until(lambda: a.status()["state"] == "error", timeout=30, what="the status to show the dead loop")
    status = a.status()
    folder = status["folders"][0]
    assert folder["state"] == "error"
    assert "sync loop stopped" in folder["message"]
    assert "injected fault" in folder["message"]
    assert status["message"] == folder["message"]
    assert a.ferry("wait", "--timeout", "2", check=False).returncode != 0, "a dead folder is never 'synced'"
    log = log_text(a)
    assert "CRITICAL" in log
    assert "thread ferry-sync-" in log
    assert "Traceback (most recent call last)" in log
    assert "RuntimeError: injected fault" in log
    assert a.proc is not None, "the daemon itself keeps answering"
    assert a.proc.poll() is None, "the daemon itself keeps answering"


def test_a_daemon_that_cannot_start_says_why_and_exits_non_zero(make_device: Callable[..., Device]) -> None:
    a = make_device("laptop", start=False)
    a.extra_env.update({"PYTHONPATH": FAULTS, "FERRY_TEST_FAULT": "engine-start"})
    a.home.joinpath("logs").mkdir(parents=True, exist_ok=True)
    result = subprocess.run([bin_path("ferryd")], env=a.env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "ferryd: stopped by an unexpected error: RuntimeError: injected fault" in result.stderr
    log = log_text(a)
    assert "CRITICAL" in log
    assert "ferryd exits with code 1" in log
    assert "Traceback (most recent call last)" in log
    assert "injected fault: the engine could not start" in log
    assert a.ferry("status", check=False).returncode == 3  # nothing answers: the socket went with it
    started = a.ferry("start", check=False)  # as a user starts it: told why, not "Ferry is running"
    assert started.returncode != 0
    assert "injected fault: the engine could not start" in started.stderr
    assert "Ferry is running" not in started.stdout


def test_every_early_exit_is_logged(tmp_path: Path) -> None:
    d = Device(name="lonely", home=tmp_path / "home", folder=tmp_path / "folder", keyring_dir=tmp_path / "kr")
    result = subprocess.run([bin_path("ferryd")], env=d.env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert "no server configured" in result.stderr
    assert "ferryd exits with code 3: no server configured" in log_text(d)
