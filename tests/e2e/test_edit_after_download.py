"""An edit saved right after a download must never be lost (issue 11, point 1).

The race: device B downloads `notes.txt`; within milliseconds the user saves new content into it. If the engine
records the stat it finds after its own rename together with the downloaded content hash, the user's size and
mtime end up in the journal next to the old hash, every later stat-only scan believes the file is synced, and
B's edit never leaves B (a later edit elsewhere then replaces it without a conflict copy). This test provokes
the window 200 times with two busy loops competing for the 2 cores, half the saves in place and half the way
editors save (write a temp file, rename it over), and requires every edit to reach the other device.
"""

from __future__ import annotations

import os
from pathlib import Path

from devices import Device
from util import wait_until

FILES = 10
ROUNDS = 20  # FILES x ROUNDS = 200 download-then-edit races


def _save(path: Path, text: str, atomic: bool) -> None:
    if atomic:  # the way most editors save: a temp file renamed over the original
        tmp = path.with_name(f".{path.name}.swp")
        tmp.write_text(text)
        os.replace(tmp, path)
    else:
        path.write_text(text)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, UnicodeDecodeError):
        return None


def test_every_edit_right_after_a_download_arrives(pair: tuple[Device, Device], cpu_hogs: None) -> None:
    a, b = pair
    names = [f"notes-{i}.txt" for i in range(FILES)]
    for n in names:
        (a.folder / n).write_text("start")
    wait_until(lambda: all(_read(b.folder / n) == "start" for n in names), timeout=120,
               what="the first versions on B\n" + b.log_tail())
    for r in range(ROUNDS):
        for n in names:
            (a.folder / n).write_text(f"a{r} {n}")
        waiting = set(names)

        def edit_what_landed(r: int = r, waiting: set[str] = waiting) -> bool:
            """B's user saves each file the moment its download lands."""
            for n in list(waiting):
                if _read(b.folder / n) == f"a{r} {n}":
                    _save(b.folder / n, f"b{r} {n} edited right after the download", atomic=(r + len(n)) % 2 == 0)
                    waiting.discard(n)
            return not waiting

        wait_until(edit_what_landed, timeout=120, interval=0.001,
                   what=f"round {r}: A's edits to reach B and be edited there\n" + b.log_tail())

        def edits_reached_a(r: int = r) -> bool:
            return all(_read(a.folder / n) == f"b{r} {n} edited right after the download" for n in names)

        wait_until(edits_reached_a, timeout=120,
                   what=f"round {r}: B's edits to reach A\n" + a.log_tail() + b.log_tail())
    conflicts = [p.name for p in b.folder.iterdir() if "conflicted copy" in p.name]
    assert not conflicts, f"edits in turn are no conflict: {conflicts}"
