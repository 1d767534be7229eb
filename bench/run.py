"""Ferry benchmarks: `python bench/run.py NAME` prints JSON figures, each beside its limit or a peer.

Benchmarks are measurements, not tests: nothing here asserts a speed.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

SUITES = {"server": "server_bench", "scan": "scan_bench", "sync": "sync_bench", "cloud": "cloud_bench",
          "blockstore": "blockstore_bench"}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in SUITES:
        print(f"usage: python bench/run.py {{{'|'.join(SUITES)}}} [the suite's own options]", file=sys.stderr)
        return 2
    sys.path.insert(0, str(Path(__file__).parent))
    module = importlib.import_module(SUITES[argv[0]])
    if inspect.signature(module.main).parameters:  # a suite with options (sync: --only, --quick, ...) gets them
        result: int = module.main(argv[1:])
        return result
    if argv[1:]:
        print(f"python bench/run.py {argv[0]} takes no options", file=sys.stderr)
        return 2
    result = module.main()
    return result


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
