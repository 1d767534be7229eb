"""systemd's notify protocol for ferryd under a `Type=notify` unit: READY=1 once serving, WATCHDOG=1 while
healthy, STOPPING=1 on shutdown, STATUS=... for `systemctl --user status ferryd`.

Plain datagrams to $NOTIFY_SOCKET (a path, or `@name` for the abstract namespace), as sd_notify(3) sends them,
so no libsystemd binding is needed. Every call is a no-op returning False outside systemd (macOS, Windows, a
terminal), and a failure to send is logged, never raised: notification must not take the daemon down.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


def _address(env: Mapping[str, str]) -> str | bytes | None:
    target = env.get("NOTIFY_SOCKET", "")
    if target.startswith("@"):
        return b"\0" + target[1:].encode()  # abstract namespace
    if target.startswith("/"):
        return target
    if target:
        log.debug("ignoring NOTIFY_SOCKET %r: only unix sockets are supported", target)
    return None


def notify(*fields: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send `KEY=value` fields in one datagram; True if systemd got it, False when not under systemd."""
    for field in fields:  # checked even outside systemd, so a bad call shows up in every test run
        key, sep, _ = field.partition("=")
        if not sep or not key or "\n" in field:
            raise ValueError(f"not a one-line KEY=value notify field: {field!r}")
    env = os.environ if environ is None else environ
    address = _address(env)
    if address is None or not hasattr(socket, "AF_UNIX"):
        return False
    message = "\n".join(fields).encode("utf-8")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message)
    except OSError as exc:
        log.warning("could not notify systemd at %s: %s", env.get("NOTIFY_SOCKET"), exc)
        return False
    return True


def ready(status: str | None = None, *, environ: Mapping[str, str] | None = None) -> bool:
    """The daemon is serving: systemd ends `systemctl start`'s wait and starts the watchdog clock."""
    fields = ["READY=1"]
    if status:
        fields.append(f"STATUS={_one_line(status)}")
    return notify(*fields, environ=environ)


def stopping(status: str | None = None, *, environ: Mapping[str, str] | None = None) -> bool:
    """Shutdown has begun; systemd stops expecting watchdog pings."""
    fields = ["STOPPING=1"]
    if status:
        fields.append(f"STATUS={_one_line(status)}")
    return notify(*fields, environ=environ)


def watchdog(*, environ: Mapping[str, str] | None = None) -> bool:
    """A keep-alive: send it from the daemon's main loop only when that loop is healthy."""
    return notify("WATCHDOG=1", environ=environ)


def status(text: str, *, environ: Mapping[str, str] | None = None) -> bool:
    """Free-form status shown by `systemctl --user status ferryd`."""
    return notify(f"STATUS={_one_line(text)}", environ=environ)


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WatchdogSec, as sd_watchdog_enabled(3) advises), or None when
    no watchdog is armed for this process (unset, malformed, or meant for another PID)."""
    env = os.environ if environ is None else environ
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            return None
    return usec / 2_000_000


def _one_line(text: str) -> str:
    return " ".join(text.split())
