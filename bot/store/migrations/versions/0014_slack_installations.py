"""Slack's OAuth installs: slack-sdk's installation and state store tables.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05

The columns are slack-sdk's own (SQLAlchemyInstallationStore.build_*_table), written out
here so that this revision stays what it was whatever a later slack-sdk builds; only the
token columns are TEXT, since the bot stores them encrypted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.String(32)
NAME = sa.String(200)
TOKEN = sa.Text  # encrypted: a Fernet token outgrows slack-sdk's VARCHAR(200)
SCOPES = sa.String(1000)


def _owner() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("app_id", ID, nullable=False),
        sa.Column("enterprise_id", ID),
        sa.Column("enterprise_name", NAME),
    ]


def _bot() -> list[sa.Column[object]]:
    return [
        sa.Column("bot_token", TOKEN),
        sa.Column("bot_id", ID),
        sa.Column("bot_user_id", ID),
        sa.Column("bot_scopes", SCOPES),
        sa.Column("bot_refresh_token", TOKEN),
        sa.Column("bot_token_expires_at", sa.DateTime),
    ]


def upgrade() -> None:
    op.create_table(
        "slack_installations",
        *_owner(),
        sa.Column("enterprise_url", NAME),
        sa.Column("team_id", ID),
        sa.Column("team_name", NAME),
        *_bot(),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("user_token", TOKEN),
        sa.Column("user_scopes", SCOPES),
        sa.Column("user_refresh_token", TOKEN),
        sa.Column("user_token_expires_at", sa.DateTime),
        sa.Column("incoming_webhook_url", NAME),
        sa.Column("incoming_webhook_channel", NAME),
        sa.Column("incoming_webhook_channel_id", NAME),
        sa.Column("incoming_webhook_configuration_url", NAME),
        sa.Column("is_enterprise_install", sa.Boolean, nullable=False),
        sa.Column("token_type", ID),
        sa.Column("installed_at", sa.DateTime, nullable=False),
    )
    op.create_index(
        "slack_installations_idx",
        "slack_installations",
        ["client_id", "enterprise_id", "team_id", "user_id", "installed_at"],
    )
    op.create_table(
        "slack_bots",
        *_owner(),
        sa.Column("team_id", ID),
        sa.Column("team_name", NAME),
        *_bot(),
        sa.Column("is_enterprise_install", sa.Boolean, nullable=False),
        sa.Column("installed_at", sa.DateTime, nullable=False),
    )
    op.create_index(
        "slack_bots_idx",
        "slack_bots",
        ["client_id", "enterprise_id", "team_id", "installed_at"],
    )
    op.create_table(
        "slack_oauth_states",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("state", sa.String(200), nullable=False),
        sa.Column("expire_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("slack_oauth_states")
    op.drop_index("slack_bots_idx", "slack_bots")
    op.drop_table("slack_bots")
    op.drop_index("slack_installations_idx", "slack_installations")
    op.drop_table("slack_installations")
