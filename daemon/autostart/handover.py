"""Hand a ferryd started by hand (`ferry start`, `ferry up`) over to the service manager.

systemd and launchd start the daemon as soon as autostart is enabled; if another ferryd already holds the lock,
theirs exits at once and gets restarted in a loop. So before such a start, a daemon running outside the service
manager is asked to stop (it finishes the block in flight; nothing is lost) and its lock is waited for.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from ferrysync.daemon.autostart.base import AutostartError
from ferrysync.daemon.paths import ferry_paths

STOP_TIMEOUT_S = 30.0


def stop_unmanaged_daemon(environ: Mapping[str, str], timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop the ferryd of this FERRY_HOME if one runs; True if one was stopped. Raises if it will not stop."""
    from ferrysync.daemon.ipc.client import ControlClient, IpcError
    from ferrysync.daemon.lock import is_locked, read_pid

    paths = ferry_paths(dict(environ))
    if not is_locked(paths.lock_file):
        return False
    try:
        with ControlClient(paths, timeout=5) as client:
            client.call("stop")
    except (IpcError, OSError):
        pass  # still starting up, or shutting down already: the lock below tells
    deadline = time.monotonic() + timeout
    while is_locked(paths.lock_file):
        if time.monotonic() > deadline:
            pid = read_pid(paths.lock_file)
            raise AutostartError(
                f"the running ferryd (pid {pid}) did not stop within {timeout:.0f} s; stop it with `ferry stop` "
                "and run `ferry autostart enable` again"
            )
        time.sleep(0.1)
    return True
