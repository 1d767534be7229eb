"""Metadata storage behind the MetaStore protocol (SQL via SQLAlchemy Core)."""

from .base import MetaStore
from .sql import SqlMetaStore, UserExists

__all__ = ["MetaStore", "SqlMetaStore", "UserExists"]
