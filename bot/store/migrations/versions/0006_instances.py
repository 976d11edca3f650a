"""Who is alive: each instance's heartbeat, and which instance claimed each card and is
delivering each recorded change, so that work left by a stopped instance is taken over
in seconds rather than when its claims age.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.String(255)
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "instances",
        sa.Column("instance_id", ID, primary_key=True),
        sa.Column("beat_at", AT, nullable=False),
    )
    op.add_column("cards", sa.Column("claimed_by", ID))
    op.add_column("tracked_requests", sa.Column("owner", ID))


def downgrade() -> None:
    with op.batch_alter_table("tracked_requests") as batch:
        batch.drop_column("owner")
    with op.batch_alter_table("cards") as batch:
        batch.drop_column("claimed_by")
    op.drop_table("instances")
