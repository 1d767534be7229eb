"""Device tokens that can expire: when a token stops working, and when its device should renew it.

A token expires `--token-ttl-days` after it was issued (at login, or at its last renewal); 0 means never. The
expiry is computed from the issue time and the setting in force now, so changing the setting applies to every
token at once. A device renews once two thirds of the lifetime have passed (POST /v1/token/renew), which leaves a
device that is off for a while a third of the lifetime to come back before it has to log in again.
"""

from __future__ import annotations

from ferrysync.server.config import ServerConfig
from ferrysync.server.store.base import Device


def expires_at(config: ServerConfig, device: Device) -> int | None:
    ttl = config.token_ttl_ms
    return None if ttl <= 0 else device.token_issued_at + ttl


def renew_after(config: ServerConfig, device: Device) -> int | None:
    ttl = config.token_ttl_ms
    return None if ttl <= 0 else device.token_issued_at + ttl * 2 // 3


def expired(config: ServerConfig, device: Device, now: int) -> bool:
    end = expires_at(config, device)
    return end is not None and now >= end
