"""ASGI middleware enforcing request body limits while the body streams in, not after it was read.

A declared Content-Length over the limit is refused before reading anything (what the client sends meanwhile is
discarded for up to a second or 16 MiB, so that a simple client gets to read the 413); a chunked body is counted
as it arrives and refused as soon as it passes the limit, by raising HTTPException(413) out of `receive` into
whichever handler is reading it.

Unauthenticated bodies are held to a small limit (`open_limit`): a request gets its route's larger limit only once
its bearer token has been checked (`authenticated`), which happens only when its body passes the small limit. So
strangers cannot make the server hold megabytes per connection, and small requests pay no extra token lookup.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ferrysync.server.errors import error_body

_DRAIN_CAP = 16 * 1024 * 1024
_DRAIN_SECONDS = 1.0


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit_for: Callable[[str, str], int], open_limit: int | None = None,
                 authenticated: Callable[[Scope], Awaitable[bool]] | None = None) -> None:
        self.app = app
        self.limit_for = limit_for
        self.open_limit = open_limit
        self.authenticated = authenticated

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        allowed = limit if self.open_limit is None else min(limit, self.open_limit)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(receive, send, declared, 413, "too_large", f"request body is larger than {limit} bytes")
            return
        if declared is not None and declared > allowed:
            if not await self._authenticated(scope):
                await _refuse(receive, send, declared, 401, "unauthorized", _needs_token(allowed))
                return
            allowed = limit
        received = 0

        async def counting_receive() -> Message:
            nonlocal received, allowed
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, f"request body is larger than {limit} bytes")
                if received > allowed:
                    if not await self._authenticated(scope):
                        raise HTTPException(401, _needs_token(allowed))
                    allowed = limit
            return message

        await self.app(scope, counting_receive, send)

    async def _authenticated(self, scope: Scope) -> bool:
        return self.authenticated is not None and await self.authenticated(scope)


def _needs_token(allowed: int) -> str:
    return f"a request body over {allowed} bytes needs a valid device token"


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _drain(receive: Receive, cap: int) -> None:
    seen = 0
    while seen < cap:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _refuse(receive: Receive, send: Send, declared: int, status: int, code: str, message: str) -> None:
    """Answer before reading the body (after discarding some of it, so a simple client gets to read the answer)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_drain(receive, min(declared, _DRAIN_CAP)), _DRAIN_SECONDS)
    body = json.dumps(error_body(code, message)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
