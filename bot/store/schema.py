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
    # When Cflow last refused this key (401) or it stopped decrypting; cleared by linking.
    Column("key_refused_at", UtcDateTime),
)

# One row per message the bot posts about a request, claimed before it is posted: a card
# (updated as the request changes) or a one-off line (audit, outcome). `slot` tells two
# messages of one request in one channel apart: "" for the channel card, the visit for a
# reviewer's DM, "a<seq>"/"o<seq>" for the audit line and outcome of event <seq>.
cards = Table(
    "cards",
    metadata,
    Column("workflow_id", ID, primary_key=True),
    Column("request_id", ID, primary_key=True),
    Column("channel", ID, primary_key=True),
    Column("slot", String(32), primary_key=True, server_default=""),
    Column("kind", String(16), nullable=False),
    Column("ts", String(64)),
    Column("slack_user_id", ID),
    Column("created_at", UtcDateTime, nullable=False),
    Column("payload", Text),  # a one-off line's text, kept so a failed post can be retried
    Column("thread_ts", String(64)),
    Column("failure", String(64)),  # Slack's reason, when it refused this message for good
    Column("failed_at", UtcDateTime),
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
    Column("seq", Integer, nullable=False, server_default="0"),  # events published so far
    Column("visit", Integer, nullable=False, server_default="0"),  # seq that entered the stage
    Column("retry_at", UtcDateTime),  # some Slack effect failed for now: look again then
    Column("attempts", Integer, nullable=False, server_default="0"),
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


def _cards_by_slot(conn: Connection) -> None:
    """Rebuild `cards` with `slot` in its key (SQLite cannot alter a primary key)."""
    fresh = cards.to_metadata(MetaData(), name="cards_v2")
    fresh.create(conn)
    kept = ("workflow_id", "request_id", "channel", "kind", "ts", "slack_user_id", "created_at")
    columns = ", ".join(kept)
    conn.exec_driver_sql(f"INSERT INTO cards_v2 ({columns}, slot) SELECT {columns}, '' FROM cards")
    conn.exec_driver_sql("DROP TABLE cards")
    conn.exec_driver_sql("ALTER TABLE cards_v2 RENAME TO cards")


def _tracked_events(conn: Connection) -> None:
    timestamp = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
    for column in (
        "seq INTEGER NOT NULL DEFAULT 0",
        "visit INTEGER NOT NULL DEFAULT 0",
        f"retry_at {timestamp}",
        "attempts INTEGER NOT NULL DEFAULT 0",
    ):
        conn.exec_driver_sql(f"ALTER TABLE tracked_requests ADD COLUMN {column}")


def _events_and_slots(conn: Connection) -> None:
    _cards_by_slot(conn)
    _tracked_events(conn)


def _refused_keys(conn: Connection) -> None:
    timestamp = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
    conn.exec_driver_sql(f"ALTER TABLE links ADD COLUMN key_refused_at {timestamp}")


# Step 1 builds the newest layout, so a fresh database runs it and is stamped with every
# version; later steps (ALTER TABLE …, alongside the matching change to the tables above)
# only run on databases created before them.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "create every table", _create_all),
    Migration(2, "cards by slot, with failures; tracked requests count events", _events_and_slots),
    Migration(3, "links remember when their key stopped working", _refused_keys),
)
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
