"""Alembic migrations: a fresh database, and databases made by the releases before Alembic.

The previous releases' databases are built with the exact DDL those releases emitted
(captured from their `migrate()` on each backend), filled as they filled them, and then
opened by this release, as an upgrade in production would.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pydantic import SecretStr
from sqlalchemy import Connection, inspect

from bot.store import (
    Card,
    Decision,
    KeyBox,
    SchemaTooNewError,
    SqlStore,
    Subscription,
    TrackedRequest,
    make_engine,
    open_store,
    schema,
)
from bot.store.migrations.runner import alembic_config, current_revisions, head_revision
from bot.store.records import LEGACY_ROUNDUP, ROUNDUP

# The store tests' fixtures: both backends, each test on an emptied database.
PLAIN_KEY = "plaintext-user-key-5f3a9c2e71"

AT = datetime(2026, 1, 1, tzinfo=UTC)
AT_TEXT = {"sqlite": "2026-01-01 00:00:00.000000", "postgresql": "2026-01-01 00:00:00+00"}
TIMESTAMP = {"sqlite": "DATETIME", "postgresql": "TIMESTAMP WITH TIME ZONE"}
SERIAL = {"sqlite": "INTEGER", "postgresql": "SERIAL"}

# What releases 1, 2 and 3 of the hand-written migrations created on an empty database.
LINKS = (
    "CREATE TABLE links (slack_user_id VARCHAR(255) NOT NULL,"
    " cflow_username VARCHAR(255) NOT NULL, user_key_encrypted TEXT NOT NULL,"
    " linked_by VARCHAR(255), linked_at {ts} NOT NULL,{refused} PRIMARY KEY (slack_user_id))"
)
CARDS_V1 = (
    "CREATE TABLE cards (workflow_id VARCHAR(255) NOT NULL, request_id VARCHAR(255) NOT NULL,"
    " channel VARCHAR(255) NOT NULL, kind VARCHAR(16) NOT NULL, ts VARCHAR(64),"
    " slack_user_id VARCHAR(255), created_at {ts} NOT NULL,"
    " PRIMARY KEY (workflow_id, request_id, channel))"
)
CARDS_V2 = (
    "CREATE TABLE cards (workflow_id VARCHAR(255) NOT NULL, request_id VARCHAR(255) NOT NULL,"
    " channel VARCHAR(255) NOT NULL, slot VARCHAR(32) DEFAULT '' NOT NULL,"
    " kind VARCHAR(16) NOT NULL, ts VARCHAR(64), slack_user_id VARCHAR(255),"
    " created_at {ts} NOT NULL, payload TEXT, thread_ts VARCHAR(64), failure VARCHAR(64),"
    " failed_at {ts}, PRIMARY KEY (workflow_id, request_id, channel, slot))"
)
TRACKED = (
    "CREATE TABLE tracked_requests (workflow_id VARCHAR(255) NOT NULL,"
    " request_id VARCHAR(255) NOT NULL, status VARCHAR(64) NOT NULL, stage TEXT,"
    " reviewers TEXT NOT NULL, updated_at {ts} NOT NULL,{events}"
    " PRIMARY KEY (workflow_id, request_id))"
)
EVENTS = (
    " seq INTEGER DEFAULT '0' NOT NULL, visit INTEGER DEFAULT '0' NOT NULL, retry_at {ts},"
    " attempts INTEGER DEFAULT '0' NOT NULL,"
)
UNCHANGED = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at {ts} NOT NULL,"
    " PRIMARY KEY (version))",
    "CREATE INDEX ix_links_cflow_username ON links (cflow_username)",
    "CREATE TABLE decisions (id {serial} NOT NULL, workflow_id VARCHAR(255) NOT NULL,"
    " request_id VARCHAR(255) NOT NULL, stage TEXT, action VARCHAR(64) NOT NULL,"
    " cflow_username VARCHAR(255), slack_user_id VARCHAR(255), comment TEXT,"
    " reassigned_to VARCHAR(255), at {ts} NOT NULL, PRIMARY KEY (id))",
    "CREATE INDEX ix_decisions_request ON decisions (workflow_id, request_id)",
    "CREATE TABLE subscriptions (workflow_id VARCHAR(255) NOT NULL,"
    " channel_id VARCHAR(255) NOT NULL, created_by VARCHAR(255), created_at {ts} NOT NULL,"
    " PRIMARY KEY (workflow_id))",
    "CREATE TABLE locks (name VARCHAR(255) NOT NULL, holder VARCHAR(255) NOT NULL,"
    " expires_at {ts} NOT NULL, PRIMARY KEY (name))",
    "CREATE TABLE poll_runs (id INTEGER NOT NULL, started_at {ts} NOT NULL,"
    " duration FLOAT NOT NULL, workflows INTEGER NOT NULL, pending INTEGER NOT NULL,"
    " errors TEXT NOT NULL, PRIMARY KEY (id))",
)
# Rows in the columns every one of those releases had.
ROWS = (
    "INSERT INTO links (slack_user_id, cflow_username, user_key_encrypted, linked_by,"
    " linked_at) VALUES ('U1', 'alice', '{token}', 'UADMIN', '{at}')",
    "INSERT INTO cards (workflow_id, request_id, channel, kind, ts, slack_user_id, created_at)"
    " VALUES ('wf', 'r1', 'C1', 'channel', '1.000100', NULL, '{at}')",
    "INSERT INTO tracked_requests (workflow_id, request_id, status, stage, reviewers,"
    " updated_at) VALUES ('wf', 'r1', 'pending', 's1', '[\"bob\"]', '{at}')",
    "INSERT INTO decisions (workflow_id, request_id, stage, action, cflow_username, at)"
    " VALUES ('wf', 'r1', 's0', 'approved', 'carol', '{at}')",
    "INSERT INTO subscriptions (workflow_id, channel_id, created_by, created_at)"
    " VALUES ('wf', 'C1', 'UADMIN', '{at}')",
)


def _dialect(database_url: str) -> str:
    return "postgresql" if database_url.startswith("postgres") else "sqlite"


def _previous_release(version: int, dialect: str, token: str) -> list[str]:
    """The statements a release at `version` ran, then rows as it wrote them."""
    tables = [
        LINKS.replace("{refused}", " key_refused_at {ts}," if version >= 3 else ""),
        CARDS_V2 if version >= 2 else CARDS_V1,
        TRACKED.replace("{events}", EVENTS if version >= 2 else ""),
        *UNCHANGED,
    ]
    marks = [f"INSERT INTO schema_version VALUES ({n}, '{{at}}')" for n in range(1, version + 1)]
    values = {"ts": TIMESTAMP[dialect], "serial": SERIAL[dialect], "at": AT_TEXT[dialect]}
    return [s.format(token=token, **values) for s in (*tables, *ROWS, *marks)]


async def _build(database_url: str, statements: list[str]) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.exec_driver_sql(statement)
    finally:
        await engine.dispose()


def _schema_state(conn: Connection) -> dict[str, Any]:
    """What a test needs to know of a migrated schema: its stamp, what differs from
    bot/store/schema.py (nothing, ideally), and names that differ by history."""
    inspector = inspect(conn)
    return {
        "revisions": current_revisions(conn),
        "differences": compare_metadata(MigrationContext.configure(conn), schema.metadata),
        "old version table": inspector.has_table("schema_version"),
        "cards key": inspector.get_pk_constraint("cards")["name"],
    }


async def _schema_of(store: SqlStore) -> dict[str, Any]:
    async with store.engine.connect() as conn:
        return await conn.run_sync(_schema_state)


def _as_fresh(database_url: str) -> dict[str, Any]:
    """The state of a database this release created itself."""
    return {
        "revisions": {head_revision()},
        "differences": [],
        "old version table": False,
        "cards key": "cards_pkey" if _dialect(database_url) == "postgresql" else None,
    }


async def test_a_fresh_database_is_exactly_the_schema_module(database_url: str, key: str) -> None:
    store = await open_store(database_url, [key])
    try:
        assert await _schema_of(store) == _as_fresh(database_url)
    finally:
        await store.close()


@pytest.mark.slow
@pytest.mark.parametrize("version", [1, 2, 3])
async def test_a_previous_release_database_is_upgraded_keeping_its_data(
    database_url: str, key: str, version: int
) -> None:
    token = KeyBox([key]).encrypt(SecretStr(PLAIN_KEY))
    await _build(database_url, _previous_release(version, _dialect(database_url), token))
    # Two instances of the new release start together on it: one upgrades, one waits.
    stores = [SqlStore(make_engine(database_url), KeyBox([key])) for _ in range(2)]
    try:
        await asyncio.gather(*(store.init() for store in stores))
        store = stores[0]
        link = await store.link_for("U1")
        assert link is not None and link.user_key.get_secret_value() == PLAIN_KEY
        assert (link.cflow_username, link.linked_by, link.linked_at) == ("alice", "UADMIN", AT)
        assert link.key_refused_at is None
        card = Card("wf", "r1", "C1", "channel", ts="1.000100", created_at=AT)
        assert await store.cards_for([card.key]) == {card.key: [card]}
        tracked = TrackedRequest("wf", "r1", "pending", "s1", ("bob",), AT)
        assert await store.tracked() == {tracked.key: tracked}
        decision = Decision("wf", "r1", "s0", "approved", "carol", AT)
        assert await store.decisions_for([card.key]) == {card.key: [decision]}
        assert await store.subscriptions() == {"wf": Subscription("wf", "C1", "UADMIN", AT)}
        assert await _schema_of(store) == _as_fresh(database_url)
        assert await store.claim_card(Card("wf", "r1", "C1", "audit", slot="a1"))
    finally:
        for store in stores:
            await store.close()


async def test_a_hand_written_version_newer_than_3_is_refused(database_url: str, key: str) -> None:
    dialect = _dialect(database_url)
    statements = _previous_release(3, dialect, "token")
    statements.append(f"INSERT INTO schema_version VALUES (4, '{AT_TEXT[dialect]}')")
    await _build(database_url, statements)
    with pytest.raises(SchemaTooNewError, match="version 4"):
        await open_store(database_url, [key])


# Revision 0008 (one vocabulary): rows written with the words of the revisions before it.
BEFORE_VOCABULARY = "0007"
OLD_WORDS = (
    "INSERT INTO cards (workflow_id, request_id, channel, slot, kind, ts, slack_user_id,"
    " created_at) VALUES ('wf', 'r1', 'C1', '', 'channel', '1.000100', NULL, '{at}'),"
    " ('~burst', 'g1', 'C1', '', 'burst', '2.000200', NULL, '{at}'),"
    " ('~burst', 'g2', 'D1', '', 'burst_dm', '3.000300', 'U1', '{at}')",
    "INSERT INTO burst_members (group_id, workflow_id, request_id, kind, target, visit, item,"
    " created_at) VALUES ('g1', 'wf', 'r1', 'channel', 'C1', 0, '{{}}', '{at}'),"
    " ('g1', 'wf', 'r2', 'channel', 'C1', 0, '{{}}', '{at}'),"
    " ('g2', 'wf', 'r1', 'dm', 'bob', 1, '{{}}', '{at}'),"
    " ('g3', 'wf', 'r1', 'reminder', 'bob', 1, '{{}}', '{at}')",
    "INSERT INTO followups (workflow_id, request_id, visit, kind, reviewer, arrived_at,"
    " due_at, sent) VALUES ('wf', 'r1', 1, 'remind', 'bob', '{at}', '{at}', 1),"
    " ('wf', 'r1', 1, 'escalate', '', '{at}', '{at}', 0),"
    " ('wf', 'r1', 1, 'delegate', 'bob', '{at}', NULL, 1)",
    # The sentinel is rewritten in every table, wherever an older release may have put it.
    "INSERT INTO tracked_requests (workflow_id, request_id, status, stage, reviewers,"
    " updated_at) VALUES ('~burst', 'g1', 'pending', NULL, '[]', '{at}')",
    "INSERT INTO refresh_hints (workflow_id, at) VALUES ('~burst', '{at}')",
)


def _upgrade_to(revision: str) -> Any:
    def run(conn: Connection) -> None:
        command.upgrade(alembic_config(conn), revision)

    return run


def _downgrade_to(revision: str) -> Any:
    def run(conn: Connection) -> None:
        command.downgrade(alembic_config(conn), revision)

    return run


def _stored_words(conn: Connection) -> dict[str, Any]:
    """The words as the rows hold them (not as the store reads them), and the tables."""

    def rows(query: str) -> list[tuple[Any, ...]]:
        return sorted(tuple(row) for row in conn.exec_driver_sql(query))

    tables = set(inspect(conn).get_table_names())
    members = "roundup_members" if "roundup_members" in tables else "burst_members"
    return {
        "cards": rows("SELECT workflow_id, request_id, channel, kind FROM cards"),
        "members": rows(f"SELECT group_id, request_id, kind, target FROM {members}"),
        "member indexes": sorted(i["name"] for i in inspect(conn).get_indexes(members)),
        "followups": rows("SELECT kind, reviewer, sent FROM followups"),
        "tracked": rows("SELECT workflow_id, request_id FROM tracked_requests"),
        "hints": rows("SELECT workflow_id FROM refresh_hints"),
        "tables": sorted(tables & {"burst_members", "roundup_members"}),
    }


def _members_key(conn: Connection) -> str | None:
    """The name of roundup_members' primary key (PostgreSQL names it after its table)."""
    name: str | None = inspect(conn).get_pk_constraint("roundup_members")["name"]
    return name


def _words(sentinel: str, kinds: tuple[str, str], followups: tuple[str, str, str]) -> Any:
    table = "roundup_members" if sentinel == "~roundup" else "burst_members"
    remind, escalate, delegate = followups
    return {
        "cards": sorted(
            [
                ("wf", "r1", "C1", "channel"),
                (sentinel, "g1", "C1", kinds[0]),
                (sentinel, "g2", "D1", kinds[1]),
            ]
        ),
        "members": [
            ("g1", "r1", "channel", "C1"),
            ("g1", "r2", "channel", "C1"),
            ("g2", "r1", "dm", "bob"),
            ("g3", "r1", "reminder", "bob"),
        ],
        "member indexes": [f"ix_{table}_request"],
        "followups": sorted([(remind, "bob", 1), (escalate, "", 0), (delegate, "bob", 1)]),
        "tracked": [(sentinel, "g1")],
        "hints": [(sentinel,)],
        "tables": [table],
    }


OLD = _words("~burst", ("burst", "burst_dm"), ("remind", "escalate", "delegate"))
NEW = _words("~roundup", ("roundup", "roundup_dm"), ("reminder", "escalation", "handover"))


async def test_the_vocabulary_revision_keeps_every_row_under_the_new_words(
    database_url: str, key: str
) -> None:
    dialect = _dialect(database_url)
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade_to(BEFORE_VOCABULARY))
            for statement in OLD_WORDS:
                await conn.exec_driver_sql(statement.format(at=AT_TEXT[dialect]))
            assert await conn.run_sync(_stored_words) == OLD
    finally:
        await engine.dispose()
    store = await open_store(database_url, [key])  # as a start of this release upgrades it
    try:
        async with store.engine.connect() as conn:
            assert await conn.run_sync(_stored_words) == NEW
            named = await conn.run_sync(_members_key)
        assert named == ("roundup_members_pkey" if dialect == "postgresql" else None)
        assert await _schema_of(store) == _as_fresh(database_url)
        cards = await store.cards_for([(ROUNDUP, "g1"), (ROUNDUP, "g2")])
        assert [c.kind for key in cards for c in cards[key]] == ["roundup", "roundup_dm"]
        members = await store.roundup_members(["g1", "g2", "g3"])
        assert {g: [m.request_id for m in ms] for g, ms in members.items()} == {
            "g1": ["r1", "r2"],
            "g2": ["r1"],
            "g3": ["r1"],
        }
        assert [m.group_id for m in (await store.roundups_for([("wf", "r2")]))[("wf", "r2")]] == [
            "g1"
        ]
        due = await store.claim_followups(AT, AT + timedelta(minutes=5))
        assert sorted(f.kind for f in due) == ["escalation", "reminder"]
        async with store.engine.begin() as conn:  # and back: the downgrade keeps them too
            await conn.run_sync(_downgrade_to(BEFORE_VOCABULARY))
            assert await conn.run_sync(_stored_words) == OLD
    finally:
        await store.close()


async def test_rows_an_older_release_writes_during_a_rolling_deploy_read_as_the_new_words(
    database_url: str, key: str
) -> None:
    """An instance of a release before 0008, still running while the new one starts, may
    write the old words after the upgrade: the store reads them as the new ones."""
    store = await open_store(database_url, [key])
    try:
        async with store.engine.begin() as conn:
            for statement in (OLD_WORDS[0], OLD_WORDS[2]):
                await conn.exec_driver_sql(statement.format(at=AT_TEXT[_dialect(database_url)]))
        cards = await store.cards_for([(LEGACY_ROUNDUP, "g1"), (LEGACY_ROUNDUP, "g2")])
        assert [c.kind for key in cards for c in cards[key]] == ["roundup", "roundup_dm"]
        due = await store.claim_followups(AT, AT + timedelta(minutes=5))
        assert sorted(f.kind for f in due) == ["escalation", "reminder"]
        reminder = next(f for f in due if f.kind == "reminder")
        await store.followups_done([replace(reminder, sent=2, due_at=None)])
        assert await store.snooze_followups([("wf", "r1")], "bob", AT) == 1
        again = await store.claim_followups(AT, AT + timedelta(minutes=10))
        assert [(f.kind, f.sent) for f in again] == [("reminder", 1)]
    finally:
        await store.close()
