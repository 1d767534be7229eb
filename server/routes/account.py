"""Health, login/logout, devices and account usage."""

from __future__ import annotations

import dataclasses
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from ferrysync.server.auth import CallerDep
from ferrysync.server.context import AppContext, get_ctx
from ferrysync.server.errors import ApiError
from ferrysync.server.limits import PUBLISHED, TOKEN_RENEW_GRACE_S
from ferrysync.server.models import (
    AccountResponse,
    DevicesResponse,
    Empty,
    HealthResponse,
    LimitsResponse,
    LoginRequest,
    LoginResponse,
    TokenInfo,
)
from ferrysync.server.passwords import new_token, token_hash, verify_password
from ferrysync.server.routes.common import iso
from ferrysync.server.store.base import Device
from ferrysync.server.store.rows import now_ms
from ferrysync.server.throttle import LoginThrottle, too_many
from ferrysync.server.tokens import expires_at, renew_after

router = APIRouter(prefix="/v1")
Ctx = Annotated[AppContext, Depends(get_ctx)]

try:
    VERSION = version("ferrysync")
except PackageNotFoundError:  # running from a source tree
    VERSION = "0.0.0"


@router.get("/health", response_model=HealthResponse, tags=["meta"])
def health() -> dict[str, Any]:
    return {"ok": True, "version": VERSION}


@router.get("/limits", response_model=LimitsResponse, tags=["meta"])
def limits() -> dict[str, int]:
    """The limits this server enforces (no auth): clients size their requests by them."""
    return {name: p.value for name, p in PUBLISHED.items()}


@router.post("/login", response_model=LoginResponse, tags=["auth"],
             responses={401: {"description": "wrong user name or password"},
                        429: {"description": "too many failed logins for this account or address: see Retry-After"},
                        503: {"description": "too many logins at once: see Retry-After"}})
async def login(body: LoginRequest, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Exchange a password for a device token (shown once; the server keeps only its SHA-256)."""
    throttle = LoginThrottle.of(ctx.meta, ctx.config)
    host = request.client.host if request.client is not None else None
    wait = await run_in_threadpool(throttle.retry_after, body.user, host)
    if wait:
        raise too_many(wait)
    found = await run_in_threadpool(ctx.meta.get_user, body.user)
    stored = found[1] if found is not None else None
    if not await ctx.hashing.run(verify_password, stored, body.password) or found is None:
        wait = await run_in_threadpool(throttle.failed, body.user, host)
        extra: dict[str, Any] = {"headers": {"Retry-After": str(wait)}, "retry_after": wait} if wait else {}
        raise ApiError(401, "unauthorized", "wrong user name or password", **extra)
    await run_in_threadpool(throttle.succeeded, body.user)
    token = new_token()
    device = await run_in_threadpool(ctx.meta.add_device, found[0].id, body.device_name, token_hash(token))
    return {"token": token, "user": found[0].name, **_token_info(ctx, device)}


def _token_info(ctx: AppContext, device: Device) -> dict[str, Any]:
    renew = renew_after(ctx.config, device)
    return {"device_id": device.id, "expires_at": iso(expires_at(ctx.config, device)), "renew_after": iso(renew),
            "renew_in": None if renew is None else max(0.0, (renew - now_ms()) / 1000)}


@router.get("/token", response_model=TokenInfo, tags=["auth"])
def token_info(caller: CallerDep, ctx: Ctx) -> dict[str, Any]:
    """When the calling token expires and when its device should renew it."""
    return _token_info(ctx, caller.device)


@router.post("/token/renew", response_model=LoginResponse, tags=["auth"],
             responses={401: {"description": "the token is unknown, revoked or expired: log in again"}})
def renew_token(caller: CallerDep, ctx: Ctx) -> dict[str, Any]:
    """Replace the calling token with a new one (shown once) that expires a full lifetime from now. The old token
    keeps working for a grace period, so a device that lost this answer can renew again with it."""
    token = new_token()
    # The old token works on for a grace period, but never past the expiry it had.
    grace_until = now_ms() + int(TOKEN_RENEW_GRACE_S * 1000)
    if (old_expiry := expires_at(ctx.config, caller.device)) is not None:
        grace_until = min(grace_until, old_expiry)
    issued = ctx.meta.renew_token(caller.device.id, caller.device.token_hash, token_hash(token), grace_until)
    if issued is None:
        raise ApiError(401, "unauthorized", "invalid or revoked token")
    device = dataclasses.replace(caller.device, token_issued_at=issued, previous=False)
    return {"token": token, "user": device.user_name, **_token_info(ctx, device)}


@router.post("/logout", response_model=Empty, tags=["auth"])
def logout(caller: CallerDep, ctx: Ctx) -> dict[str, Any]:
    """Revoke the calling device's token."""
    ctx.meta.revoke_device(caller.device.id, caller.user_id)
    return {}


@router.get("/devices", response_model=DevicesResponse, tags=["auth"])
def list_devices(caller: CallerDep, ctx: Ctx) -> dict[str, Any]:
    devices = ctx.meta.list_devices(caller.user_id)
    return {"devices": [{"device_id": d.id, "name": d.name, "created_at": iso(d.created_at),
                         "last_seen": iso(d.last_seen), "expires_at": iso(expires_at(ctx.config, d)),
                         "current": d.id == caller.device.id} for d in devices]}


@router.delete("/devices/{device_id}", response_model=Empty, tags=["auth"],
               responses={404: {"description": "no such device of this user"}})
def revoke_device(device_id: str, caller: CallerDep, ctx: Ctx) -> dict[str, Any]:
    if not ctx.meta.revoke_device(device_id, caller.user_id):
        raise ApiError(404, "not_found", "no such device")
    return {}


@router.get("/account", response_model=AccountResponse, tags=["auth"])
def account(caller: CallerDep, ctx: Ctx) -> dict[str, Any]:
    use = ctx.meta.usage(caller.user_id)
    return {"user": caller.device.user_name, "bytes": use.bytes, "files": use.files,
            "blocks_bytes": use.blocks_bytes, "quota_bytes": use.quota_bytes}
