"""One vocabulary: a message standing for many requests is a roundup (it was a "burst",
which now names only a spike of arrivals), and follow-ups' kinds are the glossary's nouns.

Renames the table `burst_members` to `roundup_members` (with its index, and on
PostgreSQL its primary key), and rewrites the stored words, keeping every row: cards of
kind "burst" / "burst_dm" become "roundup" / "roundup_dm", the sentinel workflow id
"~burst" becomes "~roundup" in every table with a workflow id, and follow-ups of kind
"remind" / "escalate" / "delegate" become "reminder" / "escalation" / "handover".
Messages already in Slack keep the old words in their metadata and their ids; the code
reads both (bot.store.records.LEGACY_CARD_KINDS, bot.sync.delivery).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

# Every table with a workflow id in this revision, whichever may hold the sentinel: the
# sentinel is rewritten wherever it is, not only where today's code writes it.
WITH_WORKFLOW_ID = (
    "cards",
    "tracked_requests",
    "decisions",
    "subscriptions",
    "stage_visits",
    "followups",
    "refresh_hints",
    "workflow_rules",
    "workflow_routes",
)
SENTINEL = {"~burst": "~roundup"}
CARD_KINDS = {"burst": "roundup", "burst_dm": "roundup_dm"}
FOLLOWUP_KINDS = {"remind": "reminder", "escalate": "escalation", "delegate": "handover"}
TABLE = {"burst_members": "roundup_members"}
INDEX = {"ix_burst_members_request": "ix_roundup_members_request"}
PRIMARY_KEY = {"burst_members_pkey": "roundup_members_pkey"}  # PostgreSQL's own name


def upgrade() -> None:
    _rename_table(TABLE, INDEX, PRIMARY_KEY)
    _rewrite(SENTINEL, CARD_KINDS, FOLLOWUP_KINDS)


def downgrade() -> None:
    _rewrite(_back(SENTINEL), _back(CARD_KINDS), _back(FOLLOWUP_KINDS))
    _rename_table(_back(TABLE), _back(INDEX), _back(PRIMARY_KEY))


def _back(words: dict[str, str]) -> dict[str, str]:
    return {new: old for old, new in words.items()}


def _rename_table(table: dict[str, str], index: dict[str, str], key: dict[str, str]) -> None:
    [(old, new)] = table.items()
    [(old_index, new_index)] = index.items()
    op.rename_table(old, new)
    if op.get_bind().dialect.name == "postgresql":
        [(old_key, new_key)] = key.items()
        op.execute(f"ALTER INDEX {old_index} RENAME TO {new_index}")
        op.execute(f"ALTER TABLE {new} RENAME CONSTRAINT {old_key} TO {new_key}")
    else:  # SQLite renames no index: the same one again, under its new name
        op.drop_index(old_index, table_name=new)
        op.create_index(new_index, new, ["workflow_id", "request_id"])


def _rewrite(
    sentinel: dict[str, str], card_kinds: dict[str, str], followup_kinds: dict[str, str]
) -> None:
    for name in WITH_WORKFLOW_ID:
        _replace(name, "workflow_id", sentinel)
    _replace("cards", "kind", card_kinds)
    _replace("followups", "kind", followup_kinds)


def _replace(name: str, column: str, words: dict[str, str]) -> None:
    table = sa.table(name, sa.column(column, sa.String))
    for old, new in words.items():
        op.execute(table.update().where(table.c[column] == old).values({column: new}))
