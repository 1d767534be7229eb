"""Health, login/logout, devices and account usage."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from ferrysync.server.auth import CallerDep
from ferrysync.server.context import AppContext, get_ctx
from ferrysync.server.errors import ApiError
from ferrysync.server.limits import PUBLISHED
from ferrysync.server.models import (
    AccountResponse,
    DevicesResponse,
    Empty,
    HealthResponse,
    LimitsResponse,
    LoginRequest,
    LoginResponse,
)
from ferrysync.server.passwords import new_token, token_hash, verify_password
from ferrysync.server.routes.common import iso

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
             responses={401: {"description": "wrong user name or password"}})
def login(body: LoginRequest, ctx: Ctx) -> dict[str, Any]:
    """Exchange a password for a device token (shown once; the server keeps only its SHA-256)."""
    found = ctx.meta.get_user(body.user)
    stored = found[1] if found is not None else None
    if not verify_password(stored, body.password) or found is None:
        raise ApiError(401, "unauthorized", "wrong user name or password")
    token = new_token()
    device = ctx.meta.add_device(found[0].id, body.device_name, token_hash(token))
    return {"token": token, "device_id": device.id, "user": found[0].name}


@router.post("/logout", response_model=Empty, tags=["auth"])
def logout(caller: CallerDep, ctx: Ctx) -> dict[str, Any]:
    """Revoke the calling device's token."""
    ctx.meta.revoke_device(caller.device.id, caller.user_id)
    return {}


@router.get("/devices", response_model=DevicesResponse, tags=["auth"])
def list_devices(caller: CallerDep, ctx: Ctx) -> dict[str, Any]:
    devices = ctx.meta.list_devices(caller.user_id)
    return {"devices": [{"device_id": d.id, "name": d.name, "created_at": iso(d.created_at),
                         "last_seen": iso(d.last_seen)} for d in devices]}


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
            "blocks_bytes": use.blocks_bytes}
