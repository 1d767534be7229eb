"""What the tests of writes whose record was lost share (test_commit_answer_lost.py, test_download_record_lost.py).

A user's save with a chosen mtime (so a save is never mistaken for the one before it), the files a user sees, and a
rename turned until it is planned as one move (its halves wait a moment for each other: invariant 9).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from simdevice import Device
from simworld import Simulation

T = 1_700_000_000_000_000_000  # a save's mtime: T + n seconds


def save(d: Device, rel: str, body: bytes, when: int) -> None:
    p = d.root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(body)
    os.utime(p, ns=(when, when))
    d.events.append(rel)


def files(d: Device) -> dict[str, bytes]:
    """The user's files on `d` (not the engine's `.ferry` folder)."""
    return {p.relative_to(d.root).as_posix(): p.read_bytes() for p in d.root.rglob("*")
            if p.is_file() and ".ferry" not in p.relative_to(d.root).parts}


def rename(sim: Simulation, d: Device, src: str, dst: str, done: Callable[[], bool] = lambda: False) -> None:
    """`d`'s user renames `src` to `dst`; `d` turns until `done`, at most five turns a second apart (the move is
    committed by then)."""
    (d.root / src).rename(d.root / dst)
    d.events += [src, dst]
    for _ in range(5):
        with sim.acting(d):
            d.turn()
        if done():
            return
        sim._clock += 1.0
