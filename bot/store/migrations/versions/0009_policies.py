"""Per-workflow decision policies (`/cflow policy`), and the log of their changes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.String(255)
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "workflow_policies",
        sa.Column("workflow_id", ID, primary_key=True),
        sa.Column("comment", sa.String(8), nullable=False),
        sa.Column("self_approval", sa.String(8), nullable=False),
        sa.Column("web_only_field", sa.Text),
        sa.Column("web_only_op", sa.String(2)),
        sa.Column("web_only_value", sa.String(64)),
        sa.Column("undo_seconds", sa.Integer, nullable=False),
        sa.Column("channel_fields", sa.Text),
        sa.Column("updated_by", ID),
        sa.Column("updated_at", AT),
    )
    op.create_table(
        "policy_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("workflow_id", ID, nullable=False),
        sa.Column("setting", sa.String(32), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("changed_by", ID, nullable=False),
        sa.Column("at", AT, nullable=False),
    )
    op.create_index("ix_policy_changes_workflow_id", "policy_changes", ["workflow_id"])


def downgrade() -> None:
    op.drop_index("ix_policy_changes_workflow_id", "policy_changes")
    op.drop_table("policy_changes")
    op.drop_table("workflow_policies")
