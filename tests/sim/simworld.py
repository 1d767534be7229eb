"""A deterministic race-and-crash simulation of the real sync engine (in the spirit of Dropbox's Trinity).

Several devices run the daemon's real `FolderSync` (planner, `Executor`, `LocalIndexer`, `FeedReader`, transfers,
journal) against real folders in a temp dir and the real server application in-process (`simcloud`). Nothing runs
on the engine's own threads: the simulation turns each device's loop by hand (index, pull the feed, one planning
step), so a seed fixes the schedule. A device, and the stand-ins that keep it on the schedule, is `simdevice.py`;
this module is the schedule: the injector, the users, and the checks.

At every disk step of the engine (through `ferrysync.daemon.local.fsio`) and every HTTP call, before and after it, an
injector may

* act as the user on that path (or another): write, append, truncate, delete, rename, mkdir in its place (and,
  in schedules made with `modes=True`, flip a file's executable bit);
* act as the engine's other threads: run the local indexer or pull the change feed right there, as the
  indexer and feed threads can at any moment in the real daemon (and, with `Knobs.pause`, pause or resume the
  device, as the control thread does when the user clicks the tray);
* crash the device (an exception no engine code catches), which is then restarted from its journal on disk,
  with a start-up scan, as a killed daemon would be;
* with `Knobs.disk_full`, fail a disk step that needs space with ENOSPC before it happens, as a full disk does.

Each decision is drawn from a random generator keyed by (seed, device, step, occurrence), so a schedule replays
exactly from its seed and a failing one can be shrunk by turning injections off one by one (`minimise`).
Two things a seed does not fix. The wall-clock delays the indexer and the failure backoff wait (a path queued again
two seconds on, say): a loaded machine runs a schedule slower, so more of them have passed at a given step (extended
seed 3000508 failed nine runs in ten beside two CPU hogs, none in twelve without). And the inode numbers the real
file system hands out: ext4 reuses a freed inode or skips it depending on how lately it was freed, and the engine
pairs a vanished path with a new one by inode (a move) when their contents agree too; so a schedule can plan a move
in one run and a delete plus an upload in the next, and take another path from there. Seed 2403's failure showed in
one run in three, partly from this (and partly from folders flushed in a set's order, which follows their absolute
paths' hashes: now sorted).
`replay.py --tries N` replays a seed until it fails.

What a user relies on is then checked (`check`):

* every byte a user wrote and did not themselves overwrite or delete exists at the end: at a path, in a
  conflict copy, in the folder trash, or among the server's revisions;
* all devices converge on the server's tree once quiet (with `modes`, on every file's executable bit too, and a
  bit a user sets once all is quiet, alone or with new bytes, reaches every device), and none is idle ("Up to
  date") before that;
* no file on any disk is torn: each holds a content some user wrote, whole;
* in the "selective" schedules, where one device excludes and includes a folder at random moments: no action that
  downloads or deletes on the server is ever handed to the executor for an excluded path (invariant 11), and once
  everything is included again every device holds the server's tree.
"""

from __future__ import annotations

import errno
import hashlib
import os
import random
import shutil
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import requests
from simcloud import SimCloud
from simdevice import PREFIX, Crash, Device

from ferrysync.daemon.engine.executor import BatchResult
from ferrysync.daemon.local import fsio
from ferrysync.daemon.local.ignore import MARKER_NAME as MARKER_DIR
from ferrysync.daemon.planner import Action

NAMES = ["a.txt", "b", "c.md", "d/e.txt", "d/f", "g/h/i.txt"]
EXCLUDED = "d"  # what the "selective" schedules exclude and include on one device
USER_OPS = ["write", "write", "save", "save", "append", "truncate", "delete", "rename", "mkdir"]
MODE_OPS = [*USER_OPS, "chmod", "chmod"]  # `modes=True`: the user also flips files' executable bits
# `Knobs.disk_full`: the disk steps (fsio's step names) that need space, and so fail when the disk is full
DISK_FULL_OPS = frozenset({"open", "write", "fsync", "mkdir", "link", "rename", "exchange"})


class NotConverged(AssertionError):
    pass


@dataclass
class Knobs:
    """How often the injector acts at one engine step (per step, before or after it)."""

    user: float = 0.02
    other_thread: float = 0.04
    crash: float = 0.01
    network: float = 0.01  # the connection drops (before the request, or after the server acted on it)
    max_crashes: int = 3
    pause: float = 0.0  # the user pauses or resumes the device (the tray's click, from the control thread)
    disk_full: float = 0.0  # a disk step that may need space fails with ENOSPC before it happens (DISK_FULL_OPS)
    user_at: tuple[str, ...] = ()  # if set, the user acts only at these steps (e.g. "rename": aim at one window)


@dataclass
class Ledger:
    """What users wrote: contents that must survive, and every content ever written (for torn-file checks)."""

    precious: set[bytes] = field(default_factory=set)
    written: set[bytes] = field(default_factory=lambda: {b""})

    def wrote(self, old: bytes | None, new: bytes) -> None:
        if old is not None:
            self.precious.discard(old)  # the user replaced what they had in front of them: their choice
        self.written.add(new)
        if new:
            self.precious.add(new)

    def deleted(self, old: bytes | None) -> None:
        if old is not None:
            self.precious.discard(old)


class Simulation:
    def __init__(self, seed: int, base: Path, *, knobs: Knobs | None = None, devices: int = 2,
                 steps: int = 40, skip: frozenset[int] = frozenset(), selective: bool = False,
                 modes: bool = False) -> None:
        self.seed = seed
        self.base = base
        self.knobs = knobs or Knobs()
        self.steps = steps
        self.selective = selective  # the last device excludes and includes EXCLUDED now and then
        # With `modes`, users also flip executable bits, and converging includes every file's bit: off by default, so
        # the suite's seeds (and REGRESSIONS) keep their exact schedules.
        self.modes = modes
        self.user_ops = MODE_OPS if modes else USER_OPS
        self.violations: list[str] = []  # actions an exclusion forbids, as the executor was handed them
        self.skip = skip  # injection numbers turned off (to shrink a failing schedule)
        self.injections: list[str] = []  # what the injector did, in order: the replay log
        self.rng = random.Random(seed)
        self.ledger = Ledger()
        self._clock = 1000.0
        self._counter = 0
        self._decisions = 0
        self._occurrence: dict[tuple[str, ...], int] = {}
        self._busy = False  # an injected action is running: no injection inside it
        self._active: Device | None = None
        self.cloud = SimCloud(base / "cloud")
        self.devices = [Device(self, n) for n in ("amy", "ben", "cal")[:devices]]

    def close(self) -> None:
        fsio.set_hook(None)
        for d in self.devices:
            d.journal.close()
        self.cloud.close()

    def now(self) -> float:
        return self._clock

    # -- injection --------------------------------------------------------------------------------------------

    def _decide(self, device: Device, op: str, stage: str, what: str) -> random.Random:
        """A generator for this exact point of the schedule, independent of anything else's draws."""
        key = (device.name, op, stage, what)
        n = self._occurrence.get(key, 0)
        self._occurrence[key] = n + 1
        digest = hashlib.blake2b(repr((self.seed, key, n)).encode(), digest_size=8).digest()
        return random.Random(int.from_bytes(digest, "big"))

    def _inject(self, device: Device, op: str, stage: str, what: str, rel: str | None) -> None:
        if self._busy or self._active is not device:
            return
        r = self._decide(device, op, stage, what)
        roll = r.random()
        k = self.knobs
        dropped = op == "http" and r.random() < k.network
        # drawn only in schedules with a full disk: the others keep their exact stories
        full = bool(k.disk_full) and op in DISK_FULL_OPS and stage == "before" and r.random() < k.disk_full
        if full and self._record(f"{device.name}: disk full at {op} {what}"):
            raise OSError(errno.ENOSPC, "No space left on device (simulated)", what)
        if dropped and self._record(f"{device.name}: network drops at {op} {stage} {what}"):
            raise requests.ConnectionError(f"simulated network drop {stage} {what}")
        if roll < k.crash and device.crashes < k.max_crashes:
            if self._record(f"{device.name}: crash at {op} {stage} {what}"):
                raise Crash(f"{device.name} killed at {op} {stage} {what}")
        elif roll < k.crash + k.user and (not k.user_at or op in k.user_at):
            if self._record(f"{device.name}: user acts at {op} {stage} {what}"):
                with self._nested():
                    self.user_action(device, r, rel)
        elif roll < k.crash + k.user + k.other_thread and device.journal._depth == 0:
            thread = r.choice(["index", "pull"])
            if thread in device.running:
                return  # that thread is the one at this step: it cannot also be elsewhere
            if thread == "pull" and device.folder.ctx.remote_gate.locked():
                return  # the executor is between a commit and its record: the feed thread waits for the gate
            if self._record(f"{device.name}: {thread} runs at {op} {stage} {what}"):
                with self._nested():
                    try:
                        getattr(device, thread)()
                    except Exception as exc:  # noqa: BLE001 - as the real thread: it logs any error, tries later
                        self.injections.append(f"  ({thread} failed: {exc!r})")
        elif k.pause and k.crash + k.user + k.other_thread <= roll < k.crash + k.user + k.other_thread + k.pause:
            verb = "resumes" if device.paused else "pauses"
            if self._record(f"{device.name}: user {verb} at {op} {stage} {what}"):
                device.toggle_pause()

    def journal_commit(self, device: Device) -> None:
        """A journal COMMIT is about to run on `device`: with a full disk, it may fail."""
        if not self.knobs.disk_full or self._busy or self._active is not device:
            return
        r = self._decide(device, "commit", "before", "journal")
        if r.random() < self.knobs.disk_full and self._record(f"{device.name}: disk full at a journal commit"):
            raise sqlite3.OperationalError("database or disk is full")

    def _record(self, text: str) -> bool:
        """Number an injection; False if it is turned off (shrinking)."""
        n = self._decisions
        self._decisions += 1
        if n in self.skip:
            return False
        self.injections.append(f"#{n} {text}")
        return True

    @contextmanager
    def _nested(self) -> Iterator[None]:
        self._busy = True
        try:
            yield
        finally:
            self._busy = False

    def disk_hook(self, op: str, stage: str, paths: tuple[str, ...]) -> None:
        device = self._active
        if device is None:
            return
        rel = None
        for p in paths:
            try:
                r = os.path.relpath(p, device.root)
            except ValueError:
                continue
            if not r.startswith("..") and not r.startswith(MARKER_DIR) and r != ".":
                rel = r.replace(os.sep, "/")
                break
        what = rel if rel is not None else ("tmp" if any(MARKER_DIR in p for p in paths) else "?")
        self._inject(device, op, stage, what, rel)

    def http_hook(self, device: Device) -> Callable[[str, str], None]:
        def hook(stage: str, what: str) -> None:
            if self._active is device:
                self._inject(device, "http", stage, what, None)
        return hook

    # -- the user -----------------------------------------------------------------------------------------------

    def content(self, device: Device, r: random.Random) -> bytes:
        self._counter += 1
        size = r.choice([0, 1, 7, 50, 300, 4000, 70_000])
        head = f"<{device.name}#{self._counter}>".encode()
        return head + r.randbytes(max(0, size - len(head)))

    def _stamp(self, path: Path) -> None:
        """Give a written file a modification time of its own, seconds in the past.

        Real mtimes come from the file system's coarse clock; a digest of a file written within that clock's
        tick is deliberately not trusted yet (`indexer.RACY_NS`), which would make a schedule depend on how fast
        this machine runs it. Distinct past mtimes keep every write visible and the schedule exact."""
        self._counter += 1
        t = (1_700_000_000 + self._counter) * 1_000_000_000
        os.utime(path, ns=(t, t))

    def user_action(  # noqa: C901 - one branch per kind of user edit the simulation draws
        self, device: Device, r: random.Random, rel: str | None = None,
    ) -> None:
        """One thing a user does in the folder; the watcher reports it (queued for the next index turn)."""
        path = rel if rel is not None and r.random() < 0.7 else r.choice(NAMES)
        target = device.root / path
        op = r.choice(self.user_ops)
        old = _read(target)
        touched = [path]
        try:
            if op in ("write", "save", "truncate", "append"):
                if target.is_dir():
                    return
                _parents(device.root, path)
                new = b"" if op == "truncate" else self.content(device, r)
                if op == "append":
                    new = (old or b"") + new
                if op == "save":  # an editor's atomic save: write a temp, rename over
                    tmp = target.with_name(f".~{target.name}.{self._counter}")
                    tmp.write_bytes(new)
                    self._stamp(tmp)
                    os.replace(tmp, target)
                else:
                    with open(target, "wb") as f:
                        f.write(new)
                    self._stamp(target)
                self.ledger.wrote(old, new)
            elif op == "delete":
                if target.is_dir():
                    for p in target.rglob("*"):
                        if p.is_file():
                            self.ledger.deleted(p.read_bytes())
                        touched.append(p.relative_to(device.root).as_posix())  # inotify reports each one
                    shutil.rmtree(target)
                elif target.exists():
                    self.ledger.deleted(old)
                    target.unlink()
            elif op == "rename":
                if not target.exists():
                    return
                dest = r.choice(NAMES)
                dst = device.root / dest
                if dst.exists() or dest.startswith(path + "/") or path.startswith(dest + "/"):
                    return
                _parents(device.root, dest)
                os.rename(target, dst)
                touched.append(dest)
            elif op == "chmod":
                if not target.is_file():
                    return
                target.chmod(target.stat().st_mode ^ 0o111)
            elif op == "mkdir":
                if target.exists():
                    return
                _parents(device.root, path)
                target.mkdir()
        except (NotADirectoryError, FileExistsError, IsADirectoryError, FileNotFoundError):
            return  # a path the current tree cannot take (a file where a folder is needed): no change
        self.injections.append(f"  {device.name} user: {op} {' -> '.join(touched)}")
        device.events.extend(touched + [p for p in _ancestors(path)])

    # -- running a schedule ---------------------------------------------------------------------------------------

    @contextmanager
    def acting(self, device: Device) -> Iterator[None]:
        self._active = device
        try:
            yield
        except Crash:
            self._active = None
            device.crash_and_restart()
        finally:
            self._active = None

    def run(self) -> None:
        fsio.set_hook(self.disk_hook)
        try:
            for d in self.devices:  # each user starts with a few files of their own
                for _ in range(self.rng.randint(0, 3)):
                    self.user_action(d, random.Random(self.rng.random()))
            for _ in range(self.steps):
                d = self.rng.choice(self.devices)
                if d.paused and self.rng.random() < 0.3:  # drawn only in schedules that pause: the others keep theirs
                    self._resume(d)
                if self.selective and self.rng.random() < 0.1:
                    self._toggle(self.devices[-1])
                elif self.rng.random() < 0.25:
                    self.user_action(d, random.Random(self.rng.random()))
                else:
                    with self.acting(d):
                        d.turn()
                self._clock += self.rng.choice([0.0, 0.1, 1.0])
            # Quiet: the users stop, nothing crashes, the network holds, nothing stays paused.
            self.knobs = Knobs(user=0.0, other_thread=0.0, crash=0.0, network=0.0)
            for d in (d for d in self.devices if d.paused):
                self._resume(d)
            for d in self.devices:  # everything included again: then every disk must hold the server's tree
                if d.cfg.excluded:
                    self._toggle(d)
            self.settle()
            if self.modes:
                self._probe_modes()
        finally:
            fsio.set_hook(None)

    def _probe_modes(self) -> None:
        """Once all is quiet, each user in turn flips one file's executable bit, then saves new bytes into it: every
        device must end up with that bit both times (the first travels alone, the second with a download).

        Converging alone cannot tell a bit the engine dropped: that device's indexer sends the dropped bit back up,
        and every device then agrees on it, the user's chmod lost. Whether a chmod made in a race survives has no
        one answer (a concurrent edit elsewhere may carry the other bit); one made in a quiet folder must."""
        for d in self.devices:
            files = sorted(p for p, c in d.disk().items() if c is not None)
            if not files:
                continue
            path = self.rng.choice(files)
            target = d.root / path
            target.chmod(target.stat().st_mode ^ 0o111)
            self._expect_bit(d, path, "made")
            old = target.read_bytes()
            new = self.content(d, random.Random(self.rng.random()))
            target.write_bytes(new)  # the same file, so the same mode
            self._stamp(target)
            self.ledger.wrote(old, new)
            self._expect_bit(d, path, "saved new bytes into")

    def _expect_bit(self, d: Device, path: str, what: str) -> None:
        want = bool((d.root / path).stat().st_mode & 0o100)
        d.events.append(path)
        self.injections.append(f"  {d.name} user (quiet): {what} {path}, executable {want}")
        self.settle()
        got = {o.name: (o.root / path).is_file() and bool((o.root / path).stat().st_mode & 0o100)
               for o in self.devices}
        if any(bit != want for bit in got.values()):
            raise NotConverged(f"seed {self.seed}: {d.name} {what} {path} (executable={want}) in a quiet folder, "
                               f"and the devices ended with {got}")

    def _resume(self, device: Device) -> None:
        self.injections.append(f"  {device.name} user: resumes")
        device.toggle_pause()

    def _toggle(self, device: Device) -> None:
        device.toggle_exclusion(EXCLUDED)
        verb = "excludes" if device.cfg.excluded else "includes"
        self.injections.append(f"  {device.name} user: {verb} {EXCLUDED}")

    def settle(self, max_turns: int = 200) -> None:
        """Turn every device until all are idle at once; then they must agree with the server and each other."""
        for _ in range(max_turns):
            for d in self.devices:
                with self.acting(d):
                    d.turn()
            if all(d.idle() for d in self.devices) and not any(d.failures() for d in self.devices):
                held = [d for d in self.devices if d.folder.view.held]
                if not held:
                    self.check_converged()
                    return
                for d in held:  # "N deletions wait for your approval": this user meant them
                    self.injections.append(f"  {d.name} user: approves {len(d.folder.view.held)} held deletions")
                    d.folder.approve_deletions()
            self._clock += 1.0
            for d in self.devices:  # time passes for the failure backoff too, and for the paths the indexer
                # queued for later (a retry after an error, a deferral): both count in wall-clock time
                d.journal._write("UPDATE backoff SET next_try = 0 WHERE folder_id = ?", (d.cfg.id,))
                d.journal._write("UPDATE dirty SET ready_at = 0 WHERE folder_id = ?", (d.cfg.id,))
        busy = {d.name: sorted(d.folder._pending | set(d.folder._retry)) or d.failures() for d in self.devices
                if not d.idle() or d.failures()}
        raise NotConverged(f"seed {self.seed}: not idle after {max_turns} turns: {busy}")

    # -- invariants -----------------------------------------------------------------------------------------------

    def check_converged(self) -> None:
        server = self.cloud.live_files(PREFIX)
        for d in self.devices:
            disk = d.disk()
            if disk != server:
                raise NotConverged(f"seed {self.seed}: {d.name} says idle but differs from the server: "
                                   f"{_diff(disk, server)}")
            notes = d.journal.meta_with_prefix(f"landing:{d.cfg.id}:")
            if notes:  # an idle device has indexed every path: each note was settled or dropped (write_notes.py)
                raise NotConverged(f"seed {self.seed}: {d.name} says idle with landing notes left: {notes}")
            if self.modes and d.modes() != self.cloud.live_modes(PREFIX):
                raise NotConverged(f"seed {self.seed}: {d.name} says idle but its executable bits differ from the "
                                   f"server's: {_diff(d.modes(), self.cloud.live_modes(PREFIX))}")

    def check(self) -> None:
        """Every invariant a user relies on (see the module docstring)."""
        survivors = self.cloud.every_version()
        for d in self.devices:
            survivors |= {c for c in d.disk().values() if c is not None} | d.trash_contents()
        assert not self.violations, f"seed {self.seed}: excluded paths downloaded or deleted: {self.violations}"
        lost = self.ledger.precious - survivors
        assert not lost, f"seed {self.seed}: user bytes lost: {[c[:24] for c in lost]}"
        for d in self.devices:
            torn = {p: c[:24] for p, c in d.disk().items() if c is not None and c not in self.ledger.written}
            assert not torn, f"seed {self.seed}: {d.name} holds files no user wrote (torn?): {torn}"


def _read(p: Path) -> bytes | None:
    try:
        return p.read_bytes() if p.is_file() else None
    except OSError:
        return None


def _parents(root: Path, rel: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)


def _ancestors(rel: str) -> list[str]:
    parts = rel.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, str]:
    out = {}
    for k in sorted(set(a) | set(b)):
        if a.get(k, "absent") != b.get(k, "absent"):
            out[k] = f"{_short(a.get(k, 'absent'))} != {_short(b.get(k, 'absent'))}"
    return out


def _short(v: Any) -> str:
    if isinstance(v, bytes):
        return repr(v[:16])
    return repr(v)


def write_project(sim: Simulation, device: Device, files: int = 20) -> list[str]:
    """`project/src/m0.py`… written on `device` and settled everywhere; the file names."""
    src = device.root / "project" / "src"
    src.mkdir(parents=True)
    names = [f"m{i}.py" for i in range(files)]
    for n in names:
        (src / n).write_text(f"print({n!r})\n")
    device.events += ["project", "project/src"] + [f"project/src/{n}" for n in names]
    sim.settle()
    return names


def record_actions(device: Device) -> list[Action]:
    """Every action the device's executor runs from now on, in order."""
    ran: list[Action] = []
    run = device.folder.executor.run

    def recording(actions: Iterable[Action]) -> BatchResult:
        todo = list(actions)
        ran.extend(todo)
        return run(todo)
    device.folder.executor.run = recording  # type: ignore[method-assign]
    return ran


def run_seed(seed: int, base: Path, **kw: Any) -> Simulation:
    """One schedule, checked. Raises AssertionError with the seed on any broken invariant."""
    sim = Simulation(seed, base, **kw)
    try:
        sim.run()
        sim.check()
    finally:
        sim.close()
    return sim


def minimise(seed: int, make_base: Callable[[], Path], **kw: Any) -> tuple[frozenset[int], list[str]]:
    """Turn off the failing schedule's injections one at a time, keeping it failing: the smallest story left."""
    skip: frozenset[int] = frozenset()
    sim = Simulation(seed, make_base(), **kw)
    try:
        sim.run()
    except AssertionError:
        pass
    finally:
        sim.close()
    for i in range(min(sim._decisions, 80)):
        trial = skip | {i}
        try:
            run_seed(seed, make_base(), skip=trial, **kw)
        except AssertionError:
            skip = trial  # still failing without injection i: it was not needed
    final = Simulation(seed, make_base(), skip=skip, **kw)
    try:
        final.run()
    except AssertionError:
        pass
    finally:
        final.close()
    return skip, final.injections


# The kinds of schedule the tests mix: calm (rare faults), stormy (users and crashes at many steps), three devices,
# and long ones. A seed's kind is `profile_of(seed)`, for the tests and for replay.py alike.
PROFILES: list[tuple[str, dict[str, Any]]] = [
    ("calm", {}),
    ("stormy", {"knobs": Knobs(user=0.06, other_thread=0.06, crash=0.02, network=0.03, max_crashes=4)}),
    ("three devices", {"devices": 3, "knobs": Knobs(user=0.03, other_thread=0.05, crash=0.01)}),
    ("long", {"steps": 90}),
    ("selective", {"knobs": Knobs(user=0.04, other_thread=0.05, crash=0.02), "selective": True}),
]


def profile_of(seed: int) -> tuple[str, dict[str, Any]]:
    return PROFILES[seed % len(PROFILES)]


def extended_profile_of(seed: int) -> tuple[str, dict[str, Any]]:
    """The extended schedules' kind (their own seeds): a plain kind whose users also flip executable bits (`modes`)
    and pause and resume their device now and then, as the tray's click does from the control thread, and whose
    disk is full now and then (a step that needs space fails with ENOSPC: the engine must delay what failed, never
    forget it, and lose nothing)."""
    name, kw = profile_of(seed)
    knobs = replace(kw.get("knobs") or Knobs(), pause=0.03, disk_full=0.02)
    return f"{name}, modes, pauses, full disk", {**kw, "knobs": knobs, "modes": True}
