"""Workflow Builder steps waiting for their request's outcome.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.String(255)
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "workflow_steps",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("function_execution_id", ID, nullable=False, unique=True),
        sa.Column("token_encrypted", sa.Text, nullable=False),
        sa.Column("workflow_id", ID, nullable=False),
        sa.Column("request_id", ID),
        sa.Column("submitter", ID, nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("claimed_by", ID),
        sa.Column("claimed_at", AT),
        sa.Column("completed_at", AT),
        sa.Column("outcome", sa.String(64)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_workflow_steps_completed_at", "workflow_steps", ["completed_at"])
    op.create_index("ix_workflow_steps_request", "workflow_steps", ["workflow_id", "request_id"])


def downgrade() -> None:
    op.drop_index("ix_workflow_steps_request", "workflow_steps")
    op.drop_index("ix_workflow_steps_completed_at", "workflow_steps")
    op.drop_table("workflow_steps")
