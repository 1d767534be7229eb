"""What every route needs: the stores, the notifier and the config (held on app.state)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from ferrysync.server.blocks.base import BlockStore
from ferrysync.server.config import ServerConfig
from ferrysync.server.metrics import Metrics
from ferrysync.server.notifier import Notifier
from ferrysync.server.store.base import MetaStore
from ferrysync.server.throttle import HashPool


@dataclass
class AppContext:
    config: ServerConfig
    meta: MetaStore
    blocks: BlockStore
    notifier: Notifier
    metrics: Metrics = field(default_factory=Metrics)
    hashing: HashPool = field(default_factory=HashPool)  # argon2 runs here only (see throttle.py)


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx
