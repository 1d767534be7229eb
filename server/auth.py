"""The request dependency that authenticates a device by its bearer token."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from ferrysync.server.context import AppContext, get_ctx
from ferrysync.server.errors import ApiError
from ferrysync.server.passwords import token_hash
from ferrysync.server.store.base import Device
from ferrysync.server.store.rows import now_ms
from ferrysync.server.tokens import expired

bearer = HTTPBearer(auto_error=False, description="A device token from POST /v1/login")


@dataclass(frozen=True)
class Caller:
    """The authenticated device making a request."""

    device: Device

    @property
    def user_id(self) -> int:
        return self.device.user_id


def authenticate(ctx: AppContext, token: str) -> Device:
    """The active device `token` belongs to; ApiError 401 when it is unknown, revoked or expired."""
    digest = token_hash(token)
    device = ctx.meta.device_by_token(digest)
    # Found by an index on the digest; the final equality check on the stored digest is constant-time.
    if device is None or not hmac.compare_digest(digest, device.token_hash):
        raise ApiError(401, "unauthorized", "invalid or revoked token")
    if expired(ctx.config, device, now_ms()):
        raise ApiError(401, "token_expired", "this device's token has expired: log in again")
    return device


def current_caller(
    ctx: Annotated[AppContext, Depends(get_ctx)],
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise ApiError(401, "unauthorized", "missing bearer token")
    device = authenticate(ctx, creds.credentials)
    ctx.meta.touch_device(device)
    return Caller(device=device)


CallerDep = Annotated[Caller, Depends(current_caller)]


async def scope_authenticated(scope: Scope) -> bool:
    """Whether a request carries a valid device token (for the body limit, before the route runs)."""
    value = next((v for k, v in scope.get("headers", ()) if k == b"authorization"), b"")
    scheme, _, token = value.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    ctx: AppContext = scope["app"].state.ctx
    try:
        await run_in_threadpool(authenticate, ctx, token.strip())
    except ApiError:
        return False
    return True
