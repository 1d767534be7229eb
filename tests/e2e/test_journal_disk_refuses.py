"""A real daemon whose journal's disk stops taking writes (full, failing, read-only), then takes them again.

What a user sees: while Ferry cannot record changes, the status says so, naming the disk, instead of "Syncing" for
ever; a file saved meanwhile is not lost and is not half-synced; once the disk takes writes again, Ferry goes on by
itself, the file reaches the server, and the status says "Up to date". The disk's refusal is provoked without
privileges: RLIMIT_FSIZE on the daemon alone makes every write of its files past byte 1 fail (EFBIG, which SQLite
reports as a disk error; Python ignores the SIGXFSZ that comes with it), as a full or failing disk does.
"""

from __future__ import annotations

import os
import random
import resource
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from devices import Device, converge
from losslib import ServerView, conflict_copies, files_of
from util import ServerProcess, bin_path, wait_until

pytestmark = pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs Linux prlimit")


def _refuse(d: Device, refuse: bool) -> None:
    """The daemon's disk refuses every write of its files past byte 1 (or takes them again)."""
    assert d.proc is not None
    hard = resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE)[1]
    resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE, (1 if refuse else hard, hard))


@contextmanager
def _disk_refuses_writes(d: Device) -> Iterator[None]:
    _refuse(d, True)
    try:
        yield
    finally:
        _refuse(d, False)


def _refused(status: dict[str, Any]) -> bool:
    return status["journal_refused"] is not None and status["state"] == "error"


def test_a_journal_disk_that_refuses_writes_is_shown_and_nothing_saved_meanwhile_is_lost(
        make_device: Callable[..., Device], server: ServerProcess) -> None:
    a = make_device("laptop")
    view = ServerView(server)
    a.wait_synced()
    assert a.status()["journal_refused"] is None

    with _disk_refuses_writes(a):
        (a.folder / "saved-meanwhile.txt").write_bytes(b"written while Ferry could not record it")
        wait_until(lambda: _refused(a.status()), timeout=30, what="the status to say the journal's disk refuses")
        status = a.status()
        folder = status["folders"][0]
        assert folder["state"] == "error"
        assert "The disk holding Ferry's journal" in folder["message"]
        assert "cannot be written" in folder["message"]
        assert "nothing is lost" in folder["message"]
        assert status["message"] == folder["message"], "the tray's line says it too"
        assert "disk I/O error" in status["journal_refused"]["detail"]
        text = a.ferry("status").stdout
        assert "The disk holding Ferry's journal" in text, text
        assert "saved-meanwhile.txt" not in view.files(), "nothing travels that the journal could not record"

    wait_until(lambda: view.files().get("saved-meanwhile.txt") == b"written while Ferry could not record it",
               timeout=90, what="the save made meanwhile to reach the server once the disk takes writes again")
    a.wait_synced(timeout=60)
    status = a.status()
    assert status["journal_refused"] is None
    assert status["state"] == "idle"
    assert status["message"] == "Up to date"
    assert a.proc is not None
    assert a.proc.poll() is None, "the daemon lived through it"


def test_downloads_onto_a_disk_that_refuses_writes_wait_and_a_save_made_meanwhile_is_kept(
        make_device: Callable[..., Device], server: ServerProcess) -> None:
    """The same refusal on the receiving device, while the other sends it small files, a big one and an edit of a
    file its user edits too: its downloads fail (nothing half-written is shown, nothing is recorded as there); once
    the disk takes writes again every file arrives, both edits of the shared file are kept, the errors clear and
    both devices hold the same files."""
    a, b = make_device("laptop"), make_device("desktop")
    shared = b"version both devices had\n"
    (a.folder / "plan.txt").write_bytes(shared)
    wait_until(lambda: (b.folder / "plan.txt").exists(), timeout=60, what="plan.txt to reach the desktop")
    b.wait_synced()
    big = bytes(range(256)) * (12 * 1024 * 16)  # 48 MiB: several blocks, fetched in parallel

    with _disk_refuses_writes(b):
        for k in range(20):
            (a.folder / "inbox" / f"note-{k}.txt").parent.mkdir(exist_ok=True)
            (a.folder / "inbox" / f"note-{k}.txt").write_bytes(f"note {k}\n".encode())
        (a.folder / "video.bin").write_bytes(big)
        (a.folder / "plan.txt").write_bytes(b"the laptop's edit\n")
        a.wait_synced(timeout=120)
        (b.folder / "plan.txt").write_bytes(b"the desktop's edit, saved while its disk refused Ferry\n")
        wait_until(lambda: _refused(b.status()), timeout=30, what="the desktop to say its journal's disk refuses")
        assert not (b.folder / "video.bin").exists(), "no half-written file is shown"

    # Within 45 s: the feed that failed on the refusing journal would otherwise wait out its backoff (60 s); the
    # first write the disk takes again wakes it (measured here: the whole test takes ~6 s).
    converge(a, b, timeout=45)
    files = files_of(b)
    assert files["video.bin"] == big
    assert all(files[f"inbox/note-{k}.txt"] == f"note {k}\n".encode() for k in range(20))
    kept = {files["plan.txt"]} | {files[p] for p in conflict_copies(b) if p.startswith("plan")}
    assert kept == {b"the laptop's edit\n", b"the desktop's edit, saved while its disk refused Ferry\n"}, kept
    for d in (a, b):
        d.wait_synced(timeout=60)
        assert d.status()["message"] == "Up to date"
        assert d.json("errors")["errors"] == []


def test_a_daemon_started_while_its_disk_refuses_writes_says_why_and_the_next_start_syncs_what_waited(
        make_device: Callable[..., Device], server: ServerProcess) -> None:
    """SQLite needs to write to open a journal (its -shm and -wal files): a daemon cannot start on a disk that takes
    no writes. It must say so plainly (not as a crash), change nothing, and start normally once the disk takes
    writes, syncing what was saved meanwhile."""
    a = make_device("laptop")
    view = ServerView(server)
    (a.folder / "before.txt").write_bytes(b"synced before")
    a.wait_synced()
    a.stop()
    (a.folder / "while-stopped.txt").write_bytes(b"saved while Ferry could not start")

    def refuse_writes() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))

    started = subprocess.run([bin_path("ferryd")], env=a.env, capture_output=True, text=True, timeout=60,
                             preexec_fn=refuse_writes)
    assert started.returncode == 1, started.stderr[-2000:]
    last = started.stderr.strip().splitlines()[-1]
    assert last.startswith("ferryd: "), last
    assert "cannot open the journal" in last, last
    assert "unexpected" not in last, "a disk that refuses writes is said plainly, not as a crash"
    assert "while-stopped.txt" not in view.files()

    a.start()
    wait_until(lambda: view.files().get("while-stopped.txt") == b"saved while Ferry could not start", timeout=60,
               what="the save made meanwhile to reach the server at the next start")
    a.wait_synced()
    assert view.files()["before.txt"] == b"synced before"
    assert a.status()["message"] == "Up to date"


def _refusals_schedule(seed: int, steps: int) -> list[tuple[str, str, int]]:
    """(device, what, k): a reproducible story of saves, edits and refusals switched on and off on both devices."""
    rnd = random.Random(seed)
    story: list[tuple[str, str, int]] = []
    for _ in range(steps):
        who = rnd.choice("ab")
        roll = rnd.random()
        what = ("refuse" if roll < 0.15 else "allow" if roll < 0.3 else "big" if roll < 0.35 else
                "kill" if roll < 0.38 else "save")
        story.append((who, what, rnd.randrange(12)))
    return story


@pytest.mark.parametrize("seed", range(int(os.environ.get("FERRY_DISK_REFUSAL_SEEDS", "2")))
                         if os.environ.get("FERRY_SOAK") != "1" else range(20))
def test_disks_refusing_writes_on_and_off_while_both_users_save_lose_nothing(
        make_device: Callable[..., Device], server: ServerProcess, seed: int) -> None:
    """Each user saves and edits their own files, small and big, while each device's disk refuses writes now and
    then (both at once too) and takes them again, and a daemon is killed now and then: once both disks take writes,
    both devices hold every user's last save of every file, nothing else, and say "Up to date" with no error.
    FERRY_SOAK=1 runs 20 stories."""
    devices = {"a": make_device("laptop"), "b": make_device("desktop")}
    last: dict[str, bytes] = {}
    refusing: set[str] = set()
    for n, (who, what, k) in enumerate(_refusals_schedule(seed, 60)):
        d = devices[who]
        if what == "refuse" and who not in refusing:
            refusing.add(who)
            _refuse(d, True)
        elif what == "allow" and who in refusing:
            refusing.discard(who)
            _refuse(d, False)
        elif what == "kill":  # kill -9, and start again (its disk refusing again if it did)
            assert d.proc is not None
            d.proc.kill()
            d.proc.wait()
            d.start()
            if who in refusing:
                _refuse(d, True)
        elif what in ("save", "big"):
            rel = f"{who}/file-{k}.bin"
            body = f"{who} save {n}\n".encode() * (300_000 if what == "big" else 1)
            (d.folder / who).mkdir(exist_ok=True)
            (d.folder / rel).write_bytes(body)
            last[rel] = body
        time.sleep(random.Random(seed * 1000 + n).uniform(0.02, 0.3))
    for who in refusing:
        _refuse(devices[who], False)

    for d in devices.values():
        _wait_for_files(d, last)
    for d in devices.values():
        d.wait_synced(timeout=60)
        status = d.status()
        assert status["message"] == "Up to date", status
        assert status["journal_refused"] is None
        assert d.json("errors")["errors"] == []
        assert conflict_copies(d) == [], "each user saved only their own files: nothing to conflict"


def _wait_for_files(d: Device, files: dict[str, bytes]) -> None:
    wait_until(lambda: files_of(d) == files, timeout=90, what=f"{d.name} to hold every last save\n{d.log_tail()}")
