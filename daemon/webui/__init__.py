"""The local settings window: a small web app the daemon serves on 127.0.0.1 for this user only (docs/user-guide.md).

A thin client of the control channel's handlers (it calls them in-process through `ControlServer.call_local`,
with the same parameter checks as the socket) and of its status fan-out (server-sent events). It knows nothing of
the engine, the journal or the disk: tests/test_import_rules.py holds it to that.
"""

from ferrysync.daemon.webui.service import WebUI

__all__ = ["WebUI"]
