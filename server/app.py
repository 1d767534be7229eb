"""The ASGI application: FastAPI with the contract's error shape, body limits, routes and background tasks."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from ferrysync.server.auth import scope_authenticated
from ferrysync.server.blocks.base import BlockStore
from ferrysync.server.blocks.local import KINDS, open_local
from ferrysync.server.bodylimit import BodyLimitMiddleware
from ferrysync.server.config import ServerConfig
from ferrysync.server.context import AppContext
from ferrysync.server.errors import install_error_handlers
from ferrysync.server.limits import (
    MAX_BATCH_BODY,
    MAX_BLOCK,
    MAX_JSON_BODY,
    MAX_UNAUTHENTICATED_BODY,
    MAX_WEB_UPLOAD,
)
from ferrysync.server.links import pages as link_pages
from ferrysync.server.metrics import MetricsMiddleware
from ferrysync.server.notifier import LocalNotifier, Notifier
from ferrysync.server.openapi import install_openapi
from ferrysync.server.retention import retention_task
from ferrysync.server.routes import account, blocks, changes, folders, history, metrics, shares, tree
from ferrysync.server.routes.account import VERSION
from ferrysync.server.store.engine import default_url
from ferrysync.server.store.sql import SqlMetaStore
from ferrysync.server.throttle import HashPool
from ferrysync.server.web.app import build_web
from ferrysync.server.web.sessions import session_cookie_valid

log = logging.getLogger("ferrysync.server")

DESCRIPTION = """Ferry's cloud API (v1): device login, content-addressed blocks, optimistic commits,
a change feed with long-poll, revisions and deleted files, share links. See docs/api.md for the full contract."""


def body_limit(method: str, path: str) -> int:
    if path == "/v1/login":
        return MAX_UNAUTHENTICATED_BODY
    if method == "PUT" and path.startswith("/v1/blocks/"):
        return MAX_BLOCK
    if method == "POST" and path == "/v1/blocks/batch":
        return MAX_BATCH_BODY
    if method == "POST" and path == "/web/upload":
        return MAX_WEB_UPLOAD  # streamed: cut and stored as it arrives, never held whole
    return MAX_JSON_BODY


async def authenticated(scope: Scope) -> bool:
    """A device token, or (for the web app) a signed-in browser's session cookie."""
    if await scope_authenticated(scope):
        return True
    if not str(scope.get("path", "")).startswith("/web/"):
        return False
    cookie = next((v for k, v in scope.get("headers", ()) if k == b"cookie"), b"").decode("latin-1")
    ctx: AppContext = scope["app"].state.ctx
    return bool(cookie) and await run_in_threadpool(session_cookie_valid, ctx, cookie)


def open_blocks(config: ServerConfig) -> BlockStore:
    """The block store the config names: under the data dir (disk or packed), or an S3 bucket (checked now)."""
    if config.blocks_url is None or config.blocks_url in KINDS:
        return open_local(config.data_dir, config.blocks_url)
    from ferrysync.server.blocks.s3 import S3BlockStore, S3Location

    store = S3BlockStore(S3Location.parse(config.blocks_url), endpoint_url=config.s3_endpoint_url)
    store.check()
    return store


def build_context(config: ServerConfig) -> AppContext:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    url = config.database_url or default_url(config.data_dir)
    meta = SqlMetaStore.from_url(url)
    notifier: Notifier = LocalNotifier()
    if meta.engine.dialect.name == "postgresql":
        from ferrysync.server.pgnotify import PgNotifier

        notifier = PgNotifier(meta.engine.url.render_as_string(hide_password=False))
    return AppContext(config=config, meta=meta, blocks=open_blocks(config), notifier=notifier,
                      hashing=HashPool(config.hash_slots, config.hash_queue))


def create_app(ctx: AppContext) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await ctx.notifier.start()
        try:
            async with retention_task(ctx):
                yield
        finally:
            await ctx.notifier.stop()
            ctx.meta.close()
            log.info("ferry-server stopped")

    app = FastAPI(title="Ferry API", version=VERSION, description=DESCRIPTION, lifespan=lifespan,
                  openapi_url="/openapi.json", docs_url="/docs", redoc_url=None)
    app.state.ctx = ctx
    install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(BodyLimitMiddleware, limit_for=body_limit, open_limit=MAX_UNAUTHENTICATED_BODY,
                       authenticated=authenticated)
    app.add_middleware(MetricsMiddleware, metrics=ctx.metrics)
    for module in (account, blocks, tree, changes, history, folders, metrics, shares, link_pages):
        app.include_router(module.router)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/web/", status_code=303)

    app.mount("/web", build_web(ctx))
    return app
