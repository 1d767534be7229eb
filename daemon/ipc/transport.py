"""What the server and the client agree on below the JSON: which transport, where, and line framing.

POSIX uses a Unix socket; Windows uses loopback TCP plus a secret kept in a user-only file. The TCP mode can
be forced anywhere (FERRY_IPC_TRANSPORT=tcp) so it is tested on every platform, not only where it is default.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

UNIX = "unix"
TCP = "tcp"
TRANSPORT_ENV = "FERRY_IPC_TRANSPORT"


def default_transport() -> str:
    forced = os.environ.get(TRANSPORT_ENV, "").strip().lower()
    if forced in (UNIX, TCP):
        return forced
    return TCP if sys.platform == "win32" or not hasattr(socket, "AF_UNIX") else UNIX


def read_secret_file(path: Path) -> tuple[int, str]:
    """(port, secret) from the file the daemon wrote; raises OSError/ValueError when missing or malformed."""
    obj = json.loads(path.read_text(encoding="utf-8"))
    port, secret = obj["port"], obj["secret"]
    if (
        not isinstance(port, int)
        or isinstance(port, bool)
        or not 0 < port < 65536
        or not isinstance(secret, str)
    ):
        raise ValueError(f"malformed IPC secret file {path}")
    return port, secret


def write_secret_file(path: Path, port: int, secret: str) -> None:
    """Create the file user-only from the first byte (O_EXCL after removing any old one), then fill it."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"port": port, "secret": secret}, f)


class LineTooLong(Exception):
    pass


class LineReader:
    """Splits a stream socket into lines; partial data survives a timeout, so a timed-out read loses none."""

    def __init__(self, sock: socket.socket, max_line: int) -> None:
        self._sock = sock
        self._max = max_line
        self._buf = bytearray()
        self._scanned = 0  # bytes of _buf already known to hold no newline

    def read_line(self) -> bytes | None:
        """The next line without its newline; None at end of stream. Raises LineTooLong or OSError."""
        while True:
            nl = self._buf.find(b"\n", self._scanned)
            if nl >= 0:
                line = bytes(self._buf[:nl])
                del self._buf[: nl + 1]
                self._scanned = 0
                if len(line) > self._max:
                    raise LineTooLong
                return line
            self._scanned = len(self._buf)
            if len(self._buf) > self._max:
                raise LineTooLong
            chunk = self._sock.recv(65536)
            if not chunk:
                return None
            self._buf += chunk
