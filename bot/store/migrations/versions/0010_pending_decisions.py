"""Decisions waiting out their workflow's undo window.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.String(255)
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pending_decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("workflow_id", ID, nullable=False),
        sa.Column("request_id", ID, nullable=False),
        sa.Column("ref", sa.Text, nullable=False),
        sa.Column("verb", sa.String(8), nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("slack_user_id", ID, nullable=False),
        sa.Column("cflow_username", ID),
        sa.Column("batch_id", sa.String(64)),
        sa.Column("due_at", AT, nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("claimed_by", ID),
        sa.Column("claimed_at", AT),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_pending_decisions_batch_id", "pending_decisions", ["batch_id"])
    op.create_index("ix_pending_decisions_due_at", "pending_decisions", ["due_at"])
    op.create_index(
        "ix_pending_decisions_request", "pending_decisions", ["workflow_id", "request_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_pending_decisions_request", "pending_decisions")
    op.drop_index("ix_pending_decisions_due_at", "pending_decisions")
    op.drop_index("ix_pending_decisions_batch_id", "pending_decisions")
    op.drop_table("pending_decisions")
