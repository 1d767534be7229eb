"""Bundle entry point for `ferry` (the CLI), as the console script in pyproject.toml declares it.

FERRY_BUNDLE_SELFTEST=import makes it import every module named on its standard input (one a line), print
those that fail with why, and exit 1 if any did: the build's smoke test uses it to prove that each ferrysync
module, and the server's optional back-ends, made it into the bundle with what they import.
"""

import os
import sys

if os.environ.get("FERRY_BUNDLE_SELFTEST") == "import":
    import importlib

    failed = 0
    for name in sys.stdin.read().split():
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - the self-test reports every failure, not just the first
            print(f"{name}: {exc!r}")
            failed += 1
    sys.exit(1 if failed else 0)

from ferrysync.daemon.cli import main

sys.exit(main())
