"""Alembic, driven from code on the store's connection: hand-over, stamp check, upgrade."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from bot.store.errors import SchemaTooNewError
from bot.store.migrations.legacy import bring_to_baseline

HERE = Path(__file__).resolve().parent
BASELINE = "0001"  # the schema of the last release before Alembic
VERSION_TABLE = "alembic_version"  # Alembic's default, which env.py keeps


def upgrade(conn: Connection) -> str:
    """Bring the schema to the newest revision and return it; the caller commits."""
    script = _script()
    head = head_revision()
    if bring_to_baseline(conn):
        MigrationContext.configure(conn).stamp(script, BASELINE)
    found = current_revisions(conn)
    if found == {head}:
        return head  # the usual start: nothing to do, and nothing logged
    unknown = found - {revision.revision for revision in script.walk_revisions()}
    if unknown:
        raise SchemaTooNewError(f"revision {', '.join(sorted(unknown))}", f"revision {head}")
    command.upgrade(alembic_config(conn), "head")
    return head


def current_revisions(conn: Connection) -> set[str]:
    """The revisions the database is stamped with, read without an Alembic context (which
    logs two lines each time it is made)."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return set()
    return set(conn.scalars(text(f"SELECT version_num FROM {VERSION_TABLE}")))


def head_revision() -> str:
    """The newest revision this code knows."""
    head = _script().get_current_head()
    assert head is not None, "no revision in bot/store/migrations/versions"
    return head


@functools.cache
def _script() -> ScriptDirectory:
    """The revisions, read once a process: they cannot change while it runs."""
    return ScriptDirectory.from_config(alembic_config())


def alembic_config(conn: Connection | None = None) -> Config:
    """Alembic's settings in code; env.py runs the revisions on `conn` when given."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = conn
    return config
