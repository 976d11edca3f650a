"""The store's contract, run against SQLite and PostgreSQL alike.

PostgreSQL comes from TEST_DATABASE_URL (default: a local server). Unreachable, its
tests skip locally but fail when CI=true, so CI can never pass without exercising it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import event, text

from bot.store import (
    Card,
    Decision,
    KeyBox,
    Link,
    MissingSecretKeyError,
    PollRun,
    RequestKey,
    SchemaTooNewError,
    SqlStore,
    StoreKeyError,
    Subscription,
    TrackedRequest,
    UnreadableLinkError,
    database_url_for_sqlalchemy,
    generate_key,
    make_engine,
    open_store,
    schema,
)
from bot.store.migrations.runner import VERSION_TABLE, head_revision
from bot.store.records import (
    ChannelDigest,
    Followup,
    LinkedUser,
    PendingDecision,
    Preference,
    Reencrypted,
    RoundupMember,
    StageVisit,
)

PLAIN_KEY = "plaintext-user-key-5f3a9c2e71"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

MakeStore = Callable[..., Awaitable[SqlStore]]


# Fixtures


@pytest.fixture
async def make_store(database_url: str, key: str) -> AsyncIterator[MakeStore]:
    """Open stores on the test database (several, to play several processes)."""
    stores: list[SqlStore] = []

    async def make(keys: list[str] | None = None, *, init: bool = True) -> SqlStore:
        chosen = [key] if keys is None else keys
        if init:
            store = await open_store(database_url, chosen)
        else:
            store = SqlStore(make_engine(database_url), KeyBox(chosen) if chosen else None)
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.close()


@pytest.fixture
async def store(make_store: MakeStore) -> SqlStore:
    return await make_store()


@contextmanager
def statements(store: SqlStore) -> Iterator[list[str]]:
    """The SQL statements the block sends (an executemany counts once)."""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(store.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", record)


def _link(slack_user_id: str = "U1", username: str = "alice", **fields: Any) -> Link:
    return Link(slack_user_id, username, SecretStr(fields.pop("key", PLAIN_KEY)), **fields)


def _database_files(directory: Path) -> bytes:
    """The SQLite database with its WAL, wherever SQLite left the rows."""
    return b"".join(path.read_bytes() for path in sorted(directory.glob("store.db*")))


def _keys(count: int) -> list[RequestKey]:
    return [(f"wf{n % 7}", f"req{n}") for n in range(count)]


# Links


async def test_links_round_trip(store: SqlStore) -> None:
    await store.save_link(_link(linked_by="UADMIN", linked_at=T0))
    await store.save_link(_link("U2", "bob", key="bob-key"))

    alice = await store.link_for("U1")
    assert alice is not None
    assert (alice.cflow_username, alice.user_key.get_secret_value()) == ("alice", PLAIN_KEY)
    assert (alice.linked_by, alice.linked_at) == ("UADMIN", T0)
    assert await store.link_for("U404") is None
    found = await store.slack_users_for_cflow_users(["bob", "nobody", "bob"])
    assert found == {"bob": LinkedUser("U2")}
    bob = await store.link_for("U2")
    assert bob is not None and bob.user_key.get_secret_value() == "bob-key"
    assert bob.linked_at is not None and bob.linked_at.tzinfo == UTC
    assert [link.slack_user_id for link in await store.list_links()] == ["U1", "U2"]


async def test_relinking_replaces_and_delete_reports_presence(store: SqlStore) -> None:
    await store.save_link(_link())
    await store.save_link(_link(username="alice2", key="new-key"))
    link = await store.link_for("U1")
    assert link is not None
    assert (link.cflow_username, link.user_key.get_secret_value()) == ("alice2", "new-key")
    assert await store.delete_link("U1") is True
    assert await store.delete_link("U1") is False
    assert await store.list_links() == []


async def test_latest_link_wins_for_a_shared_cflow_user(store: SqlStore) -> None:
    await store.save_link(_link("U1", "shared", linked_at=T0 + timedelta(minutes=1)))
    await store.save_link(_link("U2", "shared", linked_at=T0))
    assert (await store.slack_users_for_cflow_users(["shared"]))["shared"].slack_user_id == "U1"


async def test_a_refused_key_is_remembered_until_the_person_links_again(store: SqlStore) -> None:
    await store.save_link(_link())
    await store.mark_key_refused("U1")
    link = await store.link_for("U1")
    assert link is not None and link.key_refused_at is not None
    assert await store.slack_users_for_cflow_users(["alice"]) == {"alice": LinkedUser("U1", False)}
    assert [info.key_refused_at is not None for info in await store.list_links()] == [True]
    await store.save_link(_link(key="the-new-key"))
    assert await store.slack_users_for_cflow_users(["alice"]) == {"alice": LinkedUser("U1")}


async def test_user_keys_are_encrypted_at_rest(
    store: SqlStore, database_url: str, tmp_path: Path
) -> None:
    await store.save_link(_link())
    async with store.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM links"))).all()
    assert len(rows) == 1
    assert PLAIN_KEY not in repr(tuple(rows[0]))
    await store.close()
    if database_url.startswith("sqlite"):
        raw = _database_files(tmp_path)
        assert b"alice" in raw  # the bytes read are the database's
        assert PLAIN_KEY.encode() not in raw


async def test_rotated_keys_still_decrypt_until_the_old_key_goes(make_store: MakeStore) -> None:
    old, new = generate_key(), generate_key()
    await (await make_store([old])).save_link(_link())

    both = await make_store([new, old])
    link = await both.link_for("U1")
    assert link is not None and link.user_key.get_secret_value() == PLAIN_KEY

    only_new = await make_store([new])
    with pytest.raises(UnreadableLinkError, match="CFLOW_BOT_SECRET_KEY") as raised:
        await only_new.link_for("U1")
    assert raised.value.slack_user_id == "U1"
    # Finding whom to DM needs no key, so an undecryptable one blocks nobody.
    assert await only_new.slack_users_for_cflow_users(["alice"]) == {"alice": LinkedUser("U1")}
    assert [info.readable for info in await only_new.list_links()] == [False]

    assert await both.reencrypt_links() == Reencrypted(1)
    link = await only_new.link_for("U1")
    assert link is not None and link.user_key.get_secret_value() == PLAIN_KEY
    assert [info.readable for info in await only_new.list_links()] == [True]


async def test_reencrypting_skips_and_names_the_keys_no_secret_reads(make_store: MakeStore) -> None:
    lost, kept = generate_key(), generate_key()
    await (await make_store([lost])).save_link(_link("U1"))
    await (await make_store([kept])).save_link(_link("U2", "bob"))
    store = await make_store([generate_key(), kept])
    assert await store.reencrypt_links() == Reencrypted(1, ("U1",))
    infos = {info.slack_user_id: info.readable for info in await store.list_links()}
    assert infos == {"U1": False, "U2": True}


async def test_a_store_without_keys_refuses_links(make_store: MakeStore) -> None:
    keyless = await make_store([])
    with pytest.raises(MissingSecretKeyError, match="CFLOW_BOT_SECRET_KEY"):
        await keyless.save_link(_link())
    assert await (await make_store()).list_links() == []
    assert await keyless.ping() is True  # the rest of the store still works


def test_keybox_rejects_bad_keys_without_echoing_them() -> None:
    with pytest.raises(StoreKeyError, match="#2") as caught:
        KeyBox([generate_key(), "not-a-fernet-key"])
    assert "not-a-fernet-key" not in str(caught.value)
    with pytest.raises(StoreKeyError):
        KeyBox([" "])
    box = KeyBox([generate_key()])
    assert box.decrypt(box.encrypt(SecretStr("x"))).get_secret_value() == "x"
    with pytest.raises(StoreKeyError):
        box.decrypt("garbage")


# Cards


async def test_claim_confirm_release(store: SqlStore) -> None:
    card = Card("wf", "r1", "C1", "channel")
    assert await store.claim_card(card) is True
    assert await store.claim_card(card) is False
    [claimed] = (await store.cards_for([card.key]))[card.key]
    assert claimed.ts is None

    await store.release_card(card)
    assert await store.cards_for([card.key]) == {card.key: []}
    assert await store.claim_card(card) is True

    await store.confirm_card(card, "1700000000.000100")
    await store.release_card(card)  # a posted card is not a claim any more
    [posted] = (await store.cards_for([card.key]))[card.key]
    assert posted.ts == "1700000000.000100"
    assert await store.claim_card(card) is False


async def test_a_dm_posted_to_a_user_id_moves_its_claim_to_the_dm_channel(
    store: SqlStore,
) -> None:
    claim = Card("wf", "r1", "U0BOB", "dm", slack_user_id="U0BOB", slot="1")
    assert await store.claim_card(claim)
    await store.confirm_card(claim, "1.000200", channel="D0BOB")
    [posted] = (await store.cards_for([claim.key]))[claim.key]
    assert (posted.channel, posted.ts, posted.slack_user_id) == ("D0BOB", "1.000200", "U0BOB")


async def test_roundups_record_their_members_and_keep_what_they_show_current(
    store: SqlStore,
) -> None:
    members = [
        RoundupMember("g1", "wf", f"r{n}", "channel", "C1", item=f"item {n}") for n in range(3)
    ] + [RoundupMember("g2", "wf", "r0", "dm", "bob", item="item 0", visit=1)]
    await store.add_roundup(members)
    found = await store.roundups_for([("wf", "r0"), ("wf", "r1"), ("wf", "none")])
    assert sorted(m.group_id for m in found[("wf", "r0")]) == ["g1", "g2"]
    assert [m.target for m in found[("wf", "r1")]] == ["C1"]
    assert found[("wf", "none")] == []
    await store.update_roundup_items({("wf", "r0"): "shown now"})
    groups = await store.roundup_members(["g1", "g2", "g3"])
    assert sorted(m.item for m in groups["g1"]) == ["item 1", "item 2", "shown now"]
    assert [(m.item, m.visit) for m in groups["g2"]] == [("shown now", 1)]
    assert groups["g3"] == []


async def test_concurrent_claims_have_one_winner(make_store: MakeStore) -> None:
    first, second = await make_store(), await make_store()
    card = Card("wf", "r1", "C1", "channel")
    won = await asyncio.gather(*(s.claim_card(card) for s in (first, second) * 3))
    assert won.count(True) == 1


@pytest.mark.slow
async def test_cards_for_many_requests_channel_cards_first(store: SqlStore) -> None:
    keys = _keys(600)
    for n, (workflow_id, request_id) in enumerate(keys):
        at = T0 + timedelta(seconds=n)
        dm = Card(workflow_id, request_id, f"D{n}", "dm", slack_user_id=f"U{n}", created_at=at)
        later_dm = Card(workflow_id, request_id, "Dlate", "dm", created_at=at + timedelta(hours=1))
        channel = Card(workflow_id, request_id, "C1", "channel", created_at=at + timedelta(hours=2))
        for card in (later_dm, channel, dm) if n % 50 == 0 else (dm, channel):
            assert await store.claim_card(card)

    found = await store.cards_for([*keys, ("wf", "none")])

    assert found[("wf", "none")] == []
    assert [c.channel for c in found[keys[1]]] == ["C1", "D1"]
    assert [c.channel for c in found[keys[550]]] == ["C1", "D550", "Dlate"]
    assert found[keys[1]][1].slack_user_id == "U1"
    assert found[keys[1]][1].created_at == T0 + timedelta(seconds=1)


# Tracked requests


async def test_tracked_upsert_and_forget(store: SqlStore) -> None:
    first = TrackedRequest("wf", "r1", "pending", "Manager", ("alice", "bob"), T0)
    second = TrackedRequest("wf", "r2", "pending", None)
    await store.save_tracked([first, second])
    moved = TrackedRequest("wf", "r1", "pending", "Finance", ("carol",), T0 + timedelta(hours=1))
    await store.save_tracked([moved])

    tracked = await store.tracked()
    assert tracked[first.key] == moved
    assert tracked[second.key].reviewers == ()
    assert tracked[second.key].updated_at is not None

    assert await store.tracked_for([first.key, ("wf", "unknown")]) == {first.key: moved}
    assert await store.tracked_for([]) == {}
    await store.forget([first.key, ("wf", "unknown")])
    assert list(await store.tracked()) == [second.key]
    await store.save_tracked([])
    await store.forget([])


async def test_a_tracked_request_never_goes_back_to_an_older_event(store: SqlStore) -> None:
    """A click and a poll cycle can publish one request at once, numbered alike."""
    clicked = TrackedRequest("wf", "r1", "pending", "Finance", ("carol",), T0, seq=1, visit=1)
    polled = TrackedRequest("wf", "r1", "pending", "Manager", ("bob",), T0 - timedelta(minutes=1))
    polled = replace(polled, seq=1, visit=1)
    await store.save_tracked([clicked])
    await store.save_tracked([polled])  # the poller saves what it saw before the click
    assert (await store.tracked())[clicked.key] == clicked
    later = replace(clicked, stage="Board", seq=2, updated_at=T0 - timedelta(hours=1))
    await store.save_tracked([later])  # a newer event wins whatever Cflow's clock says
    assert (await store.tracked())[clicked.key] == later


# Decisions


async def test_decisions_for_many_requests_oldest_first(store: SqlStore) -> None:
    keys = _keys(520)
    for n, (workflow_id, request_id) in enumerate(keys):
        await store.record_decision(
            Decision(workflow_id, request_id, "Manager", "approved", f"user{n}", T0)
        )
    late = Decision(*keys[510], "Finance", "rejected", "carol", T0 + timedelta(days=1), "U9", "no")
    early = Decision(
        *keys[510], None, "reassigned", "bob", T0 - timedelta(days=1), None, None, "dan"
    )
    await store.record_decision(late)
    await store.record_decision(early)

    found = await store.decisions_for([*keys, ("wf", "none")])

    assert len(found) == 521 and found[("wf", "none")] == []
    assert found[keys[0]] == [Decision(*keys[0], "Manager", "approved", "user0", T0)]
    assert [d.action for d in found[keys[510]]] == ["reassigned", "approved", "rejected"]
    assert found[keys[510]][0] == early and found[keys[510]][2] == late


async def test_timestamps_come_back_aware_utc(store: SqlStore) -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    at = datetime(2025, 3, 1, 17, 30, 0, 123456, tzinfo=india)
    await store.record_decision(Decision("wf", "r1", None, "approved", "alice", at))
    [decision] = (await store.decisions_for([("wf", "r1")]))[("wf", "r1")]
    assert decision.at == at and decision.at.tzinfo == UTC
    assert decision.at.hour == 12
    naive = TrackedRequest("wf", "r1", "pending", None, (), datetime(2025, 1, 1))
    await store.save_tracked([naive])  # Cflow's timestamps may lack an offset: taken as UTC
    updated_at = (await store.tracked())[naive.key].updated_at
    assert updated_at == datetime(2025, 1, 1, tzinfo=UTC)


# Subscriptions


async def test_subscriptions(store: SqlStore) -> None:
    await store.subscribe(Subscription("wf1", "C1", "UADMIN", T0))
    await store.subscribe(Subscription("wf2", "C2"))
    await store.subscribe(Subscription("wf1", "C9", "UOTHER", T0))

    subscriptions = await store.subscriptions()
    assert subscriptions["wf1"] == Subscription("wf1", "C9", "UOTHER", T0)
    assert subscriptions["wf2"].created_at is not None
    assert await store.unsubscribe("wf1") is True
    assert await store.unsubscribe("wf1") is False
    assert list(await store.subscriptions()) == ["wf2"]


# Locks


async def test_lock_is_exclusive_until_unlocked(store: SqlStore) -> None:
    assert await store.lock_holder("poller") is None
    assert await store.try_lock("poller", "a", 60) is True
    assert await store.try_lock("poller", "b", 60) is False
    assert await store.lock_holder("poller") == "a"
    assert await store.held_locks(["poller", "free"]) == {"poller"}
    await store.unlock("poller", "b")  # not b's to release
    assert await store.try_lock("poller", "b", 60) is False
    await store.unlock("poller", "a")
    assert await store.try_lock("poller", "b", 60) is True
    assert await store.try_lock("other", "a", 60) is True


async def test_lock_expires_and_its_holder_can_extend_it(store: SqlStore) -> None:
    assert await store.try_lock("short", "a", 0.2) is True
    assert await store.try_lock("extended", "a", 0.2) is True
    assert await store.try_lock("extended", "a", 60) is True  # re-entrant: extends
    await asyncio.sleep(0.3)
    assert await store.try_lock("short", "b", 60) is True
    assert await store.try_lock("extended", "b", 60) is False


async def test_two_instances_racing_for_a_lock_have_one_winner(make_store: MakeStore) -> None:
    first, second = await make_store(), await make_store()
    for round_ in range(5):
        name = f"click-{round_}"
        won = await asyncio.gather(
            first.try_lock(name, "first", 30), second.try_lock(name, "second", 30)
        )
        assert sorted(won) == [False, True]


# Schema, health, poller state


async def test_init_is_idempotent_and_safe_concurrently(make_store: MakeStore) -> None:
    first, second = await make_store(init=False), await make_store(init=False)
    await asyncio.gather(first.init(), second.init())
    await first.init()
    async with first.engine.connect() as conn:
        versions = (await conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))).scalars()
        assert list(versions) == [head_revision()]
    assert await second.ping() is True


async def test_a_newer_schema_is_refused(store: SqlStore, make_store: MakeStore) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '999'"))
    with pytest.raises(SchemaTooNewError, match="999"):
        await make_store()


async def test_poll_runs_keep_the_last_only(store: SqlStore) -> None:
    assert await store.last_poll_run() is None
    await store.save_poll_run(PollRun(T0, 1.5, workflows=3, pending=7))
    latest = PollRun(T0 + timedelta(seconds=30), 0.25, 3, 6, ("wf2: timeout", "wf5: 500"))
    await store.save_poll_run(latest)
    assert await store.last_poll_run() == latest
    async with store.engine.connect() as conn:
        assert await conn.scalar(text("SELECT COUNT(*) FROM poll_runs")) == 1


async def test_ping(store: SqlStore) -> None:
    assert await store.ping() is True


def _not_a_database(directory: Path) -> str:
    path = directory / "garbage.db"
    path.write_bytes(b"this is not an SQLite database, whatever its name says" * 100)
    return f"sqlite:///{path}"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_ping_is_false_when_the_database_is_down(backend: str, tmp_path: Path) -> None:
    """(A garbage file rather than a missing directory: aiosqlite's failed-connect cleanup
    outlives the test's event loop and trips pytest's unhandled-thread-exception check.)"""
    down = "postgresql://postgres@127.0.0.1:1/test"
    store = SqlStore(make_engine(_not_a_database(tmp_path) if backend == "sqlite" else down), None)
    try:
        assert await store.ping() is False
    finally:
        await store.close()


async def test_batch_methods_make_a_constant_number_of_statements(store: SqlStore) -> None:
    keys = _keys(1000)
    await store.claim_card(Card(*keys[0], "C1", "channel"))
    await store.save_link(_link())
    batch = [TrackedRequest(*key, "pending", "Manager", ("alice",)) for key in keys]
    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "cards_for": lambda: store.cards_for(keys),
        "decisions_for": lambda: store.decisions_for(keys),
        "slack_users_for_cflow_users": lambda: store.slack_users_for_cflow_users(
            f"u{n}" for n in range(1000)
        ),
        "save_tracked": lambda: store.save_tracked(batch),
        "tracked": store.tracked,
        "forget": lambda: store.forget(keys),
        "add_roundup": lambda: store.add_roundup(
            RoundupMember("g", *key, "channel", "C1", item="{}") for key in keys
        ),
        "roundups_for": lambda: store.roundups_for(keys),
        "update_roundup_items": lambda: store.update_roundup_items(dict.fromkeys(keys, "{}")),
    }
    for name, call in calls.items():
        with statements(store) as sent:
            await call()
        assert 1 <= len(sent) <= 2, (name, len(sent))
    with statements(store) as sent:
        await store.cards_for([])
        await store.decisions_for([])
        await store.slack_users_for_cflow_users([])
        await store.save_tracked([])
        await store.forget([])
        await store.add_roundup([])
        await store.roundups_for([])
        await store.update_roundup_items({})
    assert sent == []


# Opening a store from DATABASE_URL


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///relative.db", "sqlite+aiosqlite:///relative.db"),
        ("sqlite:////abs/path.db", "sqlite+aiosqlite:////abs/path.db"),
        ("sqlite://", "sqlite+aiosqlite://"),
        ("sqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
        ("postgres://u:p%40ss@host:5432/db", "postgresql+asyncpg://u:p%40ss@host:5432/db"),
        ("postgresql://u@host/db", "postgresql+asyncpg://u@host/db"),
        ("postgresql+asyncpg://u@host/db", "postgresql+asyncpg://u@host/db"),
        ("postgres://u@host/db?sslmode=require", "postgresql+asyncpg://u@host/db?ssl=require"),
    ],
)
def test_database_urls_map_to_async_drivers(given: str, expected: str) -> None:
    assert database_url_for_sqlalchemy(given) == expected


@pytest.mark.parametrize("url", ["mysql://u@h/db", "postgresql+psycopg2://u@h/db", "nonsense"])
def test_unsupported_database_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="DATABASE_URL"):
        database_url_for_sqlalchemy(url)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
async def test_in_memory_sqlite_is_one_shared_database(url: str) -> None:
    store = await open_store(url, [generate_key()])
    try:
        cards = [Card("wf", f"r{n}", "C1", "channel") for n in range(20)]
        claims = await asyncio.gather(*(store.claim_card(c) for c in cards + cards))
        assert claims.count(True) == 20
        found = await store.cards_for(card.key for card in cards)
        assert all(len(found[card.key]) == 1 for card in cards)
    finally:
        await store.close()


V1_TABLES = (
    "CREATE TABLE cards (workflow_id VARCHAR(255) NOT NULL, request_id VARCHAR(255) NOT NULL,"
    " channel VARCHAR(255) NOT NULL, kind VARCHAR(16) NOT NULL, ts VARCHAR(64),"
    " slack_user_id VARCHAR(255), created_at {ts} NOT NULL,"
    " PRIMARY KEY (workflow_id, request_id, channel))",
    "CREATE TABLE tracked_requests (workflow_id VARCHAR(255) NOT NULL,"
    " request_id VARCHAR(255) NOT NULL, status VARCHAR(64) NOT NULL, stage TEXT,"
    " reviewers TEXT NOT NULL, updated_at {ts} NOT NULL, PRIMARY KEY (workflow_id, request_id))",
    "INSERT INTO cards VALUES ('wf', 'r1', 'C1', 'channel', '1.000100', NULL,"
    " '2026-01-01 00:00:00')",
    "INSERT INTO tracked_requests VALUES ('wf', 'r1', 'pending', 's1', '[\"bob\"]',"
    " '2026-01-01 00:00:00')",
    "CREATE TABLE links (slack_user_id VARCHAR(255) NOT NULL PRIMARY KEY,"
    " cflow_username VARCHAR(255) NOT NULL, user_key_encrypted TEXT NOT NULL,"
    " linked_by VARCHAR(255), linked_at {ts} NOT NULL)",
    "CREATE TABLE schema_version (version INTEGER NOT NULL PRIMARY KEY, applied_at {ts} NOT NULL)",
    "INSERT INTO schema_version VALUES (1, '2026-01-01 00:00:00')",
)


V1_ALIKE = ("decisions", "subscriptions", "locks", "poll_runs")  # as the baseline has them


async def test_a_version_1_database_is_migrated_keeping_its_cards(
    database_url: str, key: str
) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            timestamp = (
                "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
            )
            others = [
                t
                for t in schema.metadata.sorted_tables
                # v1's own cards, tracked_requests and links below; the rest came after
                if t.name in V1_ALIKE
            ]
            await conn.run_sync(lambda sync: schema.metadata.create_all(sync, tables=others))
            for statement in V1_TABLES:
                await conn.exec_driver_sql(statement.format(ts=timestamp))
    finally:
        await engine.dispose()
    store = await open_store(database_url, [key])
    try:
        (card,) = (await store.cards_for([("wf", "r1")]))[("wf", "r1")]
        assert (card.ts, card.slot, card.failure) == ("1.000100", "", None)
        tracked = (await store.tracked())[("wf", "r1")]
        assert (tracked.reviewers, tracked.seq, tracked.visit, tracked.retry_at) == (
            ("bob",),
            0,
            0,
            None,
        )
        assert await store.claim_card(Card("wf", "r1", "C1", "audit", slot="a1"))
        await store.save_link(_link())
        await store.mark_key_refused("U1")
        assert await store.slack_users_for_cflow_users(["alice"]) == {
            "alice": LinkedUser("U1", key_works=False)
        }
    finally:
        await store.close()


async def test_failed_cards_are_recorded_and_listed(store: SqlStore) -> None:
    dm = Card("wf", "r1", "U1", "dm", slack_user_id="U1", slot="1")
    await store.fail_card(dm, "user_disabled")
    retry = Card("wf", "r1", "C1", "audit", slot="a1", payload="{}")
    await store.claim_card(retry)
    await store.fail_card(retry, "retry:ratelimited")
    (failed,) = [c for c in await store.failed_cards() if not c.failure.startswith("retry:")]
    assert (failed.failure, failed.ts, failed.failed_at is not None) == (
        "user_disabled",
        None,
        True,
    )
    assert not await store.claim_card(dm), "a refused message is not claimed again"
    await store.confirm_card(retry, "2.0")
    cards = (await store.cards_for([("wf", "r1")]))[("wf", "r1")]
    assert {(c.slot, c.failure) for c in cards} == {("1", "user_disabled"), ("a1", None)}


# Preferences and digests


async def test_preferences_are_kept_and_defaults_are_absent(store: SqlStore) -> None:
    alice = Preference("U0ALICE", mode="digest", digest_at=9 * 60, quiet_from=1200, quiet_to=480)
    await store.save_preference(alice)
    await store.save_preference(replace(alice, work_days="12345", tz="Europe/Paris"))
    found = await store.preferences_for(["U0ALICE", "U0BOB"])
    assert found == {"U0ALICE": replace(alice, work_days="12345", tz="Europe/Paris")}


async def test_a_due_digest_is_claimed_by_one_store_only(make_store: MakeStore) -> None:
    first, second = await make_store(), await make_store()
    now = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    due = [Preference(f"U{n}", mode="digest", next_run_at=now) for n in range(40)]
    later = Preference("ULATER", mode="digest", next_run_at=now + timedelta(hours=1))
    for preference in [*due, later]:
        await first.save_preference(preference)
    await first.save_channel_digest(ChannelDigest("C1", 540, "UTC", "U0ADMIN", now))
    until = now + timedelta(minutes=5)
    (a, ac), (b, bc) = await asyncio.gather(
        first.claim_digests(now, until), second.claim_digests(now, until)
    )
    people = sorted(p.slack_user_id for p in a + b)
    assert people == sorted(p.slack_user_id for p in due)  # each once, none early
    assert [c.channel_id for c in ac + bc] == ["C1"]
    assert await first.claim_digests(now + timedelta(minutes=1), until) == ([], [])
    # Released with its next run: due again then, and only then.
    tomorrow = now + timedelta(days=1)
    await first.digests_done({"U0": tomorrow}, {"C1": None})
    assert await first.claim_digests(now + timedelta(minutes=2), until) == ([], [])
    # A claim that lapsed (its instance died) is taken again.
    lapsed, _ = await first.claim_digests(until + timedelta(seconds=1), tomorrow)
    assert {p.slack_user_id for p in lapsed} == {p.slack_user_id for p in due[1:]}
    claimed, channels = await second.claim_digests(tomorrow, tomorrow + timedelta(minutes=5))
    assert {p.slack_user_id for p in claimed} == {"U0", "ULATER"} and channels == []


async def test_channel_digests_are_set_and_dropped(store: SqlStore) -> None:
    digest = ChannelDigest("C1", 17 * 60, "Europe/Paris", "U0ADMIN")
    await store.save_channel_digest(digest)
    assert await store.channel_digests() == {"C1": digest}
    assert await store.drop_channel_digest("C1")
    assert not await store.drop_channel_digest("C1")
    assert await store.channel_digests() == {}


# Stage visits and follow-ups


async def test_a_due_followup_is_claimed_by_one_store_only(make_store: MakeStore) -> None:
    first, second = await make_store(), await make_store()
    now = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    due = [
        Followup("1001", str(n), 1, "reminder", "bob", now - timedelta(days=1), now)
        for n in range(30)
    ]
    later = Followup("1001", "later", 1, "reminder", "bob", now, now + timedelta(hours=1))
    await first.add_followups([*due, later])
    await first.add_followups(due[:3])  # added again: left as it is
    until = now + timedelta(minutes=5)
    a, b = await asyncio.gather(
        first.claim_followups(now, until), second.claim_followups(now, until)
    )
    assert sorted(f.request_id for f in a + b) == sorted(f.request_id for f in due)
    assert await second.claim_followups(now, until) == []
    await first.followups_done([replace(due[0], sent=1, due_at=now + timedelta(days=1))])
    assert await first.claim_followups(now + timedelta(minutes=1), until) == []
    # Moving on cancels what another visit scheduled; ending cancels everything.
    await first.cancel_followups({("1001", "1"): 2, ("1001", "2"): None})
    again = await first.claim_followups(until + timedelta(days=2), until + timedelta(days=3))
    assert {f.request_id for f in again} >= {"0", "later"} and not {"1", "2"} & {
        f.request_id for f in again
    }
    assert await first.first_followup(replace(due[5], kind="handover"))
    assert not await second.first_followup(replace(due[5], kind="handover"))


async def test_stage_visits_close_when_a_request_moves_on(store: SqlStore) -> None:
    arrived = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    visit = StageVisit("1002", "7", 1, "Purchase Order", "s1", "Manager", ("bob",), arrived)
    await store.visits_entered([visit])
    await store.visits_entered([replace(visit, arrived_at=arrived + timedelta(hours=5))])
    left = arrived + timedelta(hours=2)
    end = replace(visit, visit=3, left_at=left, outcome="moved", decided_by="bob")
    await store.visits_left([end])
    await store.visits_entered([replace(visit, visit=3, stage="s2", arrived_at=left)])
    found = await store.stage_visits(arrived - timedelta(days=1))
    assert [(v.visit, v.arrived_at, v.left_at, v.outcome) for v in found] == [
        (1, arrived, left, "moved"),
        (3, left, None, None),
    ]
    assert [v.visit for v in await store.stage_visits(left + timedelta(hours=1))] == [3]


def _pending(request_id: str, due: datetime, **fields: Any) -> PendingDecision:
    ref = f'{{"w":"1001","r":"{request_id}"}}'
    return PendingDecision(
        "1001", request_id, ref, "approve", "U0BOB", due, due - timedelta(seconds=10), **fields
    )


async def test_a_pending_decision_is_claimed_once_undone_only_by_its_clicker(
    make_store: MakeStore,
) -> None:
    first, second = await make_store(), await make_store()
    now = datetime.now(UTC)
    a = await first.add_pending(_pending("1", now - timedelta(seconds=1), cflow_username="bob"))
    b = await first.add_pending(_pending("2", now + timedelta(seconds=30), batch_id="B1"))
    c = await first.add_pending(_pending("3", now + timedelta(seconds=30), batch_id="B1"))
    assert a.id is not None and a.cflow_username == "bob" and a.attempts == 0
    assert await first.next_pending_due() == a.due_at
    assert sorted((await first.pending_for([("1001", "1"), ("1001", "2")])).keys()) == [
        ("1001", "1"),
        ("1001", "2"),
    ]
    await first.beat("one", now)
    await first.beat("two", now)
    taken = await asyncio.gather(
        first.claim_pending("one", now, now - timedelta(seconds=5)),
        second.claim_pending("two", now, now - timedelta(seconds=5)),
    )
    assert sorted(len(t) for t in taken) == [0, 1], "one instance takes it"
    [claimed] = taken[0] or taken[1]
    assert claimed.id == a.id and claimed.attempts == 1 and claimed.claimed_at is not None
    assert await first.cancel_pending("U0BOB", pending_id=a.id) == [], "claimed: too late"
    assert await second.claim_pending("three", now, now) == [], "its claimer is alive"
    later = now + timedelta(seconds=20)
    again = await second.claim_pending("three", later, later - timedelta(seconds=5))
    assert [p.id for p in again] == [a.id] and again[0].attempts == 2, "its claimer died"
    assert [p.id for p in again] and again[0].claimed_at == claimed.claimed_at
    assert await first.cancel_pending("U0ALICE", batch_id="B1") == [], "not hers to undo"
    undone = await first.cancel_pending("U0BOB", batch_id="B1")
    assert sorted(p.id for p in undone) == sorted([b.id, c.id])
    assert await first.find_pending(batch_id="B1") == []
    await first.pending_done([a.id or 0])
    assert await first.find_pending(pending_id=a.id) == []
    assert await first.next_pending_due() is None


async def test_a_thread_reply_is_claimed_once_posted_and_settled(store: SqlStore) -> None:
    from bot.store.records import RequestThread

    thread = RequestThread("1001", "7", "C1", "1.5", "U1", T0)
    assert await store.claim_thread(thread)
    assert not await store.claim_thread(replace(thread, requested_by="U2"))  # one reply only
    await store.thread_posted(thread.key, "2.5")
    await store.thread_settled(thread.key, "approved")
    found = await store.threads_for([thread.key, ("1001", "8")])
    assert found == {
        thread.key: [replace(thread, ts="2.5", outcome="approved")],
        ("1001", "8"): [],
    }
    await store.drop_thread(thread.key)
    assert (await store.threads_for([thread.key]))[thread.key] == []
