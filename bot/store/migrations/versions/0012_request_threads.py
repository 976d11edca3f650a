"""Replies in the threads of the messages requests were made from.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.String(255)
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "request_threads",
        sa.Column("workflow_id", ID, primary_key=True),
        sa.Column("request_id", ID, primary_key=True),
        sa.Column("channel", ID, nullable=False),
        sa.Column("thread_ts", ID, nullable=False),
        sa.Column("requested_by", ID, nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("ts", ID),
        sa.Column("outcome", sa.String(64)),
    )


def downgrade() -> None:
    op.drop_table("request_threads")
