"""Replay one schedule of the simulation with the engine's DEBUG log:
`python tests/sim/replay.py SEED [--shrink] [--tries N] [--extended]` (`--extended` for a schedule of
test_schedules_with_pauses_and_executable_bits_keep_every_byte_and_converge: `simworld.extended_profile_of`)."""

from __future__ import annotations

import argparse
import io
import logging
import tempfile
from pathlib import Path
from typing import Any

from simworld import Simulation, extended_profile_of, minimise, profile_of


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("seed", type=int)
    ap.add_argument("--shrink", action="store_true", help="turn off the injections the failure does not need")
    ap.add_argument("--tries", type=int, default=1, metavar="N",
                    help="replay up to N times, until it fails (the file system's inode numbers can vary a "
                         "schedule: see simworld); the log of the failing run, or of the last, is printed")
    ap.add_argument("--extended", action="store_true",
                    help="an extended schedule: users also flip executable bits and pause and resume")
    args = ap.parse_args()
    name, kw = (extended_profile_of if args.extended else profile_of)(args.seed)
    skip: frozenset[int] = frozenset()
    if args.shrink:
        skip, story = minimise(args.seed, lambda: Path(tempfile.mkdtemp(prefix="ferry-sim-")), **kw)
        print(f"shrunk to {len(story)} injections")
    for noisy in ("sqlalchemy", "httpx", "urllib3", "alembic", "ferrysync.server"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    tries = max(1, args.tries)
    for n in range(1, tries + 1):
        failed, log = _replay(args.seed, skip, kw)
        if failed or n == tries:
            print(f"seed {args.seed} ({name}), run {n} of at most {tries}")
            print(log)
            return 1 if failed else 0
    return 0  # pragma: no cover - the loop always returns


def _replay(seed: int, skip: frozenset[int], kw: dict[str, Any]) -> tuple[bool, str]:
    """One run of the schedule: whether an invariant broke, and its DEBUG log, outcome and injections."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    sim = Simulation(seed, Path(tempfile.mkdtemp(prefix="ferry-sim-")), skip=skip, **kw)
    out.write(f"in {sim.base}\n")
    failed = False
    try:
        sim.run()
        sim.check()
        out.write("all invariants hold\n")
    except AssertionError as exc:
        failed = True
        out.write(f"FAILED: {exc}\n")
    finally:
        out.write("\n".join(sim.injections) + "\n")
        sim.close()
        root.removeHandler(handler)
    return failed, out.getvalue()


if __name__ == "__main__":
    raise SystemExit(main())
