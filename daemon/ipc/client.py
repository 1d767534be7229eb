"""Client of the daemon's control channel, used by the `ferry` CLI and the tray (see docs/ipc.md).

Kept light on purpose (standard library only): the tray and `ferry status` import it and must start fast.

    with ControlClient() as c:
        print(c.call("status")["message"])
        for event in c.subscribe(["status"]):   # blocks; ends when the daemon goes away
            ...
"""

from __future__ import annotations

import contextlib
import itertools
import select
import socket
import threading
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any

from ferrysync.daemon.ipc.protocol import (
    IpcError,
    encode_request,
    parse_message,
    response_result,
)
from ferrysync.daemon.ipc.transport import TCP, LineReader, LineTooLong, default_transport, read_secret_file
from ferrysync.daemon.paths import FerryPaths, ferry_paths

__all__ = ["ControlClient", "DaemonNotRunning", "IpcError", "IpcTimeout", "Subscription"]

MAX_RESPONSE = 64 * 1024 * 1024  # responses (activity lists…) may be larger than requests


class DaemonNotRunning(IpcError):
    """No daemon answers on this FERRY_HOME's socket (absent, refused, or it went away mid-call)."""

    def __init__(self, message: str) -> None:
        super().__init__("not_running", message)


class IpcTimeout(IpcError):
    """The daemon did not answer within the client's timeout."""

    def __init__(self, message: str) -> None:
        super().__init__("timeout", message)


def _connect(paths: FerryPaths, transport: str, timeout: float | None) -> tuple[socket.socket, LineReader]:
    """A connected socket (after `hello` on TCP); raises DaemonNotRunning / IpcError."""
    if transport == TCP:
        try:
            port, secret = read_secret_file(paths.ipc_secret_file)
        except FileNotFoundError:
            raise DaemonNotRunning(f"the Ferry daemon is not running (no {paths.ipc_secret_file})") from None
        except (OSError, ValueError, KeyError) as exc:
            raise IpcError("unauthorized", f"cannot read {paths.ipc_secret_file}: {exc}") from None
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        address: str | tuple[str, int] = ("127.0.0.1", port)
    else:
        secret = None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        address = str(paths.socket_path)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        raise DaemonNotRunning("the Ferry daemon is not running (start it with `ferry start`)") from None
    except PermissionError:
        sock.close()
        raise IpcError(
            "unauthorized", f"permission denied on {address}: the daemon belongs to another user"
        ) from None
    except TimeoutError:
        sock.close()
        raise IpcTimeout(f"timed out connecting to the daemon at {address}") from None
    except OSError as exc:
        sock.close()
        raise DaemonNotRunning(f"cannot reach the Ferry daemon at {address}: {exc.strerror or exc}") from None
    reader = LineReader(sock, MAX_RESPONSE)
    if secret is not None:
        try:
            sock.sendall(encode_request(0, "hello", {"secret": secret, "client": "ferry-client"}))
            _read_response(reader, 0)
        except BaseException:
            sock.close()
            raise
    return sock, reader


def _hung_up(sock: socket.socket) -> bool:
    """Whether a connection between calls has something to read: that is the daemon's end of stream (it closes
    idle connections), since it never speaks unasked outside a subscription."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _read_message(reader: LineReader) -> dict[str, Any] | None:
    try:
        line = reader.read_line()
    except TimeoutError:
        raise IpcTimeout("the daemon did not answer in time") from None
    except LineTooLong:
        raise IpcError("bad_response", "the daemon sent an oversized line") from None
    except OSError as exc:
        raise DaemonNotRunning(f"lost the connection to the daemon: {exc.strerror or exc}") from None
    return None if line is None else parse_message(line)


def _read_response(reader: LineReader, rid: int) -> dict[str, Any]:
    while True:
        obj = _read_message(reader)
        if obj is None:
            raise DaemonNotRunning("the daemon closed the connection")
        if obj.get("id") == rid or (obj.get("id") is None and obj.get("ok") is False):
            return response_result(obj)
        # anything else (a stale answer to a timed-out request) is skipped


class Subscription(Iterator[dict[str, Any]]):
    """One `subscribe` connection: iterate it or poll next_event(timeout); close() from any thread."""

    def __init__(self, sock: socket.socket, reader: LineReader) -> None:
        self._sock = sock
        self._reader = reader
        self._closed = False

    def next_event(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next {"v", "event", "data"} object; None if `timeout` passes; DaemonNotRunning at the end."""
        try:
            if self._closed:
                raise OSError("closed")
            self._sock.settimeout(timeout)
        except OSError:  # closed, possibly by another thread just now
            raise DaemonNotRunning("subscription closed") from None
        while True:
            try:
                obj = _read_message(self._reader)
            except IpcTimeout:
                return None
            except DaemonNotRunning:
                self.close()
                raise
            if obj is None:
                self.close()
                raise DaemonNotRunning("the daemon closed the connection")
            if isinstance(obj.get("event"), str):
                return obj

    def __iter__(self) -> Subscription:
        return self

    def __next__(self) -> dict[str, Any]:
        """The next event, blocking; StopIteration once the daemon is gone or the subscription closed."""
        while True:
            try:
                event = self.next_event(None)
            except DaemonNotRunning:
                raise StopIteration from None
            if event is not None:
                return event

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv
        self._sock.close()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ControlClient:
    """Request/response calls over one lazily opened connection, serialised by a lock (threads may share it).

    A connection found dead before the request went out (daemon restarted) is reopened once, transparently.
    """

    def __init__(
        self, paths: FerryPaths | None = None, timeout: float | None = 10.0, transport: str | None = None
    ) -> None:
        self.paths = paths or ferry_paths()
        self.timeout = timeout
        self.transport = transport or default_transport()
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._reader: LineReader | None = None
        self._ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """One request's result; raises IpcError (DaemonNotRunning, IpcTimeout, or the daemon's own error)."""
        with self._lock:
            rid = next(self._ids)
            line = encode_request(rid, method, params)
            for attempt in (0, 1):
                if self._sock is not None and _hung_up(self._sock):
                    self._drop()  # closed by the daemon while idle (docs/ipc.md): reopen before sending
                fresh = self._sock is None
                sock, reader = self._ensure()
                try:
                    sock.sendall(line)
                except (BrokenPipeError, ConnectionResetError) as exc:
                    self._drop()
                    if fresh or attempt:
                        raise DaemonNotRunning(f"lost the connection to the daemon: {exc}") from None
                    continue  # the old connection was stale; the request never left
                except TimeoutError:
                    self._drop()
                    raise IpcTimeout("the daemon did not accept the request in time") from None
                try:
                    return _read_response(reader, rid)
                except (DaemonNotRunning, IpcTimeout):
                    self._drop()  # the stream is out of step or gone
                    raise
                except IpcError as exc:
                    if exc.code in ("too_large", "unauthorized", "bad_response"):
                        self._drop()  # the daemon closes after these
                    raise
            raise AssertionError("unreachable")

    def subscribe(self, events: Sequence[str] | None = None) -> Subscription:
        """A new connection streaming events (all kinds when `events` is None); current status first."""
        sock, reader = _connect(self.paths, self.transport, self.timeout)
        params: dict[str, Any] = {} if events is None else {"events": list(events)}
        try:
            sock.sendall(encode_request(1, "subscribe", params))
            _read_response(reader, 1)
        except BaseException:
            sock.close()
            raise
        return Subscription(sock, reader)

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _ensure(self) -> tuple[socket.socket, LineReader]:
        if self._sock is None or self._reader is None:
            self._sock, self._reader = _connect(self.paths, self.transport, self.timeout)
        return self._sock, self._reader

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._reader = None

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
