"""Bundle entry point for `ferry` (the CLI), as the console script in pyproject.toml declares it."""

import sys

from ferrysync.daemon.cli import main

sys.exit(main())
