"""Guards on connections that uvicorn lacks: a deadline for a request's headers, a stall limit for its body, a
size limit for its headers, and a cap on the connections waiting for headers.

uvicorn (0.55) has `timeout_keep_alive` (idle time between requests, reset by any byte) and `limit_concurrency`
(503 once N connections are open), but no timeout while a request arrives: a client that trickles header bytes,
or declares `Content-Length: 1000` and sends 3, holds its connection, and its share of `limit_concurrency`,
forever (slowloris). ASGI middleware cannot see a request before its headers are complete, so the guards live in
the HTTP protocol: a subclass of uvicorn's httptools protocol, given to uvicorn as `Config(http=...)`. Hypercorn
has a read timeout, but it is per read (a trickle passes) and switching servers would change TLS, shutdown and
start-up behaviour the rest of Ferry relies on.

Why httptools (llhttp, in C) and not uvicorn's h11 protocol (pure Python), which these guards were first built on:
every byte of an upload passes the parser on the event loop's one thread, and with h11 that was the largest share
of the server's time during a 1 GiB upload (`py-spy --gil`: h11's receive path about a third of the loop's
samples). Measured with these guards on both, alternating, on this 2-core machine: 1 GiB sent as 8 MiB batches,
8 in flight, took 3.47 s and 3.68 s of server CPU (means of 4) against 3.74 s and 3.90 s with h11; 6,000 small
requests on 4 connections took 8.43-8.99 s of server CPU against 9.36-9.83 s. h11 also
capped a request's line and headers at 16 KiB; llhttp does not, so that limit is kept here (MAX_HEADER_BYTES).

- Headers: a request line and headers must be complete within `header_timeout` of the connection opening or of
  the previous response ending (an idle keep-alive connection is usually closed sooner by `timeout_keep_alive`).
- Body: while a declared body is still arriving, each silence longer than `body_timeout` closes the connection,
  except while uvicorn itself has paused reading because the app is not consuming (then it is not the client's
  fault). The app then sees the client as gone (errors.py counts that as 499, not as an error).
- Size: the request line and headers (the URL, every name and value) may hold MAX_HEADER_BYTES, else 400 and the
  connection is closed (llhttp would keep them all in memory until the header deadline).
- At most `max_waiting` connections may be waiting for their headers at once; past that the one that has waited
  longest is closed. A real client sends its headers within milliseconds of connecting, so it is never the oldest:
  slow clients crowd out only each other, and they never push the open connections to `limit_concurrency`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("ferrysync.server")

DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_BODY_TIMEOUT_S = 20.0
DEFAULT_MAX_WAITING = 256
DEFAULT_LIMIT_CONCURRENCY = 1000
DEFAULT_KEEP_ALIVE_S = 5
MAX_HEADER_BYTES = 16 * 1024  # the request line and headers; what h11, which the guards first sat on, allowed


class HeadersTooLarge(Exception):
    """Raised from a parser callback: llhttp stops, and uvicorn answers 400 and closes the connection."""


@dataclass(frozen=True)
class TransportLimits:
    header_timeout: float = DEFAULT_HEADER_TIMEOUT_S
    body_timeout: float = DEFAULT_BODY_TIMEOUT_S
    max_waiting: int = DEFAULT_MAX_WAITING

    def __post_init__(self) -> None:
        if self.header_timeout <= 0 or self.body_timeout <= 0 or self.max_waiting < 1:
            raise ValueError("timeouts must be positive and max_waiting at least 1")


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the guards above; `guarded_protocol` makes one class per server."""

    limits: ClassVar[TransportLimits] = TransportLimits()
    # Connections waiting for their headers, oldest first (a dict keeps insertion order); one per server class.
    waiting: ClassVar[dict[GuardedProtocol, None]] = {}
    on_drop: ClassVar[tuple[Callable[[str], None], ...]] = ()  # told why, e.g. to count it in /metrics

    _timer: asyncio.TimerHandle | None = None
    _phase: str = ""  # "headers", "body" or "" (the app has the request, or the connection is over)
    _in_body = False  # a request's headers are complete and its body is not (llhttp's callbacks say so)
    _header_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._sync()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._phase == "body":
            self._arm(self.limits.body_timeout, self._body_stalled)  # progress: the silence starts again
        self._sync()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._in_body = True

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_body = False

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._sync()

    def connection_lost(self, exc: Exception | None) -> None:
        self._enter("")
        super().connection_lost(exc)

    def _count(self, n: int) -> None:
        self._header_bytes += n
        if self._header_bytes > MAX_HEADER_BYTES:
            raise HeadersTooLarge(f"request line and headers over {MAX_HEADER_BYTES} bytes")

    def _sync(self) -> None:
        if self.transport.is_closing():
            self._enter("")
        elif self._in_body:
            self._enter("body")
        elif self.cycle is None or self.cycle.response_complete:
            self._enter("headers")  # between requests, or within a request's line and headers
        else:
            self._enter("")  # the app has the whole request and has not answered yet

    def _enter(self, phase: str) -> None:
        if phase == self._phase:
            return
        self._phase = phase
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.waiting.pop(self, None)
        if phase == "headers":
            self._arm(self.limits.header_timeout, self._headers_late)
            self.waiting[self] = None
            while len(self.waiting) > self.limits.max_waiting:
                next(iter(self.waiting))._drop("evicted: too many connections waiting for their headers")
        elif phase == "body":
            self._arm(self.limits.body_timeout, self._body_stalled)

    def _arm(self, seconds: float, then: Callable[[], None]) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(seconds, then)

    def _headers_late(self) -> None:
        self._timer = None
        self._drop(f"request headers not complete within {self.limits.header_timeout:g} s")

    def _body_stalled(self) -> None:
        self._timer = None
        # Not the client's fault: uvicorn stopped reading because the app is busy, or the client waits for the
        # "100 Continue" the app has not asked for yet (it has not started reading the body).
        if self.flow.read_paused or (self.cycle is not None and self.cycle.waiting_for_100_continue):
            self._arm(self.limits.body_timeout, self._body_stalled)
            return
        self._drop(f"no request body bytes for {self.limits.body_timeout:g} s")

    def _drop(self, why: str) -> None:
        self._enter("")
        if self.transport.is_closing():
            return
        log.info("closed the connection from %s: %s", _peer(self.client), why)
        for tell in self.on_drop:
            tell(why)
        self.transport.close()


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "?"


def guarded_protocol(limits: TransportLimits,
                     on_drop: Callable[[str], None] | None = None) -> type[GuardedProtocol]:
    """A protocol class for one server: its own limits and its own set of connections waiting for headers."""
    return type("GuardedProtocol", (GuardedProtocol,),
                {"limits": limits, "waiting": {}, "on_drop": (on_drop,) if on_drop else ()})
