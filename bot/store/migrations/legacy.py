"""Databases made before Alembic, brought to its baseline with their data.

Those releases numbered their migrations 1..3 in a `schema_version` table, and version 3
is exactly the Alembic baseline. So such a database takes the steps it missed (frozen
here as the SQL those releases ran, never following bot/store/schema.py), loses the old
table, and is then stamped with the baseline by the caller.
"""

from __future__ import annotations

from sqlalchemy import Connection, inspect, text

from bot.store.errors import SchemaTooNewError

LAST_VERSION = 3  # the last hand-written migration: the layout of the Alembic baseline
CARD_COLUMNS = "workflow_id, request_id, channel, kind, ts, slack_user_id, created_at"
CARDS_BY_SLOT = (
    "CREATE TABLE cards_v2 (workflow_id VARCHAR(255) NOT NULL,"
    " request_id VARCHAR(255) NOT NULL, channel VARCHAR(255) NOT NULL,"
    " slot VARCHAR(32) DEFAULT '' NOT NULL, kind VARCHAR(16) NOT NULL, ts VARCHAR(64),"
    " slack_user_id VARCHAR(255), created_at {ts} NOT NULL, payload TEXT,"
    " thread_ts VARCHAR(64), failure VARCHAR(64), failed_at {ts},"
    " PRIMARY KEY (workflow_id, request_id, channel, slot))",
    f"INSERT INTO cards_v2 ({CARD_COLUMNS}, slot) SELECT {CARD_COLUMNS}, '' FROM cards",
    "DROP TABLE cards",
    "ALTER TABLE cards_v2 RENAME TO cards",
)
TRACKED_EVENTS = (
    "ALTER TABLE tracked_requests ADD COLUMN seq INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE tracked_requests ADD COLUMN visit INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE tracked_requests ADD COLUMN retry_at {ts}",
    "ALTER TABLE tracked_requests ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
)
REFUSED_KEYS = ("ALTER TABLE links ADD COLUMN key_refused_at {ts}",)
STEPS = ((2, CARDS_BY_SLOT + TRACKED_EVENTS), (3, REFUSED_KEYS))


def bring_to_baseline(conn: Connection) -> bool:
    """True when this was a pre-Alembic database, now at the baseline and to be stamped."""
    tables = set(inspect(conn).get_table_names())
    if "schema_version" not in tables or "alembic_version" in tables:
        return False
    found = conn.scalar(text("SELECT MAX(version) FROM schema_version")) or 0
    if found > LAST_VERSION:
        raise SchemaTooNewError(f"version {found}", f"version {LAST_VERSION}")
    conn.exec_driver_sql("DROP TABLE schema_version")
    if not found:  # the table alone, no step ever recorded: Alembic creates everything
        return False
    _run_steps(conn, found)
    _name_cards_key_as_fresh(conn)
    return True


def _run_steps(conn: Connection, found: int) -> None:
    timestamp = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
    for version, statements in STEPS:
        if version > found:
            for statement in statements:
                conn.exec_driver_sql(statement.format(ts=timestamp))


def _name_cards_key_as_fresh(conn: Connection) -> None:
    """Step 2 rebuilt `cards` as `cards_v2`, whose key PostgreSQL named cards_v2_pkey; a
    later revision touching that key must find the name a fresh database has."""
    if conn.dialect.name != "postgresql":
        return
    name = inspect(conn).get_pk_constraint("cards")["name"]
    if name != "cards_pkey":
        conn.exec_driver_sql(f'ALTER TABLE cards RENAME CONSTRAINT "{name}" TO cards_pkey')
