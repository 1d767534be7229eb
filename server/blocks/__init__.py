"""Block storage behind the BlockStore protocol (local disk today)."""

from ferrysync.server.blocks.base import BlockStore
from ferrysync.server.blocks.disk import DiskBlockStore

__all__ = ["BlockStore", "DiskBlockStore"]
