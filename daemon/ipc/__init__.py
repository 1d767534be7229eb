"""The daemon's local control channel (JSON lines over a per-user socket); see docs/ipc.md.

Importing this package stays light: it is all the tray may import of the daemon (tests/test_import_rules.py).
It also says where a user's Ferry files live (`ferry_paths`), since a client must find the socket, the log and
its own lock beside them.
"""

from ferrysync.daemon.ipc.client import ControlClient, DaemonNotRunning, IpcTimeout, Subscription
from ferrysync.daemon.ipc.protocol import IpcError
from ferrysync.daemon.paths import FerryPaths, ferry_paths

__all__ = ["ControlClient", "DaemonNotRunning", "FerryPaths", "IpcError", "IpcTimeout", "Subscription", "ferry_paths"]
