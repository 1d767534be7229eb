"""A bare ASGI app on uvicorn that reads a request body and answers 201 with its byte count: the loopback HTTP
ceiling that the benches print beside Ferry's figures. Run as `python bench/sink.py PORT`."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn


async def app(scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
              send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
    if scope["type"] != "http":
        return
    n = 0
    more = True
    while more:
        m = await receive()
        n += len(m.get("body", b""))
        more = m.get("more_body", False)
    await send({"type": "http.response.start", "status": 201, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"%d" % n})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
