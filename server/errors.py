"""The contract's error shape, {"error": {"code", "message"}}, for our errors and the framework's own."""

from __future__ import annotations

import errno
import logging
import sqlite3
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

log = logging.getLogger("ferrysync.server")

# nginx's "client closed request": never sent (nobody is listening), only counted in /metrics.
CLIENT_CLOSED = 499
_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict",
                 413: "too_large"}
# A disk that refuses the server's writes (its database's or its block store's): the OS's word for it, SQLite's
# primary result codes (FULL, IOERR, READONLY) and PostgreSQL's SQLSTATE for a full disk.
_REFUSING_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS}
_REFUSING_SQLITE = {sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY}
_PG_DISK_FULL = "53100"
STORAGE_RETRY_S = 5


def storage_refusal(exc: BaseException) -> BaseException | None:
    """The error in `exc`'s chain that says the server's own storage refused a write, or None (a bug, then).

    A full disk is the operator's to fix and no bug: the client is told so (503 `storage_full`, retried by
    itself) instead of 500 `internal`, and the log says it in one line instead of a traceback per request."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in _REFUSING_ERRNOS:
            return e
        if isinstance(e, sqlite3.Error) and (getattr(e, "sqlite_errorcode", 0) or 0) & 0xFF in _REFUSING_SQLITE:
            return e
        if getattr(e, "sqlstate", None) == _PG_DISK_FULL or getattr(e, "pgcode", None) == _PG_DISK_FULL:
            return e
        orig = getattr(e, "orig", None)  # SQLAlchemy wraps the driver's error
        todo += [e.__cause__, e.__context__, orig if isinstance(orig, BaseException) else None]
    return None


class ApiError(Exception):
    """Raised anywhere in a request to answer with a contract error; `extra` joins the error object."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers  # e.g. Retry-After of a 429 or 503
        self.extra = extra


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None,
                   **extra: Any) -> JSONResponse:
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(error_body(code, message, **extra), status_code=status, headers=headers)


def _describe(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.code, exc.message, headers=exc.headers, **exc.extra)

    async def on_validation(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(400, "bad_request", _describe(exc))

    async def on_http(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, "bad_request" if exc.status_code < 500 else "internal")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)  # keeps 405's Allow

    async def on_disconnect(request: Request, _exc: Exception) -> Response:
        # The client hung up (mid-upload, or a proxy's timeout): nothing to answer and nothing broken here. 499 is
        # what the metrics count it as, so that an operator's 5xx alert stays about the server.
        log.debug("client %s hung up during %s %s", request.client, request.method, request.url.path)
        return Response(status_code=CLIENT_CLOSED)

    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        refused = storage_refusal(exc)
        if refused is not None:
            log.error("storage refused a write during %s %s: %s (free space, or fix the disk; nothing was stored)",
                      request.method, request.url.path, refused)
            return error_response(503, "storage_full", "the server's storage refuses writes (full or failing): "
                                  "nothing was stored; try again later", headers={"Retry-After": str(STORAGE_RETRY_S)})
        log.exception("internal error", exc_info=exc)
        return error_response(500, "internal", "internal server error")

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(ClientDisconnect, on_disconnect)
    app.add_exception_handler(Exception, on_crash)
