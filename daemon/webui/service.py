"""The settings window's server: uvicorn on 127.0.0.1 in a daemon thread, started the first time it is asked for.

Starting on demand (the first `ui_url`, from `ferry open` or the tray's Preferences…) means a daemon whose user never
opens the window listens on nothing but its control socket. The port is random (the OS picks it) and every secret is
made fresh at each launch of the daemon with `secrets`; see guard.py for what each one guards.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from ferrysync.daemon.webui.guard import Secrets

if TYPE_CHECKING:
    from ferrysync.daemon.ipc.server import ControlServer

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0


class WebUI:
    def __init__(self, control: ControlServer) -> None:
        self.control = control
        self.secrets = Secrets(prefix=secrets.token_urlsafe(16), session=secrets.token_urlsafe(32),
                               csrf=secrets.token_urlsafe(32))
        self._lock = threading.Lock()
        self._server: Any = None  # uvicorn.Server, imported lazily: the daemon starts without it
        self._thread: threading.Thread | None = None
        self._port = 0
        self.stopping = threading.Event()

    @property
    def port(self) -> int:
        return self._port

    def login_url(self) -> str:
        """A URL that opens the window once: it carries a fresh one-time ticket (two minutes to use it)."""
        self.start()
        ticket = secrets.token_urlsafe(32)
        self.secrets.add_ticket(ticket)
        return f"http://127.0.0.1:{self._port}/{self.secrets.prefix}/login?ticket={ticket}"

    def handler(self, _params: object) -> dict[str, Any]:
        """The `ui_url` control method."""
        return {"url": self.login_url()}

    def start(self) -> None:
        with self._lock:
            if self._server is not None:
                return
            import uvicorn

            from ferrysync.daemon.webui.app import build_app
            from ferrysync.daemon.webui.guard import Guard

            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))  # loopback only: nothing on the network can connect
            sock.listen(16)
            self._port = sock.getsockname()[1]
            app = Guard(build_app(self.control, self.secrets, self.stopping), self.secrets, lambda: self._port)
            config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="off",
                                    timeout_graceful_shutdown=2, server_header=False, proxy_headers=False)
            server = uvicorn.Server(config)
            thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="ferry-webui",
                                      daemon=True)
            thread.start()
            deadline = time.monotonic() + START_TIMEOUT_S
            while not server.started and thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.02)  # uvicorn offers no event for "listening"; this is its documented flag
            if not server.started:
                server.should_exit = True
                raise RuntimeError("the settings window did not start (see the log)")
            self._server, self._thread = server, thread
            log.info("settings window listening on 127.0.0.1:%d", self._port)

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        with self._lock:
            server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout)
