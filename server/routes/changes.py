"""The change feed (cursor pages over the file table) and its long-poll."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ferrysync.server.auth import CallerDep
from ferrysync.server.context import AppContext, get_ctx
from ferrysync.server.errors import ApiError
from ferrysync.server.limits import (
    DEFAULT_CHANGES_LIMIT,
    DEFAULT_WAIT_SECONDS,
    MAX_CHANGES_LIMIT,
    MAX_INT,
    MAX_WAIT_SECONDS,
)
from ferrysync.server.models import ChangesResponse, WaitResponse
from ferrysync.server.store.base import CursorExpired

router = APIRouter(prefix="/v1/changes", tags=["changes"])
Ctx = Annotated[AppContext, Depends(get_ctx)]

# Re-read the database at least this often while waiting: a missed notification costs at most this much.
RECHECK_SECONDS = 5.0


@router.get("", response_model=ChangesResponse,
            responses={410: {"description": "cursor_expired: the cursor predates retention; re-list from 0"}})
def changes(
    caller: CallerDep, ctx: Ctx,
    cursor: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_CHANGES_LIMIT)] = DEFAULT_CHANGES_LIMIT,
) -> JSONResponse:
    """cursor=0: the live tree; cursor>0: every row changed after it (tombstones included), in seq order."""
    try:
        page = ctx.meta.changes(caller.user_id, cursor, limit)
    except CursorExpired as exc:
        raise ApiError(410, "cursor_expired", str(exc)) from None
    return JSONResponse({"entries": [e.to_json() for e in page.entries], "cursor": page.cursor,
                         "has_more": page.has_more})


@router.get("/wait", response_model=WaitResponse)
async def wait(
    caller: CallerDep, ctx: Ctx,
    cursor: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    timeout: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS)] = DEFAULT_WAIT_SECONDS,
) -> dict[str, int | bool]:
    """Return as soon as the user's seq passes `cursor`, else after `timeout` seconds with changes=false.

    Holds neither a database connection nor a worker thread while waiting (the notifier wakes the coroutine).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    uid = caller.user_id
    seq = await run_in_threadpool(ctx.meta.current_seq, uid)
    ctx.metrics.waiting(+1)
    try:
        while seq <= cursor:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            woke = await ctx.notifier.wait(uid, cursor, min(remaining, RECHECK_SECONDS))
            seq = await run_in_threadpool(ctx.meta.current_seq, uid)
            if woke and seq <= cursor:
                # The notifier knows a seq the database does not (e.g. data restored from a backup): poll calmly.
                await asyncio.sleep(min(max(deadline - loop.time(), 0), RECHECK_SECONDS))
    finally:
        ctx.metrics.waiting(-1)
    return {"changes": seq > cursor, "cursor": seq}
