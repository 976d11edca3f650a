"""Follow-ups: stage visits (for stats), reminders, escalations and hand-overs, each
workflow's own rules, who is away, and the hints of Cflow's hook.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.String(255)
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("preferences", sa.Column("away_until", AT))
    op.add_column("preferences", sa.Column("delegate", ID))
    op.create_table(
        "stage_visits",
        sa.Column("workflow_id", ID, primary_key=True),
        sa.Column("request_id", ID, primary_key=True),
        sa.Column("visit", sa.Integer, primary_key=True),
        sa.Column("workflow_name", sa.Text, nullable=False),
        sa.Column("stage", sa.Text),
        sa.Column("stage_name", sa.Text),
        sa.Column("reviewers", sa.Text, nullable=False),
        sa.Column("submitted_by", ID),
        sa.Column("title", sa.Text),
        sa.Column("arrived_at", AT, nullable=False),
        sa.Column("left_at", AT),
        sa.Column("outcome", sa.String(32)),
        sa.Column("decided_by", ID),
    )
    op.create_index("ix_stage_visits_left_at", "stage_visits", ["left_at"])
    op.create_table(
        "followups",
        sa.Column("workflow_id", ID, primary_key=True),
        sa.Column("request_id", ID, primary_key=True),
        sa.Column("visit", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("reviewer", ID, primary_key=True),
        sa.Column("arrived_at", AT, nullable=False),
        sa.Column("due_at", AT),
        sa.Column("sent", sa.Integer, nullable=False, server_default="0"),
        sa.Column("claimed_until", AT),
        sa.Column("sent_at", AT),
    )
    op.create_index("ix_followups_due_at", "followups", ["due_at"])
    op.create_table(
        "refresh_hints",
        sa.Column("workflow_id", ID, primary_key=True),
        sa.Column("at", AT, nullable=False),
    )
    op.create_table(
        "workflow_rules",
        sa.Column("workflow_id", ID, primary_key=True),
        sa.Column("remind_after", sa.Float),
        sa.Column("escalate_after", sa.Float),
        sa.Column("escalate_to", sa.Text, nullable=False),
        sa.Column("updated_by", ID),
    )


def downgrade() -> None:
    op.drop_table("workflow_rules")
    op.drop_table("refresh_hints")
    op.drop_table("followups")
    op.drop_table("stage_visits")
    with op.batch_alter_table("preferences") as batch:
        batch.drop_column("delegate")
        batch.drop_column("away_until")
