"""The daemon's side of the control channel: a bounded, thread-per-connection JSON-lines server.

Handlers run on the connection's thread, so a slow handler delays only its own client. Nothing a client sends
can crash the server: bad input gets an error line, a handler exception becomes a `failed` answer, and a
subscriber that stops reading is dropped instead of making `publish` wait. See docs/ipc.md for the protocol.

Connections cannot lock the CLI out: one that is idle (no request in flight, not subscribed) for `idle_timeout`
is closed; at the cap (all connections, or one process's) the longest-idle connection makes room for the new
one; and one process may hold at most `max_per_peer` of the `max_connections`, subscriptions included.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import secrets
import selectors
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ferrysync.daemon import __version__, threads
from ferrysync.daemon.ipc.fanout import STATUS, Outbox
from ferrysync.daemon.ipc.listen import (
    DaemonAlreadyRunning,
    listen_tcp,
    listen_unix,
    prepare_runtime_dir,
    remove_socket_if_ours,
)
from ferrysync.daemon.ipc.peercred import peer_pid, peer_uid
from ferrysync.daemon.ipc.protocol import (
    ERROR_CODES,
    MAX_LINE,
    PROTOCOL_VERSION,
    IpcError,
    RejectedRequest,
    Request,
    RequestId,
    encode_error,
    encode_event,
    encode_result,
    parse_request,
    validate_params,
)
from ferrysync.daemon.ipc.transport import (
    TCP,
    UNIX,
    LineReader,
    LineTooLong,
    default_transport,
)
from ferrysync.daemon.paths import FerryPaths

__all__ = ["ControlServer", "DaemonAlreadyRunning", "Handler", "StatusSource"]

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Mapping[str, Any]]
StatusSource = Callable[[], Mapping[str, Any]]

IDLE_TIMEOUT_S = 60.0
MAX_CONNECTIONS = 32
MAX_PER_PEER = 8


@dataclass
class _Conn:
    """What the accept loop knows of a connection, to pick one that may be closed to make room."""

    pid: int | None
    idle_since: float | None  # None while a request is being answered
    subscribed: bool = False

    def evictable(self) -> bool:
        return not self.subscribed and self.idle_since is not None


class ControlServer:
    """Serve `handlers` (method name -> fn(params) -> result) plus the built-ins hello, status and subscribe.

    `status_source()` gives the current status object; a "status" handler, if given, overrides it for calls.
    """

    def __init__(
        self,
        paths: FerryPaths,
        handlers: Mapping[str, Handler],
        status_source: StatusSource,
        *,
        transport: str | None = None,
        max_connections: int = MAX_CONNECTIONS,
        max_per_peer: int = MAX_PER_PEER,
        idle_timeout: float = IDLE_TIMEOUT_S,
        max_queued_events: int = 256,
        status_interval: float = 0.1,
        send_timeout: float = 5.0,
        daemon_version: str = __version__,
    ) -> None:
        self.paths = paths
        self.handlers = dict(handlers)
        self.status_source = status_source
        self.transport = transport or default_transport()
        self.max_connections = max_connections
        self.max_per_peer = max_per_peer
        self.idle_timeout = idle_timeout
        self.max_queued_events = max_queued_events
        self.status_interval = status_interval
        self.send_timeout = send_timeout
        self.daemon_version = daemon_version
        # Whether the daemon is shutting down (it still answers meanwhile): `hello` says so, so that `ferry start`
        # waits for it to exit instead of taking it for a running daemon that is about to vanish.
        self.stopping: Callable[[], bool] = lambda: False
        # Likewise while it starts (the channel answers before the engine runs, so `ferry status` works during a
        # long start-up): `ferry start` waits for the start to succeed, or for the process to exit and say why.
        self.starting: Callable[[], bool] = lambda: False
        self._secret = secrets.token_urlsafe(32)
        self._listener: socket.socket | None = None
        self._socket_inode: int | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._lock = threading.Lock()
        self._conns: dict[socket.socket, _Conn] = {}
        self._outboxes: set[Outbox] = set()
        self._status_data: Mapping[str, Any] | None = None
        self._status_version = 0
        self._status_cache: tuple[int, bytes] | None = None
        self._threads: set[threading.Thread] = set()
        self._accept_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._busy: set[threading.Thread] = set()  # threads between a request and its answer
        self._idle = threading.Condition(self._lock)

    # --- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> ControlServer:
        """Bind and serve in background threads; raises DaemonAlreadyRunning if a live daemon answers."""
        prepare_runtime_dir(self.paths.runtime_dir)
        if self.transport == TCP:
            self._listener = listen_tcp(self.paths.ipc_secret_file, self._secret)
        else:
            self._listener, self._socket_inode = listen_unix(self.paths.socket_path)
        self._accept_thread = threads.start(self._accept_loop, "ferry-ipc-accept")
        log.info("control channel listening on %s", self.address)
        return self

    @property
    def address(self) -> str:
        if self.transport == TCP and self._listener is not None:
            host, port = self._listener.getsockname()[:2]
            return f"{host}:{port}"
        return str(self.paths.socket_path)

    def failure(self) -> str | None:
        """Why the channel no longer accepts connections although nobody stopped it (None while it serves)."""
        if self._stopping.is_set():
            return None
        return threads.death(self._accept_thread)

    @property
    def connections(self) -> int:
        """Open client connections (subscribers included)."""
        with self._lock:
            return len(self._conns)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, hang up on every client, remove the socket (if still ours) and join the threads."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._accept_thread is not None:
            self._accept_thread.join(timeout)
        me = threading.current_thread()  # a handler may call stop() itself: do not wait for its own answer
        with self._idle:
            self._idle.wait_for(lambda: not (self._busy - {me}), timeout)  # answers in flight go out first
            conns = list(self._conns)
            threads = list(self._threads)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for t in threads:
            if t is not me:
                t.join(timeout)
        if self._listener is not None:
            self._listener.close()
        self._cleanup_files()
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> ControlServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- publishing -----------------------------------------------------------------------------------------

    def publish(self, event: str, data: Any = None) -> None:
        """Send `event` to its subscribers without ever blocking on them.

        For "status", `data` may be None: the status is then pulled from status_source when it is sent, so
        calling publish("status") on every change is cheap (at most one line per status_interval goes out).
        """
        with self._lock:
            outboxes = [o for o in self._outboxes if o.wants(event)]
            if event == STATUS:
                self._status_data = data
                self._status_version += 1
        if event == STATUS:
            for o in outboxes:
                o.status_changed()
            return
        if not outboxes:
            return
        try:
            line = encode_event(event, data)
        except (TypeError, ValueError):
            log.exception("cannot publish %r: its data is not JSON", event)
            return
        for o in outboxes:
            o.push(line)

    # --- in-process clients (the local web UI) ---------------------------------------------------------------

    def call_local(self, method: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
        """Answer a request made inside the daemon exactly as one from the socket: the same parameter checks,
        the same handlers; raises IpcError with the code a socket client would get."""
        problem = validate_params(method, params)
        if problem is not None:
            raise IpcError("bad_request", problem)
        try:
            return self._dispatch(Request(None, method, dict(params)))
        except IpcError:
            raise
        except (ValueError, KeyError) as exc:
            raise IpcError("failed", f"{method} failed: {exc or type(exc).__name__}") from None
        except Exception as exc:
            log.exception("control method %s failed", method)
            raise IpcError("failed", f"{method} failed: {exc or type(exc).__name__}") from None

    def open_outbox(self, events: list[str] | None) -> Outbox:
        """An in-process subscription: the caller waits on `outbox.wake_r`, drains it with `outbox.take()` and
        `status_line()`, and hands it back to `close_outbox`. Counted nowhere else: it holds no socket."""
        outbox = Outbox(events, self.max_queued_events, self.status_interval)
        with self._lock:
            self._outboxes.add(outbox)
        return outbox

    def close_outbox(self, outbox: Outbox) -> None:
        with self._lock:
            self._outboxes.discard(outbox)
        outbox.close()

    def status_line(self) -> bytes | None:
        """The current status event line (cached per published change)."""
        return self._status_line()

    def _status_line(self) -> bytes | None:
        with self._lock:
            version, data = self._status_version, self._status_data
            if self._status_cache is not None and self._status_cache[0] == version:
                return self._status_cache[1]
        try:
            line = encode_event(STATUS, dict(self.status_source() if data is None else data))
        except Exception:
            log.exception("status source failed")
            return None
        with self._lock:
            self._status_cache = (version, line)
        return line

    def _cleanup_files(self) -> None:
        if self.transport == UNIX and self._socket_inode is not None:
            remove_socket_if_ours(self.paths.socket_path, self._socket_inode)
        elif self.transport == TCP:
            self.paths.ipc_secret_file.unlink(missing_ok=True)

    # --- connections ----------------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        sel = selectors.DefaultSelector()
        sel.register(self._listener, selectors.EVENT_READ)
        sel.register(self._wake_r, selectors.EVENT_READ)
        try:
            while not self._stopping.is_set():
                for key, _ in sel.select():
                    if key.fileobj is self._listener:
                        self._accept_one()
        finally:
            sel.close()

    def _accept_one(self) -> None:
        assert self._listener is not None
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        conn.settimeout(self.send_timeout)
        try:
            pid = peer_pid(conn)
        except OSError:
            pid = None
        refused = self._admit(conn, pid)
        if refused:
            log.warning("control channel: %s, refusing one", refused)
            self._send_quietly(conn, encode_error(None, "busy", refused))
            conn.close()
            return
        t = threading.Thread(target=self._serve, args=(conn,), name="ferry-ipc-conn", daemon=True)
        with self._lock:
            self._threads.add(t)
        t.start()

    def _admit(self, conn: socket.socket, pid: int | None) -> str:
        """Register `conn`, closing the longest-idle connection if a cap is reached; or say why not."""
        victim: socket.socket | None = None
        with self._lock:
            mine = [c for c, info in self._conns.items() if pid is not None and info.pid == pid]
            if len(mine) >= self.max_per_peer:
                pool, why = mine, f"too many connections from one process (at most {self.max_per_peer})"
            elif len(self._conns) >= self.max_connections:
                pool, why = list(self._conns), f"too many connections to the daemon (at most {self.max_connections})"
            else:
                pool, why = [], ""
            if why:
                idle = [c for c in pool if self._conns[c].evictable()]
                if not idle:
                    return why
                victim = min(idle, key=lambda c: self._conns[c].idle_since or 0.0)
                del self._conns[victim]
            self._conns[conn] = _Conn(pid, time.monotonic())
        if victim is not None:
            log.info("control channel: closed the longest-idle connection to make room (%s)", why)
            with contextlib.suppress(OSError):
                victim.shutdown(socket.SHUT_RDWR)  # its thread sees the end of the stream and closes it
        return ""

    def _mark(self, conn: socket.socket, *, busy: bool | None = None, subscribed: bool | None = None) -> None:
        with self._lock:
            info = self._conns.get(conn)
            if info is None:
                return
            if busy is not None:
                info.idle_since = None if busy else time.monotonic()
            if subscribed is not None:
                info.subscribed = subscribed

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.transport == UNIX and not self._peer_allowed(conn):
                self._refuse(conn, encode_error(None, "unauthorized", "the daemon belongs to another user"))
                return
            self._request_loop(conn)
        except OSError:  # includes a send that timed out: a client that stops reading is dropped
            pass
        except Exception:
            log.exception("control connection failed")
        finally:
            with self._lock:
                self._conns.pop(conn, None)
                self._threads.discard(threading.current_thread())
            conn.close()

    def _peer_allowed(self, conn: socket.socket) -> bool:
        try:
            uid = peer_uid(conn)
        except OSError:
            log.warning("control channel: cannot read the peer's credentials; refusing")
            return False
        if uid is None or not hasattr(os, "geteuid"):
            return True  # no way to ask here: the 0600 socket in a 0700 dir is the guard
        if uid != os.geteuid():
            log.warning("control channel: refused a connection from uid %d", uid)
            return False
        return True

    def _request_loop(self, conn: socket.socket) -> None:
        reader = LineReader(conn, MAX_LINE)
        authed = self.transport != TCP
        idle_since = time.monotonic()
        while not self._stopping.is_set():
            left = self.idle_timeout - (time.monotonic() - idle_since)
            if left <= 0:
                log.debug("control channel: closing a connection idle for %.0f s", self.idle_timeout)
                return
            conn.settimeout(min(left, self.send_timeout))
            try:
                line = reader.read_line()
            except TimeoutError:
                continue  # idle so far; partial data stays buffered (a trickled line does not count as activity)
            except LineTooLong:
                self._refuse(conn, encode_error(None, "too_large", f"request longer than {MAX_LINE} bytes"))
                return
            finally:
                conn.settimeout(self.send_timeout)
            if line is None:
                return
            if not line.strip():
                continue
            req = parse_request(line)
            if isinstance(req, RejectedRequest):
                if req.code == "too_large":
                    self._refuse(conn, encode_error(req.id, req.code, req.message))
                    return
                conn.sendall(encode_error(req.id, req.code, req.message))
                continue
            if not authed:
                if req.method != "hello" or not self._secret_ok(req.params.get("secret")):
                    message = "the first request must be hello with the secret from the daemon's IPC file"
                    self._refuse(conn, encode_error(req.id, "unauthorized", message))
                    return
                authed = True
            if req.method == "subscribe":
                self._mark(conn, subscribed=True)
                self._stream(conn, req.id, req.params.get("events"))
                return
            me = threading.current_thread()
            with self._lock:
                self._busy.add(me)
            self._mark(conn, busy=True)
            try:
                conn.sendall(self._answer(req))
            finally:
                with self._idle:
                    self._busy.discard(me)
                    self._idle.notify_all()
                self._mark(conn, busy=False)
                idle_since = time.monotonic()

    def _secret_ok(self, given: object) -> bool:
        return isinstance(given, str) and hmac.compare_digest(given.encode(), self._secret.encode())

    def _answer(self, req: Request) -> bytes:
        try:
            result = self._dispatch(req)
        except IpcError as exc:
            code = exc.code if exc.code in ERROR_CODES else "failed"
            return encode_error(req.id, code, exc.message)
        except Exception as exc:
            log.exception("control method %s failed", req.method)
            return encode_error(req.id, "failed", f"{req.method} failed: {exc or type(exc).__name__}")
        try:
            return encode_result(req.id, result)
        except (TypeError, ValueError) as exc:
            log.error("control method %s returned a result that is not JSON: %s", req.method, exc)
            return encode_error(req.id, "failed", f"{req.method} returned a result that is not JSON")

    def _dispatch(self, req: Request) -> Mapping[str, Any]:
        handler = self.handlers.get(req.method)
        if handler is not None:
            result = handler(dict(req.params))
            if not isinstance(result, Mapping):
                raise TypeError(f"handler returned {type(result).__name__}, not an object")
            return result
        if req.method == "hello":
            return {"daemon_version": self.daemon_version, "protocol": PROTOCOL_VERSION, "pid": os.getpid(),
                    "starting": bool(self.starting()), "stopping": bool(self.stopping() or self._stopping.is_set())}
        if req.method == "status":
            return self.status_source()
        raise IpcError("unknown_method", f"unknown method {req.method!r}")

    def _stream(self, conn: socket.socket, rid: RequestId, events: list[str] | None) -> None:
        outbox = Outbox(events, self.max_queued_events, self.status_interval)
        with self._lock:
            self._outboxes.add(outbox)  # before the ok: nothing published after it is missed
        sel = selectors.DefaultSelector()
        try:
            first = encode_result(rid, {})
            if outbox.wants(STATUS):
                outbox.status_sent()  # first, so a change made while the first status is read is sent later
                first += self._status_now()
            # one write: a subscriber that has the ok has the current status too, even if the daemon stops next
            conn.sendall(first)
            sel.register(conn, selectors.EVENT_READ)
            sel.register(outbox.wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                lines, status_due, wait = outbox.take()
                if outbox.dropped:
                    log.warning(
                        "control channel: dropped a subscriber that fell %d events behind",
                        self.max_queued_events,
                    )
                    return
                for line in lines:
                    conn.sendall(line)
                if status_due:
                    status_line = self._status_line()
                    if status_line is not None:
                        conn.sendall(status_line)
                if lines or status_due:
                    continue
                for key, _ in sel.select(wait):
                    if key.fileobj is outbox.wake_r:
                        outbox.drain_wakeups()
                    elif not conn.recv(65536):
                        return  # the client hung up: that is how it unsubscribes
        finally:
            with self._lock:
                self._outboxes.discard(outbox)
            sel.close()
            outbox.close()

    def _status_now(self) -> bytes:
        """The current status event line, read now (empty if the status source fails)."""
        try:
            return encode_event(STATUS, dict(self.status_source()))
        except Exception:
            log.exception("status source failed")
            return b""

    @staticmethod
    def _send_quietly(conn: socket.socket, line: bytes) -> None:
        with contextlib.suppress(OSError):
            conn.sendall(line)

    @staticmethod
    def _refuse(conn: socket.socket, line: bytes, linger: float = 1.0, max_drain: int = 8 * MAX_LINE) -> None:
        """Send a last error and hang up gracefully: drain the client's unread bytes before closing, since
        closing with unread input resets the connection and could destroy the error before it is read."""
        with contextlib.suppress(OSError):
            conn.sendall(line)
            conn.shutdown(socket.SHUT_WR)
            conn.settimeout(linger)
            drained = 0
            while drained < max_drain:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                drained += len(chunk)
