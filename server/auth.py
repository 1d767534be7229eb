"""The request dependency that authenticates a device by its bearer token."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ferrysync.server.context import AppContext, get_ctx
from ferrysync.server.errors import ApiError
from ferrysync.server.passwords import token_hash
from ferrysync.server.store.base import Device

bearer = HTTPBearer(auto_error=False, description="A device token from POST /v1/login")


@dataclass(frozen=True)
class Caller:
    """The authenticated device making a request."""

    device: Device

    @property
    def user_id(self) -> int:
        return self.device.user_id


def current_caller(
    ctx: Annotated[AppContext, Depends(get_ctx)],
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise ApiError(401, "unauthorized", "missing bearer token")
    digest = token_hash(creds.credentials)
    device = ctx.meta.device_by_token(digest)
    # Found by an index on the digest; the final equality check on the stored digest is constant-time.
    if device is None or not hmac.compare_digest(digest, device.token_hash):
        raise ApiError(401, "unauthorized", "invalid or revoked token")
    ctx.meta.touch_device(device)
    return Caller(device=device)


CallerDep = Annotated[Caller, Depends(current_caller)]
