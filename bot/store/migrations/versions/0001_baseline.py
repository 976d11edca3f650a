"""Baseline: the schema as the last hand-written migration (schema_version 3) left it.

Frozen on purpose: later changes to bot/store/schema.py come with a revision of their
own, so this file must never follow them. A database made by a release before Alembic
is brought to this layout by bot/store/migrations/legacy.py and stamped with it.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.String(255)
AT = sa.DateTime(timezone=True)  # UtcDateTime's column type on both backends
TABLES = (
    "links",
    "cards",
    "tracked_requests",
    "decisions",
    "subscriptions",
    "locks",
    "poll_runs",
)


def upgrade() -> None:
    _links()
    _cards()
    _tracked_requests()
    _decisions()
    _small_tables()


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)


def _links() -> None:
    op.create_table(
        "links",
        sa.Column("slack_user_id", ID, primary_key=True),
        sa.Column("cflow_username", ID, nullable=False),
        sa.Column("user_key_encrypted", sa.Text, nullable=False),
        sa.Column("linked_by", ID),
        sa.Column("linked_at", AT, nullable=False),
        sa.Column("key_refused_at", AT),
    )
    op.create_index("ix_links_cflow_username", "links", ["cflow_username"])


def _cards() -> None:
    op.create_table(
        "cards",
        sa.Column("workflow_id", ID, primary_key=True),
        sa.Column("request_id", ID, primary_key=True),
        sa.Column("channel", ID, primary_key=True),
        sa.Column("slot", sa.String(32), primary_key=True, server_default=""),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ts", sa.String(64)),
        sa.Column("slack_user_id", ID),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("payload", sa.Text),
        sa.Column("thread_ts", sa.String(64)),
        sa.Column("failure", sa.String(64)),
        sa.Column("failed_at", AT),
    )


def _tracked_requests() -> None:
    op.create_table(
        "tracked_requests",
        sa.Column("workflow_id", ID, primary_key=True),
        sa.Column("request_id", ID, primary_key=True),
        sa.Column("status", sa.String(64), nullable=False),
        sa.Column("stage", sa.Text),
        sa.Column("reviewers", sa.Text, nullable=False),
        sa.Column("updated_at", AT, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False, server_default="0"),
        sa.Column("visit", sa.Integer, nullable=False, server_default="0"),
        sa.Column("retry_at", AT),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    )


def _decisions() -> None:
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("workflow_id", ID, nullable=False),
        sa.Column("request_id", ID, nullable=False),
        sa.Column("stage", sa.Text),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("cflow_username", ID),
        sa.Column("slack_user_id", ID),
        sa.Column("comment", sa.Text),
        sa.Column("reassigned_to", ID),
        sa.Column("at", AT, nullable=False),
    )
    op.create_index("ix_decisions_request", "decisions", ["workflow_id", "request_id"])


def _small_tables() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("workflow_id", ID, primary_key=True),
        sa.Column("channel_id", ID, nullable=False),
        sa.Column("created_by", ID),
        sa.Column("created_at", AT, nullable=False),
    )
    op.create_table(
        "locks",
        sa.Column("name", ID, primary_key=True),
        sa.Column("holder", ID, nullable=False),
        sa.Column("expires_at", AT, nullable=False),
    )
    op.create_table(
        "poll_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("started_at", AT, nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("workflows", sa.Integer, nullable=False),
        sa.Column("pending", sa.Integer, nullable=False),
        sa.Column("errors", sa.Text, nullable=False),
    )
