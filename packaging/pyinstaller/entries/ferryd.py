"""Bundle entry point for `ferryd` (the sync daemon, running in the foreground)."""

import multiprocessing
import sys

from ferrysync.daemon.main import main

multiprocessing.freeze_support()  # a frozen program must opt in before any worker process starts
sys.exit(main())
