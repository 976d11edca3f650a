"""Where each workflow's cards go, as an admin chose: a workflow first seen after the
bot's first cycle waits for an admin before any channel shows it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.String(255)
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "workflow_routes",
        sa.Column("workflow_id", ID, primary_key=True),
        sa.Column("route", sa.String(16), nullable=False),
        sa.Column("name", sa.Text, nullable=False, server_default=""),
        sa.Column("first_seen_at", AT),
        sa.Column("set_by", ID),
        sa.Column("set_at", AT),
    )


def downgrade() -> None:
    op.drop_table("workflow_routes")
