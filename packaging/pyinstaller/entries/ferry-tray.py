"""Bundle entry point for `ferry-tray`.

FERRY_BUNDLE_SELFTEST=tray-backend makes it import pystray's backend (PYSTRAY_BACKEND, or the platform's
default), print the backend module and exit: the build's smoke test uses it to prove that the backend and its
hidden imports (GTK, AppIndicator, Xlib, AppKit, win32) made it into the bundle.
"""

import os
import sys

if os.environ.get("FERRY_BUNDLE_SELFTEST") == "tray-backend":
    import pystray

    print(pystray.Icon.__module__)
    sys.exit(0)

from ferrysync.tray.app import main

sys.exit(main())
