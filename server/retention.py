"""Retention and garbage collection inside `serve`: at start, then every `gc_interval_s` (see gc.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool

from ferrysync.server.context import AppContext
from ferrysync.server.gc import GcReport, collect
from ferrysync.server.limits import LOGIN_FORGET_S, SHARE_WINDOW_S
from ferrysync.server.store.rows import now_ms

log = logging.getLogger("ferrysync.server.retention")


def prune_once(ctx: AppContext) -> GcReport:
    """Drop expired revisions and tombstones, then the block holdings and stored blocks nothing needs any more."""
    report = collect(ctx.meta, ctx.blocks, ctx.config.retention_ms, ctx.config.gc_grace_ms)
    ctx.metrics.add("ferry_blocks_collected_total", report.blocks)
    forget_s = max(LOGIN_FORGET_S, 2 * ctx.config.login_lockout_s)
    ctx.meta.prune_login_failures(now_ms() - int(forget_s * 1000))  # the throttle's old counters (throttle.py)
    ctx.meta.prune_share_hits(now_ms() - 2 * SHARE_WINDOW_S * 1000)  # share links' past windows (links/throttle.py)
    ctx.meta.prune_sessions()  # the web app's expired sessions (web/sessions.py)
    return report


async def prune_forever(ctx: AppContext, interval_s: float) -> None:
    """Runs until cancelled; a failed pass is logged and retried at the next interval."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await run_in_threadpool(prune_once, ctx)
        except Exception:
            log.exception("garbage collection pass failed")


@contextlib.asynccontextmanager
async def retention_task(ctx: AppContext) -> AsyncIterator[None]:
    """At start and then every `gc_interval_s`; never when it is 0 (another process or cron does it)."""
    if ctx.config.gc_interval_s <= 0:
        yield
        return
    try:
        await run_in_threadpool(prune_once, ctx)
    except Exception:  # e.g. the block store is briefly unreachable: serve anyway, retry at the next interval
        log.exception("garbage collection at start failed")
    task = asyncio.create_task(prune_forever(ctx, ctx.config.gc_interval_s))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
