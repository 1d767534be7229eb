"""Metadata storage behind the MetaStore protocol (SQL via SQLAlchemy Core)."""

from ferrysync.server.store.base import MetaStore
from ferrysync.server.store.sql import SqlMetaStore, UserExists

__all__ = ["MetaStore", "SqlMetaStore", "UserExists"]
