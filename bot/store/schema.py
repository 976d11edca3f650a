"""Table layout and numbered migrations, shared by SQLite and PostgreSQL.

Only SQLAlchemy Core: the store maps rows to the frozen records of `bot.store.base`
itself, so no ORM identity map or session state sits between the handlers and the rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    func,
    insert,
    select,
)

from bot.store.errors import SchemaTooNewError


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends: SQLite keeps no zone, so it stores naive UTC.

    A naive datetime is taken as UTC rather than refused: Cflow's own timestamps (a request's
    updatedAt) may come without an offset, and refusing them would stall the poller.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            value = value.replace(tzinfo=UTC)
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JsonList(TypeDecorator[tuple[str, ...]]):
    """A tuple of strings as JSON text: portable, and small enough not to need JSONB."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Sequence[str] | None, dialect: Dialect) -> str | None:
        return None if value is None else json.dumps(list(value))

    def process_result_value(self, value: str | None, dialect: Dialect) -> tuple[str, ...]:
        return tuple(json.loads(value)) if value else ()


metadata = MetaData()

ID = String(255)

links = Table(
    "links",
    metadata,
    Column("slack_user_id", ID, primary_key=True),
    Column("cflow_username", ID, nullable=False, index=True),
    Column("user_key_encrypted", Text, nullable=False),
    Column("linked_by", ID),
    Column("linked_at", UtcDateTime, nullable=False),
)

cards = Table(
    "cards",
    metadata,
    Column("workflow_id", ID, primary_key=True),  # one card per (request, channel)
    Column("request_id", ID, primary_key=True),
    Column("channel", ID, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("ts", String(64)),
    Column("slack_user_id", ID),
    Column("created_at", UtcDateTime, nullable=False),
)

tracked_requests = Table(
    "tracked_requests",
    metadata,
    Column("workflow_id", ID, primary_key=True),
    Column("request_id", ID, primary_key=True),
    Column("status", String(64), nullable=False),
    Column("stage", Text),
    Column("reviewers", JsonList, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workflow_id", ID, nullable=False),
    Column("request_id", ID, nullable=False),
    Column("stage", Text),
    Column("action", String(64), nullable=False),
    Column("cflow_username", ID),
    Column("slack_user_id", ID),
    Column("comment", Text),
    Column("reassigned_to", ID),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_decisions_request", "workflow_id", "request_id"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("workflow_id", ID, primary_key=True),
    Column("channel_id", ID, nullable=False),
    Column("created_by", ID),
    Column("created_at", UtcDateTime, nullable=False),
)

locks = Table(
    "locks",
    metadata,
    Column("name", ID, primary_key=True),
    Column("holder", ID, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)

POLL_RUN_ID = 1  # poll_runs keeps one row: only the last cycle matters to /healthz

poll_runs = Table(
    "poll_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("duration", Float, nullable=False),
    Column("workflows", Integer, nullable=False),
    Column("pending", Integer, nullable=False),
    Column("errors", JsonList, nullable=False),
)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", UtcDateTime, nullable=False),
)


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], Any]


def _create_all(conn: Connection) -> None:
    metadata.create_all(conn, checkfirst=True)


# Step 1 builds the newest layout, so a fresh database runs it and is stamped with every
# version; later steps (ALTER TABLE …, alongside the matching change to the tables above)
# only run on databases created before them.
MIGRATIONS: tuple[Migration, ...] = (Migration(1, "create every table", _create_all),)
LATEST = MIGRATIONS[-1].version


def migrate(conn: Connection) -> int:
    """Bring the schema to LATEST inside the caller's (exclusive) transaction."""
    schema_version.create(conn, checkfirst=True)
    current = conn.scalar(select(func.max(schema_version.c.version))) or 0
    if current > LATEST:
        raise SchemaTooNewError(current, LATEST)
    steps = MIGRATIONS[:1] if current == 0 else [m for m in MIGRATIONS if m.version > current]
    for step in steps:
        step.apply(conn)
    _record(conn, [m.version for m in MIGRATIONS if m.version > current])
    return LATEST


def _record(conn: Connection, versions: list[int]) -> None:
    if versions:
        now = datetime.now(UTC)
        rows = [{"version": version, "applied_at": now} for version in versions]
        conn.execute(insert(schema_version), rows)
