"""The real ferry-server application, in this process: no socket, no subprocess, one per schedule.

The daemon's real `RemoteClient` talks to it through a requests transport adapter that hands each request to the
ASGI application on an event loop of the calling thread (httpx's ASGI transport), so every byte still crosses the
real HTTP layer of both sides (routing, validation, error shapes), the simulation can act before and after each
call, and no thread hop per message slows a schedule down.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import requests
import urllib3
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from ferrysync.daemon.remote import RemoteClient
from ferrysync.server.app import build_context, create_app
from ferrysync.server.config import ServerConfig
from ferrysync.server.passwords import new_token, token_hash

URL = "http://sim"

HttpHook = Callable[[str, str], None]  # ("before" | "after", "METHOD /path")


async def _inline(func: Callable[..., Any], *args: Any, **_: Any) -> Any:
    return func(*args)


class AsgiAdapter(BaseAdapter):
    """A requests transport that answers from the ASGI app in-process."""

    def __init__(self, cloud: SimCloud, hook: HttpHook) -> None:
        super().__init__()
        self.cloud = cloud
        self.hook = hook

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        what = f"{request.method} {request.path_url.split('?')[0]}"
        self.hook("before", what)
        body = request.body
        if hasattr(body, "read"):
            body = body.read()  # type: ignore[union-attr]
        if isinstance(body, str):
            body = body.encode()
        r = self.cloud.request(str(request.method), str(request.url), dict(request.headers), body or b"")
        resp = requests.Response()
        resp.status_code = r.status_code
        resp.headers = CaseInsensitiveDict(r.headers)
        # a urllib3 response, as requests' own adapter gives: the client reads block answers from it in one call
        resp.raw = urllib3.HTTPResponse(body=io.BytesIO(r.content), headers=dict(r.headers), status=r.status_code,
                                        preload_content=False)
        resp.url = str(request.url)
        resp.request = request
        resp.encoding = r.encoding
        resp.reason = r.reason_phrase
        self.hook("after", what)
        return resp

    def close(self) -> None:
        pass


class SimCloud:
    """One in-process server with one user; `client(name)` logs a new device in."""

    def __init__(self, data_dir: Path) -> None:
        self.ctx = build_context(ServerConfig(data_dir=data_dir, gc_interval_s=0))
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.ctx.notifier.start())
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(self.ctx)), base_url=URL)
        # No password is ever checked here (devices get tokens directly): skip the deliberate cost of argon2.
        self.user = self.ctx.meta.add_user("sim", "not-a-password-hash")
        # One event loop answers every device: requests made at once (a batch's fetches run ahead of its landing,
        # on threads of their own) take turns, or the second finds the loop running the first.
        self._turn = threading.Lock()

    def close(self) -> None:
        self.loop.run_until_complete(self.http.aclose())
        self.loop.run_until_complete(self.ctx.notifier.stop())
        self.loop.close()
        self.ctx.meta.close()

    def request(self, method: str, url: str, headers: dict[str, str], body: bytes) -> httpx.Response:
        async def go() -> httpx.Response:
            r = await self.http.request(method, url, headers=headers, content=body)
            await r.aread()
            return r
        # The application's synchronous routes would each hop to a worker thread and back (a third of a
        # schedule's time, waiting on locks): requests take turns (`_turn`), so they run inline.
        with self._turn:
            hop, anyio.to_thread.run_sync = anyio.to_thread.run_sync, _inline  # type: ignore[assignment]
            try:
                return self.loop.run_until_complete(go())
            finally:
                anyio.to_thread.run_sync = hop

    def seq(self) -> int:
        """The user's sequence now: what a long-poll compares with its cursor."""
        return int(self.ctx.meta.current_seq(self.user.id))  # an integer: the simulated user mounts no shares

    def device_token(self, name: str) -> str:
        token = new_token()
        self.ctx.meta.add_device(self.user.id, name, token_hash(token))
        return token

    def client(self, token: str, hook: HttpHook) -> RemoteClient:
        c = RemoteClient(URL, token, retries=0)
        adapter = AsgiAdapter(self, hook)
        for prefix in list(c._session.adapters):
            if prefix.startswith(URL):
                c._session.mount(prefix, adapter)
        return c

    # -- what the server holds, for the invariants ---------------------------------------------------------

    def live_files(self, prefix: str) -> dict[str, bytes | None]:
        """Current entries under `prefix` (relative path -> content; None for a folder)."""
        out: dict[str, bytes | None] = {}
        for e in self._all_entries():
            if e.deleted or not e.path.startswith(prefix + "/"):
                continue
            rel = e.path[len(prefix) + 1:]
            out[rel] = None if e.kind == "dir" else self._content(e.blocks)
        return out

    def live_modes(self, prefix: str) -> dict[str, bool]:
        """Each live file's executable bit under `prefix` (relative path -> bit)."""
        return {e.path[len(prefix) + 1:]: bool(e.executable) for e in self._all_entries()
                if not e.deleted and e.kind == "file" and e.path.startswith(prefix + "/")}

    def every_version(self) -> set[bytes]:
        """Every file content the server holds: live, older revisions and deleted files."""
        found: set[bytes] = set()
        for e in self._all_entries():
            for r in self.ctx.meta.revisions(self.user.id, e.path):
                if not r.deleted and r.kind == "file":
                    found.add(self._content(r.blocks))
            if not e.deleted and e.kind == "file":
                found.add(self._content(e.blocks))
        return found

    def _all_entries(self) -> list[Any]:
        entries: list[Any] = []
        cursor: int | str = 0
        while True:
            page = self.ctx.meta.changes(self.user.id, cursor, 1000)
            entries += page.entries
            cursor = page.cursor
            if not page.has_more:
                return entries

    def _content(self, blocks: tuple[str, ...]) -> bytes:
        return b"".join(self.ctx.blocks.get(h) for h in blocks)
