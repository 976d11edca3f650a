"""Link previews (unfurls) of requests, kept current like cards.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.String(255)


def upgrade() -> None:
    op.create_table(
        "unfurls",
        sa.Column("channel", ID, primary_key=True),
        sa.Column("message_ts", sa.String(64), primary_key=True),
        sa.Column("url", sa.String(2048), primary_key=True),
        sa.Column("workflow_id", ID, nullable=False),
        sa.Column("request_id", ID, nullable=False),
        sa.Column("shared_by", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failure", sa.String(64)),
    )
    op.create_index("ix_unfurls_request", "unfurls", ["workflow_id", "request_id"])


def downgrade() -> None:
    op.drop_index("ix_unfurls_request", "unfurls")
    op.drop_table("unfurls")
