"""Bundle entry point for `ferry-server` (the cloud API server)."""

import sys

from ferrysync.server.cli import main

sys.exit(main())
