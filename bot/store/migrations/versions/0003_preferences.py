"""Preferences: how each person is told, the daily digests of people and channels, and
who has opened their Home tab (with what they ticked there).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.String(255)
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "preferences",
        sa.Column("slack_user_id", ID, primary_key=True),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("digest_at", sa.Integer, nullable=False),
        sa.Column("final_dms", sa.Boolean, nullable=False),
        sa.Column("quiet_from", sa.Integer),
        sa.Column("quiet_to", sa.Integer),
        sa.Column("work_days", sa.String(7), nullable=False),
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("next_run_at", AT),
        sa.Column("claimed_until", AT),
    )
    op.create_index("ix_preferences_next_run_at", "preferences", ["next_run_at"])
    op.create_table(
        "channel_digests",
        sa.Column("channel_id", ID, primary_key=True),
        sa.Column("at", sa.Integer, nullable=False),
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("created_by", ID),
        sa.Column("next_run_at", AT),
        sa.Column("claimed_until", AT),
    )
    op.create_index("ix_channel_digests_next_run_at", "channel_digests", ["next_run_at"])
    op.create_table(
        "home_tabs",
        sa.Column("slack_user_id", ID, primary_key=True),
        sa.Column("opened_at", AT, nullable=False),
        sa.Column("selected", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("home_tabs")
    op.drop_table("channel_digests")
    op.drop_table("preferences")
