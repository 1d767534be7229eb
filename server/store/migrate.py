"""Schema migrations through Alembic, run at start-up by every process that opens the store.

A database made before migrations existed (tables, no `alembic_version`) is stamped at the first revision, whose
schema it already has, and then upgraded like any other. On PostgreSQL an advisory lock makes processes starting
together upgrade one at a time (the others then find nothing to do).
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

log = logging.getLogger("ferrysync.server.migrate")

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
FIRST_REVISION = "0001"
_PG_LOCK_ID = 0x46455252  # "FERR": the advisory lock key serialising migrations across processes


def alembic_config(conn: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade_schema(engine: Engine) -> None:
    """Bring the database to the newest revision; stamp a pre-migration database at the first one first."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_ID})
        current = current_revision(conn)
        if current == head_revision():
            return
        config = alembic_config(conn)
        if current is None and inspect(conn).has_table("users"):
            log.info("database predates migrations: stamping it at revision %s", FIRST_REVISION)
            command.stamp(config, FIRST_REVISION)
        log.info("upgrading the database schema from %s to %s", current or "(empty)", head_revision())
        command.upgrade(config, "head")
