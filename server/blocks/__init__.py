"""Block storage behind the BlockStore protocol (local disk today)."""

from .base import BlockStore
from .disk import DiskBlockStore

__all__ = ["BlockStore", "DiskBlockStore"]
