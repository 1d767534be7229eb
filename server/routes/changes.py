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
    MAX_WAIT_SECONDS,
)
from ferrysync.server.models import ChangesResponse, WaitResponse
from ferrysync.server.notifier import Notifier
from ferrysync.server.store.base import CursorExpired
from ferrysync.server.store.cursor import BadCursor, Cursor, decode

router = APIRouter(prefix="/v1/changes", tags=["changes"])
Ctx = Annotated[AppContext, Depends(get_ctx)]

# Re-read the database at least this often while waiting: a missed notification costs at most this much.
RECHECK_SECONDS = 5.0


CursorParam = Annotated[str, Query(max_length=16_000, description="a cursor from an earlier answer; 0 to list")]


def _parse(cursor: str) -> Cursor:
    try:
        return decode(cursor)
    except BadCursor as exc:
        raise ApiError(400, "bad_request", f"cursor: {exc}") from None


@router.get("", response_model=ChangesResponse,
            responses={410: {"description": "cursor_expired: the cursor predates retention, or the folders shared "
                                            "with the user changed since it; re-list from 0"}})
def changes(
    caller: CallerDep, ctx: Ctx,
    cursor: CursorParam = "0",
    limit: Annotated[int, Query(ge=1, le=MAX_CHANGES_LIMIT)] = DEFAULT_CHANGES_LIMIT,
) -> JSONResponse:
    """cursor=0: the live tree; else every row changed after it (tombstones included), in seq order per
    namespace (the user's root, then each shared folder mounted in it)."""
    try:
        page = ctx.meta.changes(caller.user_id, _parse(cursor), limit)
    except CursorExpired as exc:
        raise ApiError(410, "cursor_expired", str(exc)) from None
    return JSONResponse({"entries": [e.to_json() for e in page.entries], "cursor": page.cursor,
                         "has_more": page.has_more})


def _passed(now: Cursor, cursor: Cursor) -> bool:
    """Whether the feed moved past `cursor`: a namespace's seq passed its position, or the mounts changed."""
    if now.mount_ids() != cursor.mount_ids() and not cursor.is_start:
        return True
    at = dict(cursor.mounts)
    return now.root > cursor.root or any(seq > at.get(mid, 0) for mid, seq in now.mounts)


async def _wait_any(notifier: Notifier, waits: list[tuple[int, int]], timeout: float) -> bool:
    """Wake when any of these (namespace, seq) pairs is passed (one waiter per namespace the user sees)."""
    if len(waits) == 1:
        return await notifier.wait(waits[0][0], waits[0][1], timeout)
    tasks = [asyncio.ensure_future(notifier.wait(ns, after, timeout)) for ns, after in waits]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        return any(t.result() for t in done)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@router.get("/wait", response_model=WaitResponse)
async def wait(
    caller: CallerDep, ctx: Ctx,
    cursor: CursorParam = "0",
    timeout: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS)] = DEFAULT_WAIT_SECONDS,
) -> dict[str, int | str | bool]:
    """Return as soon as the user's feed passes `cursor`, else after `timeout` seconds with changes=false.

    Holds neither a database connection nor a worker thread while waiting (the notifier wakes the coroutine).
    """
    after = _parse(cursor)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    uid = caller.user_id
    now, followed = await run_in_threadpool(ctx.meta.feed_position, uid)
    ctx.metrics.waiting(+1)
    try:
        while not _passed(now, after):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            at = {0: after.root, **dict(after.mounts)}
            waits = [(ns, at.get(key, 0)) for key, ns in followed.items()]
            woke = await _wait_any(ctx.notifier, waits, min(remaining, RECHECK_SECONDS))
            now, followed = await run_in_threadpool(ctx.meta.feed_position, uid)
            if ctx.notifier.released:  # the server is going down: answer with what there is, at once
                break
            if woke and not _passed(now, after):
                # The notifier knows a seq the database does not (e.g. data restored from a backup): poll calmly.
                await asyncio.sleep(min(max(deadline - loop.time(), 0), RECHECK_SECONDS))
    finally:
        ctx.metrics.waiting(-1)
    return {"changes": _passed(now, after), "cursor": now.encode()}
