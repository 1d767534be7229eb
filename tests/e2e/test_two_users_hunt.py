"""A hunt with real processes: two users edit, rename and delete the same few files and folders while their daemons
are killed (-9) and the server is killed and restarted, beside two busy loops on this 2-core machine.

The simulation (tests/sim) hunts the same races in one process with every step under its control. This hunt meets
what the simulation stands in for: real file events, real HTTP, a real server dying mid-request and coming back, a
daemon killed at any instant and restarted from its journal, and the scheduling of a loaded machine.

The oracle is what a user relies on, judged from outside the daemons:

* every byte a user wrote is somewhere once all is quiet: at a path on the devices, in a conflicted copy, in a
  folder's trash, or among the server's revisions. Unless that user saw it and replaced or deleted it: each user
  acts on what their disk shows at that moment (read first, then overwrite, delete or rename over it), and the
  content read is theirs to drop. A content another device had already sent may be overwritten by a user who read
  the file a moment before it landed: it is still among the server's revisions, which is where that check looks;
* both devices and the server hold the same tree, both say "Up to date", and neither reports an error;
* no file is torn: each holds, whole, a content some user wrote.

One save in ten is of a 20 MiB file, whose blocks go up while the indexer reads it (transfer/early.py).

`FERRY_HUNT_SEEDS` sets how many stories run (default 2); FERRY_SOAK=1 runs 20.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from devices import Device, tree
from losslib import ServerView, wait_for
from util import ServerProcess, wait_until

DIRS = ("", "docs", "photos")
NAMES = ("a.txt", "b.txt", "c.txt", "d.txt")
STEPS = 70
BIG = 20 * 1024 * 1024


class Users:
    """What the two users wrote, and which of those contents each one saw and dropped."""

    def __init__(self) -> None:
        self.written: set[bytes] = set()
        self.dropped: set[bytes] = set()  # read by a user who then overwrote, deleted or renamed over it
        self.story: list[str] = []

    def owed(self) -> set[bytes]:
        return self.written - self.dropped

    def _read(self, path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def _drop_tree(self, path: Path) -> None:
        """The user looked at everything under `path` before removing it."""
        if path.is_dir():
            for sub in path.rglob("*"):
                if (data := self._read(sub)) is not None:
                    self.dropped.add(data)
        elif (data := self._read(path)) is not None:
            self.dropped.add(data)

    def save(self, d: Device, rel: str, n: int, atomic: bool, big: bool = False) -> bool:
        path = d.folder / rel
        body = f"{d.name} step {n} saved {rel}\n".encode() * (1 + n % 7)
        if big:  # big enough that its blocks go up while it is hashed (transfer/early.py)
            body += random.Random(n).randbytes(BIG + n * 4096)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._drop_tree(path)  # what the user had open: theirs to replace
            if path.is_dir():
                shutil.rmtree(path)
            if atomic:  # the way editors save: a temp beside it, renamed over
                tmp = path.with_name(f".{path.name}.swp")
                tmp.write_bytes(body)
                os.replace(tmp, path)
            else:
                path.write_bytes(body)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return False  # its folder went away under the user's hands (the other device's delete landed)
        self.written.add(body)
        self.story.append(f"{n} {d.name} saves {rel}{' (atomic)' if atomic else ''}{' (big)' if big else ''}")
        return True

    def reply(self, d: Device, n: int, atomic: bool) -> None:
        """The user waits for a file to change on their disk (the other user's edit landing), and saves into it
        the moment it does: the race between a download and an edit right after it."""
        paths = [f"{f}/{name}" if f else name for f in DIRS for name in NAMES]
        before = {p: self._read(d.folder / p) for p in paths}

        def landed() -> str | None:
            return next((p for p in paths if (now := self._read(d.folder / p)) is not None and now != before[p]),
                        None)

        try:
            path = wait_until(landed, timeout=1.5, interval=0.002, what="a file to change")
        except AssertionError:
            return  # nothing landed meanwhile: the user did nothing
        if self.save(d, path, n, atomic):
            self.story[-1] += " right after it changed"

    def delete(self, d: Device, rel: str, n: int) -> None:
        path = d.folder / rel
        self._drop_tree(path)
        try:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            return
        except OSError:
            return  # a folder half removed while the daemon landed a file in it: what is left stays
        self.story.append(f"{n} {d.name} deletes {rel}")

    def rename(self, d: Device, src: str, dst: str, n: int) -> None:
        s, t = d.folder / src, d.folder / dst
        if src == dst or not s.exists() or (t.exists() and t.is_dir() != s.is_dir()):
            return
        self._drop_tree(t)  # renamed over: the user replaced what was there
        try:
            t.parent.mkdir(parents=True, exist_ok=True)
            if t.is_dir():
                shutil.rmtree(t)
            os.replace(s, t)
        except OSError:
            return
        self.story.append(f"{n} {d.name} renames {src} -> {dst}")


def _a_path(rnd: random.Random) -> str:
    folder = rnd.choice(DIRS)
    return f"{folder}/{rnd.choice(NAMES)}" if folder else rnd.choice(NAMES)


def _restart(d: Device) -> None:
    d.kill()
    d.start()


def _contents_under(root: Path) -> set[bytes]:
    out: set[bytes] = set()
    if root.is_dir():
        for p in root.rglob("*"):
            if p.is_file() and not p.is_symlink():
                out.add(p.read_bytes())
    return out


def _approve_held(devices: list[Device]) -> None:
    """Deletions held back for approval are approved: these users meant them. A device may hold one after both
    said "Up to date": the other's last deletions reach it only then, and with the few files of this folder they
    are more than half of it (the deletion threshold: test_control_cli, test_planner_batch)."""
    for d in devices:
        if d.json("deletions", "list")["pending"]:
            d.ferry("deletions", "approve")


def _quiet(devices: list[Device]) -> None:
    """Once nobody acts: held deletions approved, every device must say "Up to date" with no error."""
    def done() -> bool:
        _approve_held(devices)
        return all(d.status()["message"] == "Up to date" for d in devices)

    wait_for(done, "both devices to say Up to date", *devices, timeout=120)


def _server_contents(view: ServerView) -> set[bytes]:
    """Every content any revision of any path the server ever had under the folder holds."""
    paths: set[str] = set()
    cursor = 0
    while True:
        page = view._get("/v1/changes", cursor=cursor, limit=1000)
        paths.update(rel for e in page["entries"] if (rel := view._rel(e["path"])))
        cursor = page["cursor"]
        if not page["has_more"]:
            break
    return {view.block_bytes(r["blocks"]) for rel in paths for r in view.revisions(rel)
            if not r["deleted"] and r["kind"] == "file"}


@pytest.mark.parametrize("seed", range(int(os.environ.get("FERRY_HUNT_SEEDS", "2")))
                         if os.environ.get("FERRY_SOAK") != "1" else range(20))
def test_two_users_racing_with_kills_and_server_restarts_lose_nothing_and_converge(
        make_device: Callable[..., Device], server: ServerProcess, cpu_hogs: None, seed: int) -> None:
    devices = [make_device("laptop"), make_device("desktop")]
    for d in devices:
        d.ferry("settings", "set", "trash", "folder")  # a local deletion goes where the test can look
    users = Users()
    rnd = random.Random(seed)
    for n in range(STEPS):
        d = rnd.choice(devices)
        roll = rnd.random()
        if roll < 0.4:
            users.save(d, _a_path(rnd), n, atomic=rnd.random() < 0.5, big=rnd.random() < 0.1)
        elif roll < 0.48:
            users.reply(d, n, atomic=rnd.random() < 0.5)
        elif roll < 0.6:
            users.delete(d, _a_path(rnd) if rnd.random() < 0.7 else rnd.choice(DIRS[1:]), n)
        elif roll < 0.75:
            if rnd.random() < 0.7:
                users.rename(d, _a_path(rnd), _a_path(rnd), n)
            else:
                src, dst = rnd.sample(DIRS[1:], 2)
                users.rename(d, src, dst, n)
        elif roll < 0.83:
            users.story.append(f"{n} {d.name} killed (-9) and started again")
            _restart(d)
        elif roll < 0.88:
            users.story.append(f"{n} the server killed (-9) and started again")
            server.kill()
            time.sleep(rnd.uniform(0.0, 1.0))
            server.start()
        time.sleep(rnd.uniform(0.01, 0.4))

    story = "\n".join(users.story)
    _quiet(devices)
    view = ServerView(server)

    def same_trees() -> bool:
        _approve_held(devices)
        return (all(tree(d.folder) == tree(devices[0].folder) for d in devices)
                and {p: c for p, c in tree(devices[0].folder).items() if c is not None} == view.files())

    wait_for(same_trees, f"both devices and the server to hold the same tree; the story:\n{story}", *devices,
             timeout=60)

    on_disk = _contents_under(devices[0].folder) - _contents_under(devices[0].folder / ".ferry")
    in_trash = set().union(*(_contents_under(d.folder / ".ferry" / "trash") for d in devices))
    torn = on_disk - users.written
    assert not torn, f"files hold bytes no user wrote: {[c[:80] for c in sorted(torn)[:3]]}\n{story}"
    missing = users.owed() - on_disk - in_trash
    if missing:
        missing -= _server_contents(view)
    logs = "\n".join(d.log_tail() for d in devices)
    assert not missing, f"saves lost: {[c[:80] for c in sorted(missing)[:3]]}\n{story}\n{logs}"
    for d in devices:
        errors: list[Any] = d.json("errors")["errors"]
        assert errors == [], (d.name, errors)
