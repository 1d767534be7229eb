"""A batch of small downloads is made durable with one flush, before any of its files takes its name.

Each small file used to be fsynced on its own before its rename: a journal commit of the file system per file, the
largest single cost of landing thousands of them. The batch now writes every temp, flushes them all at once
(`fsio.sync_files`), then renames: still no name points at bytes that are not durable, with one flush a batch.
Watched through the disk seam (`fsio`), on the real engine the simulation drives.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from pathlib import Path

import pytest
from simworld import Knobs, Simulation

from ferrysync.daemon.local import fsio


def test_a_batch_of_small_downloads_is_flushed_once_before_any_file_lands(tmp_path: Path) -> None:
    sim = Simulation(11, tmp_path, knobs=Knobs(user=0.0, other_thread=0.0, crash=0.0, network=0.0), devices=2)
    ops: list[tuple[str, tuple[str, ...]]] = []
    try:
        amy, ben = sim.devices
        names = [f"notes/n{i}.txt" for i in range(12)]
        (amy.root / "notes").mkdir()
        for n in names:
            (amy.root / n).write_text(f"small file {n}\n")
        amy.events += ["notes", *names]
        fsio.set_hook(lambda op, stage, paths: ops.append((op, paths))
                      if stage == "before" and sim._active is ben else None)
        sim.settle()
        assert sorted(str(p.relative_to(ben.root)) for p in (ben.root / "notes").iterdir()) == sorted(names)
    finally:
        fsio.set_hook(None)
        sim.close()
    temps = str(ben.root / ".ferry" / "tmp") + "/"
    flushes = [i for i, (op, paths) in enumerate(ops) if op == "fsync" and paths[0].startswith(temps)]
    assert len(flushes) == 1, "one flush for the batch, none a file"
    assert len(ops[flushes[0]][1]) == len(names)
    # A new file's temp is unnamed where the OS has them (Linux): linked at its name rather than renamed.
    landings = [i for i, (op, paths) in enumerate(ops) if op in ("rename", "link") and paths[0].startswith(temps)]
    assert len(landings) == len(names)
    assert min(landings) > flushes[0], "no file takes its name before its bytes are durable"
    assert fsio._unnamed_open == 0, "every unnamed file was named or let go of"


def test_a_failed_flush_fails_the_batch_keeps_no_temp_and_is_retried(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The file system refuses the flush (a write-back error, a full disk): no file of the batch takes its name,
    each is recorded as failed (the user sees why), no temp is left behind, and the next try lands them all."""
    sim = Simulation(12, tmp_path, knobs=Knobs(user=0.0, other_thread=0.0, crash=0.0, network=0.0), devices=2)
    try:
        amy, ben = sim.devices
        names = [f"n{i}.txt" for i in range(6)]
        for n in names:
            (amy.root / n).write_text(f"small file {n}\n")
        amy.events += names
        with sim.acting(amy):
            amy.turn()
        real = fsio.sync_files

        def full_disk(paths: Sequence[fsio.StrPath]) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(fsio, "sync_files", full_disk)
        with sim.acting(ben):
            ben.turn()
        assert not [n for n in names if (ben.root / n).exists()]
        failed = {f.path: f.message for f in ben.journal.list_failures(ben.cfg.id)}
        assert sorted(failed) == sorted(names)
        assert all("disk is full" in m for m in failed.values()), failed
        assert not [p for p in (ben.root / ".ferry" / "tmp").rglob("*") if not p.is_dir()], "no temp is left"
        monkeypatch.setattr(fsio, "sync_files", real)
        sim.settle()
        assert sorted(p.name for p in ben.root.iterdir() if p.name != ".ferry") == sorted(names)
        assert fsio._unnamed_open == 0, "the failed batch's unnamed files were let go of"
    finally:
        sim.close()
