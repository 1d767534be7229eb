"""What every route needs: the stores, the notifier and the config (held on app.state)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from .blocks.base import BlockStore
from .config import ServerConfig
from .metrics import Metrics
from .notifier import Notifier
from .store.base import MetaStore


@dataclass
class AppContext:
    config: ServerConfig
    meta: MetaStore
    blocks: BlockStore
    notifier: Notifier
    metrics: Metrics = field(default_factory=Metrics)


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx
