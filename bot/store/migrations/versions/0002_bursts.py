"""Bursts: requests shown in one summary or grouped DM instead of a card or DM each.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.String(255)
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "burst_members",
        sa.Column("group_id", ID, primary_key=True),
        sa.Column("workflow_id", ID, primary_key=True),
        sa.Column("request_id", ID, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", ID, nullable=False),
        sa.Column("visit", sa.Integer, nullable=False, server_default="0"),
        sa.Column("item", sa.Text, nullable=False),
        sa.Column("created_at", AT, nullable=False),
    )
    op.create_index("ix_burst_members_request", "burst_members", ["workflow_id", "request_id"])


def downgrade() -> None:
    op.drop_table("burst_members")
