"""A bare ASGI app on uvicorn: the loopback HTTP ceiling that the benches print beside Ferry's figures.

A PUT (or POST) reads the body and answers 201 with its byte count; a GET of `/?file=PATH` streams that file's
bytes back (1 MiB reads from the page cache, no hashing), the ceiling for a download of the same bytes.
Run as `python bench/sink.py PORT`.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import uvicorn

READ = 1024 * 1024

Send = Callable[[dict[str, Any]], Awaitable[None]]


async def _serve_file(path: str, send: Send) -> None:
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, after the last chunk is sent
    except OSError as exc:
        await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": str(exc).encode()})
        return
    with f:
        size = f.seek(0, 2)
        f.seek(0)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream"),
                                (b"content-length", str(size).encode())]})
        while data := f.read(READ):
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


async def app(scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]], send: Send) -> None:
    if scope["type"] != "http":
        return
    if scope["method"] == "GET":
        files = parse_qs(scope.get("query_string", b"").decode()).get("file")
        if files:
            await _serve_file(files[0], send)
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
