"""The real engine under the race-and-crash simulation (see `simworld`): thousands of seeded schedules.

`FERRY_SIM_SCHEDULES=N` sets how many schedules a run tries (default 500, about eight minutes on one core; the
whole-suite command, tests/run.sh, runs 1,000 beside the other tests at the lowest CPU priority), and an eighth as
many extended ones (`FERRY_SIM_EXTENDED_SCHEDULES`: executable bits, pauses and a full disk too); `FERRY_SOAK=1`
runs 100,000 and 12,500. A failing schedule is shrunk to the injections it needs and reported with its seed:
`python tests/sim/replay.py SEED [--tries N]` replays it with the engine's DEBUG log.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from simworld import Knobs, Simulation, extended_profile_of, minimise, profile_of, run_seed

from ferrysync.daemon.local import fsio

SOAK = os.environ.get("FERRY_SOAK") == "1"
SCHEDULES = 100_000 if SOAK else int(os.environ.get("FERRY_SIM_SCHEDULES", "500"))
CHUNKS = max(40, SCHEDULES // 10)  # about ten schedules per test: progress shows, and no chunk nears a timeout
# Each chunk mixes the kinds of schedule (simworld.PROFILES). Chunk k runs seeds k, k + CHUNKS, k + 2 * CHUNKS, ...
# FERRY_SIM_SHARD=I/N runs only the chunks k with k % N == I, so N processes can share the schedules (tests/run.sh).
SHARD, SHARDS = (int(x) for x in os.environ.get("FERRY_SIM_SHARD", "0/1").split("/"))


def _fresh_dirs(base: Path) -> Callable[[], Path]:
    counter = iter(range(10**6))
    return lambda: base / str(next(counter))


@pytest.mark.timeout(1800)  # a failing chunk shrinks its schedule, and a niced run can wait long for the CPU
@pytest.mark.parametrize("chunk", [c for c in range(CHUNKS) if c % SHARDS == SHARD])
def test_schedules_keep_every_byte_and_converge(chunk: int, tmp_path: Path) -> None:
    """Every user byte survives, all devices converge, none is idle early, no file is torn — in every schedule."""
    _run_chunk(range(chunk, SCHEDULES, CHUNKS), profile_of, tmp_path)


def _run_chunk(seeds: Iterable[int], kind: Callable[[int], tuple[str, dict[str, Any]]], tmp_path: Path) -> None:
    """Run the schedules of `seeds` (their kind from `kind`); a failing one is shrunk and reported with its story."""
    failures: list[str] = []
    for n, seed in enumerate(seeds):
        name, kw = kind(seed)
        try:
            run_seed(seed, tmp_path / f"s{n}", **kw)
        except AssertionError as exc:
            _, story = minimise(seed, _fresh_dirs(tmp_path / f"min{seed}"), **kw)
            failures.append(f"[{name}] {exc}\n  shrunk to {len(story)} injections:\n    " + "\n    ".join(story))
            if len(failures) >= 2:
                break
    assert not failures, "\n\n".join(failures)


# The extended schedules, on seeds of their own: users who also flip executable bits and pause and resume their
# device, on a disk that is full now and then (`extended_profile_of`); devices must then agree on every file's bit
# too. An eighth as many: they mostly add the interleavings of a chmod, a pause or a failed write with a transfer, a
# crash or a move.
EXTENDED_SCHEDULES = 12_500 if SOAK else int(os.environ.get("FERRY_SIM_EXTENDED_SCHEDULES", str(SCHEDULES // 8)))
EXTENDED_CHUNKS = max(5, EXTENDED_SCHEDULES // 10)
EXTENDED_SEEDS = 1_000_000  # the first extended schedule's seed: far from the plain ones, so no story is told twice


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("chunk", [c for c in range(EXTENDED_CHUNKS) if c % SHARDS == SHARD])
def test_schedules_with_pauses_and_executable_bits_keep_every_byte_and_converge(chunk: int, tmp_path: Path) -> None:
    """As above, and no device is idle while a file's executable bit differs from the server's."""
    seeds = (EXTENDED_SEEDS + k for k in range(chunk, EXTENDED_SCHEDULES, EXTENDED_CHUNKS))
    _run_chunk(seeds, extended_profile_of, tmp_path)


# Schedules that once failed (docs/sync-model.md, "What it found"): run in every shard, whatever the schedule count.
REGRESSIONS = {
    1243: "a crash between a download's swap and keeping the save it displaced",
    1147: "a file hashed while a folder was renamed onto it: the folder's unchanged row never cleared the failure",
    266: "a deleted folder waiting for its rename's other half, made again by a download into it: the disk had it, "
         "the local tree said gone, the device said idle (the engine now re-checks the folders it creates)",
    1236: "the same, a deleted file's folder made again by a download",
    1436: "the same, with a crash",
    2403: "a save displaced by a download's exchange, then its folder deleted before the save was kept (failed one "
          "run in three: inode reuse and a set's order varied its story, see simworld; "
          "tests/sim/test_displaced_save_folder_gone.py replays it exactly)",
}


@pytest.mark.parametrize("seed", sorted(REGRESSIONS))
def test_schedules_that_once_failed_hold(seed: int, tmp_path: Path) -> None:
    _, kw = profile_of(seed)
    run_seed(seed, tmp_path, **kw)  # raises with the invariant that broke


# Extended schedules (`extended_profile_of`) that once failed: run in every shard too (the name matches its -k).
EXTENDED_REGRESSIONS: dict[int, tuple[float, str]] = {  # seed: (Knobs.disk_full it was found at, what)
    3000039: (0.02, "a conflict copy's rename done, its journal record refused by a full disk: nothing queued the "
                    "copy for the indexer, so it never uploaded while the device said idle (the paths a failed action"
                    " may have changed are now looked at again)"),
    3000722: (0.05, "a download landed, its record refused by a full disk, the file then deleted on the server: the "
                    "file stayed on disk unknown (the failed action's own path is looked at too; a look that finds "
                    "nothing new leaves its failure alone until the backoff runs out)"),
    3000508: (0.05, "a save displaced by a download's exchange, then the folder's flush failed on a full disk: the "
                    "save stayed in the temp folder (nine runs in ten beside two CPU hogs; "
                    "tests/sim/test_displaced_save_flush_fails.py replays it exactly)"),
    1200102: (0.02, "an upload failed on a full disk, then its path settled by another route: nothing acted on it "
                    "again, and its failure showed for ever while every device agreed (stale failures are now "
                    "forgotten)"),
    1100442: (0.02, "a folder made by a download's MkdirLocal, its record refused by a full disk, and then the record"
                    " of that failure refused too: the folder stayed on disk unknown to the journal while the device "
                    "said idle (the paths are now held in memory by the local observer until the journal takes them)"),
    1000046: (0.02, "a download made its missing parent folder, and the journal refused to queue that folder for the "
                    "indexer (a full disk): the failure's own look covered the file only, so the folder stayed on "
                    "disk unknown while the device said idle (the folders made are now held in memory as above)"),
}


@pytest.mark.parametrize("seed", sorted(EXTENDED_REGRESSIONS))
def test_schedules_extended_that_once_failed_hold(seed: int, tmp_path: Path) -> None:
    _, kw = extended_profile_of(seed)
    run_seed(seed, tmp_path, **{**kw, "knobs": replace(kw["knobs"], disk_full=EXTENDED_REGRESSIONS[seed][0])})


def test_a_schedule_replays_from_its_seed(tmp_path: Path) -> None:
    """Same seed, same story: what makes a failure reproducible and shrinkable."""
    runs = []
    for i in range(2):
        sim = Simulation(5, tmp_path / f"r{i}", knobs=Knobs(user=0.06, other_thread=0.05, crash=0.02))
        try:
            sim.run()
        finally:
            sim.close()
        runs.append(sim.injections)
    assert runs[0] == runs[1]
    assert any("crash" in line for line in runs[0])
    assert any("user:" in line for line in runs[0])


def test_the_simulation_catches_an_overwrite_of_a_save_made_during_a_download(tmp_path: Path) -> None:
    """The simulation can fail: with the atomic swap disabled (the check-then-replace of before), a save that
    lands between the download's last check and its rename is destroyed, and some schedule must say so."""
    saved = dict(fsio._native)
    fsio._native["exchange"] = False
    try:
        for seed in range(400):
            try:
                run_seed(seed, tmp_path / f"s{seed}", knobs=Knobs(user=0.5, other_thread=0.0, crash=0.0,
                                                                    network=0.0, user_at=("rename",)))
            except AssertionError as exc:
                if "lost" not in str(exc) and "differs" not in str(exc):
                    raise
                return
    finally:
        fsio._native.update(saved)
    pytest.fail("400 schedules never caught a save overwritten by a download")
