"""The settings window's Starlette app: templates, static files, the live status stream, and the routes (pages.py).

Templates are Jinja2 with autoescaping on for every template: the pages show file names, which a user (or another
device) chose and which may hold `<`, `&` or quotes; escaping by default is what keeps such a name from becoming
markup. Everything is served from package data: no build step, nothing fetched at install or run time.
"""

from __future__ import annotations

import asyncio
import json
import select
import threading
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ferrysync.daemon.ipc.protocol import IpcError
from ferrysync.daemon.webui.guard import Secrets
from ferrysync.daemon.webui.pages import Pages

if TYPE_CHECKING:
    from ferrysync.daemon.ipc.server import ControlServer

HERE = Path(__file__).parent
MAX_STREAMS = 8  # live-status streams at once (each holds a worker thread while it waits)
HEARTBEAT_S = 15.0


def build_app(control: ControlServer, secrets: Secrets, stopping: threading.Event) -> Starlette:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    base = f"/{secrets.prefix}"
    env.globals.update(base=base, csrf=secrets.csrf)
    pages = Pages(control.call_local, env, base)
    streams = _Streams(control, stopping)
    routes = [*pages.routes(), Route("/events", streams.endpoint),
              Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static")]
    return Starlette(routes=[Mount(base, routes=routes)])


class _Streams:
    """Server-sent events fed by the control channel's status fan-out (one in-process outbox per page)."""

    def __init__(self, control: ControlServer, stopping: threading.Event) -> None:
        self.control = control
        self.stopping = stopping
        self.open = 0
        self._lock = threading.Lock()

    async def endpoint(self, request: Request) -> Response:
        with self._lock:
            if self.open >= MAX_STREAMS:
                return Response("Too many live pages open; close one.", status_code=503)
        return StreamingResponse(self._events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def _events(self) -> AsyncIterator[str]:
        with self._lock:
            self.open += 1  # counted here, where the finally below is sure to run
        outbox = self.control.open_outbox(["status"])
        try:
            outbox.status_sent()  # the next status waits one interval; the current one goes now
            yield _sse(_status(self.control))
            idle = 0.0
            while not self.stopping.is_set():
                _, due, wait = outbox.take()
                if due:
                    line = self.control.status_line()
                    if line is not None:
                        idle = 0.0
                        yield _sse(json.loads(line)["data"])
                    continue
                if outbox.dropped:
                    return
                step = min(wait if wait is not None else 1.0, 1.0)  # wakes to notice a stop within a second
                woke = await asyncio.to_thread(_wait_readable, outbox.wake_r, step)
                if woke:
                    outbox.drain_wakeups()
                idle += step
                if idle >= HEARTBEAT_S:
                    idle = 0.0
                    yield ": still here\n\n"
        finally:
            self.control.close_outbox(outbox)
            with self._lock:
                self.open -= 1


def _status(control: ControlServer) -> Mapping[str, Any]:
    try:
        return control.call_local("status", {})
    except IpcError as exc:
        return {"state": "error", "message": exc.message, "folders": []}


def _sse(data: Mapping[str, Any]) -> str:
    return f"event: status\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _wait_readable(sock: Any, timeout: float) -> bool:
    try:
        readable, _, _ = select.select([sock], [], [], timeout)
    except (OSError, ValueError):
        return False
    return bool(readable)
