"""Replay one schedule of the simulation with the engine's DEBUG log: `python tests/sim/replay.py SEED [--shrink]`."""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from simworld import Simulation, minimise, profile_of


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("seed", type=int)
    ap.add_argument("--shrink", action="store_true", help="turn off the injections the failure does not need")
    args = ap.parse_args()
    name, kw = profile_of(args.seed)
    skip: frozenset[int] = frozenset()
    if args.shrink:
        skip, story = minimise(args.seed, lambda: Path(tempfile.mkdtemp(prefix="ferry-sim-")), **kw)
        print(f"shrunk to {len(story)} injections")
    logging.basicConfig(level=logging.DEBUG, format="%(name)s %(message)s")
    for noisy in ("sqlalchemy", "httpx", "urllib3", "alembic", "ferrysync.server"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    sim = Simulation(args.seed, Path(tempfile.mkdtemp(prefix="ferry-sim-")), skip=skip, **kw)
    print(f"seed {args.seed} ({name}) in {sim.base}")
    try:
        sim.run()
        sim.check()
        print("all invariants hold")
        return 0
    except AssertionError as exc:
        print(f"FAILED: {exc}")
        return 1
    finally:
        print("\n".join(sim.injections))
        sim.close()


if __name__ == "__main__":
    raise SystemExit(main())
