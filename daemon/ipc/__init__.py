"""The daemon's local control channel (JSON lines over a per-user socket); see docs/ipc.md.

Importing this package stays light: the tray and the CLI use only `ferrysync.daemon.ipc.client`.
"""

from ferrysync.daemon.ipc.client import ControlClient, DaemonNotRunning, IpcTimeout, Subscription
from ferrysync.daemon.ipc.protocol import IpcError

__all__ = ["ControlClient", "DaemonNotRunning", "IpcError", "IpcTimeout", "Subscription"]
