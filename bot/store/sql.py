"""`Store` over SQLAlchemy Core: one code path for SQLite (aiosqlite) and PostgreSQL (asyncpg).

Only the upsert construct and the migration lock depend on the dialect. Batch methods
select or delete with tuple IN lists, chunked so that one call makes a few statements
however many keys it gets, and stays under the drivers' bind-parameter limits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    ColumnElement,
    Insert,
    Row,
    Table,
    bindparam,
    case,
    delete,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import StaticPool

from bot.store.base import (
    Card,
    Decision,
    Link,
    LinkedUser,
    LinkInfo,
    PollRun,
    Reencrypted,
    RequestKey,
    Subscription,
    TrackedRequest,
)
from bot.store.crypto import KeyBox
from bot.store.engine import tune_sqlite
from bot.store.errors import MissingSecretKeyError, StoreKeyError, UnreadableLinkError
from bot.store.migrations import migrate
from bot.store.rows import (
    card_from_row,
    card_is,
    card_pk,
    card_values,
    decision_from_row,
    decision_values,
    group_by_request,
    poll_run_from_row,
    subscription_from_row,
    tracked_from_row,
    tracked_values,
    utc_now,
)
from bot.store.schema import (
    POLL_RUN_ID,
    cards,
    decisions,
    links,
    locks,
    poll_runs,
    subscriptions,
    tracked_requests,
)

T = TypeVar("T")
CHUNK = 500  # keys per IN list: 1,000 bind parameters, far below SQLite's and asyncpg's caps
PING_TIMEOUT = 5.0
MIGRATION_LOCK_ID = 0x63666C6F77626F74  # "cflowbot": pg_advisory_xact_lock's key
INSERTS: dict[str, Callable[[Table], Insert]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


def _unique(items: Iterable[T]) -> list[T]:
    return list(dict.fromkeys(items))


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _request_in(table: Table, keys: Sequence[RequestKey]) -> ColumnElement[bool]:
    return tuple_(table.c.workflow_id, table.c.request_id).in_(keys)


class SqlStore:
    """The `Store` protocol on SQLite or PostgreSQL; it owns (and disposes of) its engine."""

    def __init__(self, engine: AsyncEngine, keys: KeyBox | None) -> None:
        dialect = engine.dialect.name
        if dialect not in INSERTS:
            raise ValueError(f"unsupported database {dialect!r}: use SQLite or PostgreSQL")
        if dialect == "sqlite":
            tune_sqlite(engine)
        self.engine = engine
        self._keys = keys
        self._insert = INSERTS[dialect]
        # One shared connection (in-memory SQLite) cannot hold two transactions at once.
        shared = isinstance(engine.pool, StaticPool)
        self._serial: contextlib.AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if shared else contextlib.nullcontext()
        )

    async def _upsert(self, table: Table, key: Column[Any], values: dict[str, Any]) -> None:
        """Insert, or replace every column of the row with the same key."""
        stmt = self._insert(table).values(values)
        stmt = stmt.on_conflict_do_update(index_elements=[key], set_=values)
        async with self._begin() as conn:
            await conn.execute(stmt)

    @contextlib.asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncConnection]:
        async with self._serial, self.engine.begin() as conn:
            yield conn

    # Lifecycle

    async def init(self) -> None:
        async with self._begin() as conn:
            await self._lock_schema(conn)
            await conn.run_sync(migrate)

    async def _lock_schema(self, conn: AsyncConnection) -> None:
        """Serialise migrations across processes; the lock ends with the transaction."""
        if self.engine.dialect.name == "postgresql":
            lock = text("SELECT pg_advisory_xact_lock(:id)")
            await conn.execute(lock, {"id": MIGRATION_LOCK_ID})
        else:
            await conn.exec_driver_sql("BEGIN IMMEDIATE")  # take SQLite's write lock now

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(PING_TIMEOUT), self._begin() as conn:
                return (await conn.scalar(text("SELECT 1"))) == 1
        except Exception:
            return False

    # Links

    def _box(self) -> KeyBox:
        if self._keys is None:
            raise MissingSecretKeyError()
        return self._keys

    def _link(self, row: Row[Any]) -> Link:
        try:
            key = self._box().decrypt(row.user_key_encrypted)
        except MissingSecretKeyError:
            raise
        except StoreKeyError:
            raise UnreadableLinkError(row.slack_user_id) from None
        return Link(
            slack_user_id=row.slack_user_id,
            cflow_username=row.cflow_username,
            user_key=key,
            linked_by=row.linked_by,
            linked_at=row.linked_at,
            key_refused_at=row.key_refused_at,
        )

    def _readable(self, token: str) -> bool:
        try:
            self._box().decrypt(token)
        except MissingSecretKeyError:
            raise
        except StoreKeyError:
            return False
        return True

    async def save_link(self, link: Link) -> None:
        values = {
            "slack_user_id": link.slack_user_id,
            "cflow_username": link.cflow_username,
            "user_key_encrypted": self._box().encrypt(link.user_key),
            "linked_by": link.linked_by,
            "linked_at": link.linked_at or utc_now(),
            "key_refused_at": link.key_refused_at,
        }
        await self._upsert(links, links.c.slack_user_id, values)

    async def mark_key_refused(self, slack_user_id: str) -> None:
        stmt = (
            update(links)
            .where(links.c.slack_user_id == slack_user_id, links.c.key_refused_at.is_(None))
            .values(key_refused_at=utc_now())
        )
        async with self._begin() as conn:
            await conn.execute(stmt)

    async def link_for(self, slack_user_id: str) -> Link | None:
        query = select(links).where(links.c.slack_user_id == slack_user_id)
        async with self._begin() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else self._link(row)

    async def slack_users_for_cflow_users(self, usernames: Iterable[str]) -> dict[str, LinkedUser]:
        """When two Slack users link one Cflow user, the latest link wins.

        No key is decrypted here: one key that no longer decrypts (rotated away) must
        not stop the poller from reaching everyone else.
        """
        names = _unique(usernames)
        rows: list[Row[Any]] = []
        if names:
            columns = (
                links.c.cflow_username,
                links.c.slack_user_id,
                links.c.linked_at,
                links.c.key_refused_at,
            )
            async with self._begin() as conn:
                for chunk in _chunks(names):
                    query = select(*columns).where(links.c.cflow_username.in_(chunk))
                    rows.extend(await conn.execute(query))
        rows.sort(key=lambda row: (row.linked_at, row.slack_user_id))
        return {
            row.cflow_username: LinkedUser(row.slack_user_id, row.key_refused_at is None)
            for row in rows
        }

    async def delete_link(self, slack_user_id: str) -> bool:
        stmt = delete(links).where(links.c.slack_user_id == slack_user_id)
        async with self._begin() as conn:
            return (await conn.execute(stmt)).rowcount > 0

    async def list_links(self) -> list[LinkInfo]:
        """Every link, oldest first; a key no secret key can read is reported, not raised."""
        query = select(links).order_by(links.c.linked_at, links.c.slack_user_id)
        async with self._begin() as conn:
            rows = (await conn.execute(query)).all()
        return [
            LinkInfo(
                slack_user_id=row.slack_user_id,
                cflow_username=row.cflow_username,
                linked_by=row.linked_by,
                linked_at=row.linked_at,
                key_refused_at=row.key_refused_at,
                readable=self._readable(row.user_key_encrypted),
            )
            for row in rows
        ]

    async def reencrypt_links(self) -> Reencrypted:
        """Re-encrypt every user key with the newest secret key, so older ones can go.

        Each update only applies if the row is unchanged since it was read, so a link saved
        meanwhile is never overwritten with its older value. A key that no configured
        secret key can read is left as it is and named in the result.
        """
        box = self._box()
        async with self._begin() as conn:
            rows = (
                await conn.execute(select(links.c.slack_user_id, links.c.user_key_encrypted))
            ).all()
        changes, unreadable = [], []
        for row in rows:
            if not self._readable(row.user_key_encrypted):
                unreadable.append(row.slack_user_id)
                continue
            new = box.rotate(row.user_key_encrypted)
            changes.append({"id": row.slack_user_id, "old": row.user_key_encrypted, "new": new})
        if not changes:
            return Reencrypted(0, tuple(unreadable))
        stmt = (
            update(links)
            .where(links.c.slack_user_id == bindparam("id"))
            .where(links.c.user_key_encrypted == bindparam("old"))
            .values(user_key_encrypted=bindparam("new"))
        )
        async with self._begin() as conn:
            await conn.execute(stmt, changes)
        return Reencrypted(len(changes), tuple(unreadable))

    # Cards

    async def claim_card(self, card: Card) -> bool:
        values = card_values(card) | {"ts": None}
        stmt = self._insert(cards).values(values).on_conflict_do_nothing(index_elements=card_pk())
        async with self._begin() as conn:
            claimed = (await conn.execute(stmt.returning(cards.c.channel))).first()
        return claimed is not None

    async def confirm_card(self, card: Card, ts: str) -> None:
        """An upsert, not an update: a posted message must be recorded even if its claim was
        lost, or the next cycle would post it a second time."""
        stmt = self._insert(cards).values(card_values(card) | {"ts": ts})
        changed = {"ts": ts, "failure": None, "failed_at": None}
        stmt = stmt.on_conflict_do_update(index_elements=card_pk(), set_=changed)
        async with self._begin() as conn:
            await conn.execute(stmt)

    async def release_card(self, card: Card) -> None:
        stmt = delete(cards).where(card_is(card), cards.c.ts.is_(None))
        async with self._begin() as conn:
            await conn.execute(stmt)

    async def fail_card(self, card: Card, reason: str) -> None:
        failure = {"failure": reason[:64], "failed_at": utc_now()}
        stmt = self._insert(cards).values(card_values(card) | {"ts": card.ts} | failure)
        stmt = stmt.on_conflict_do_update(index_elements=card_pk(), set_=failure)
        async with self._begin() as conn:
            await conn.execute(stmt)

    async def failed_cards(self) -> list[Card]:
        query = select(cards).where(cards.c.failure.is_not(None)).order_by(cards.c.failed_at)
        async with self._begin() as conn:
            rows = (await conn.execute(query)).all()
        return [card_from_row(row) for row in rows]

    async def cards_for(self, keys: Iterable[RequestKey]) -> dict[RequestKey, list[Card]]:
        """Every requested key is present, with [] when it has no card."""
        wanted = _unique(keys)
        channel_first = case((cards.c.kind == "channel", 0), else_=1)
        order = (channel_first, cards.c.created_at, cards.c.channel)
        return group_by_request(wanted, await self._rows_for(cards, wanted, order), card_from_row)

    async def _rows_for(
        self, table: Table, keys: Sequence[RequestKey], order: Sequence[Any]
    ) -> list[Row[Any]]:
        """Rows of many requests; each key sits in one chunk, so its rows keep `order`."""
        rows: list[Row[Any]] = []
        if keys:
            async with self._begin() as conn:
                for chunk in _chunks(keys):
                    query = select(table).where(_request_in(table, chunk)).order_by(*order)
                    rows.extend(await conn.execute(query))
        return rows

    # Tracked requests

    async def tracked(self) -> dict[RequestKey, TrackedRequest]:
        table = tracked_requests
        query = select(table).where((table.c.status == "pending") | table.c.retry_at.is_not(None))
        async with self._begin() as conn:
            rows = (await conn.execute(query)).all()
        return {(row.workflow_id, row.request_id): tracked_from_row(row) for row in rows}

    async def tracked_for(self, keys: Iterable[RequestKey]) -> dict[RequestKey, TrackedRequest]:
        """Only these requests (absent keys are not tracked)."""
        rows = await self._rows_for(tracked_requests, _unique(keys), ())
        return {(row.workflow_id, row.request_id): tracked_from_row(row) for row in rows}

    async def save_tracked(self, requests: Iterable[TrackedRequest]) -> None:
        """One executemany; duplicates in the batch collapse to the last one."""
        latest = {request.key: request for request in requests}
        if not latest:
            return
        rows = [tracked_values(request) for request in latest.values()]
        stmt = self._insert(tracked_requests)
        columns = ("status", "stage", "reviewers", "updated_at", "seq", "visit", "retry_at")
        changed = {name: stmt.excluded[name] for name in (*columns, "attempts")}
        stmt = stmt.on_conflict_do_update(
            index_elements=[tracked_requests.c.workflow_id, tracked_requests.c.request_id],
            set_=changed,
        )
        async with self._begin() as conn:
            await conn.execute(stmt, rows)

    async def forget(self, keys: Iterable[RequestKey]) -> None:
        """Only the poller's memory: cards and decisions stay for the audit trail."""
        unique = _unique(keys)
        if unique:
            async with self._begin() as conn:
                for chunk in _chunks(unique):
                    await conn.execute(
                        delete(tracked_requests).where(_request_in(tracked_requests, chunk))
                    )

    # Decisions

    async def record_decision(self, decision: Decision) -> None:
        async with self._begin() as conn:
            await conn.execute(decisions.insert().values(decision_values(decision)))

    async def decisions_for(self, keys: Iterable[RequestKey]) -> dict[RequestKey, list[Decision]]:
        """Every requested key is present, with [] when nothing was decided yet."""
        wanted = _unique(keys)
        rows = await self._rows_for(decisions, wanted, (decisions.c.at, decisions.c.id))
        return group_by_request(wanted, rows, decision_from_row)

    # Subscriptions

    async def subscribe(self, subscription: Subscription) -> None:
        values = {
            "workflow_id": subscription.workflow_id,
            "channel_id": subscription.channel_id,
            "created_by": subscription.created_by,
            "created_at": subscription.created_at or utc_now(),
        }
        await self._upsert(subscriptions, subscriptions.c.workflow_id, values)

    async def unsubscribe(self, workflow_id: str) -> bool:
        stmt = delete(subscriptions).where(subscriptions.c.workflow_id == workflow_id)
        async with self._begin() as conn:
            return (await conn.execute(stmt)).rowcount > 0

    async def subscriptions(self) -> dict[str, Subscription]:
        async with self._begin() as conn:
            rows = (await conn.execute(select(subscriptions))).all()
        return {row.workflow_id: subscription_from_row(row) for row in rows}

    # Locks

    async def try_lock(self, name: str, holder: str, ttl: float) -> bool:
        """One INSERT … ON CONFLICT DO UPDATE … WHERE: the database arbitrates the race.

        "Now" comes from this process's clock, on every backend alike; instances sharing a
        database are assumed to agree on the time to well within a lock's ttl.
        """
        now = utc_now()
        stmt = self._insert(locks).values(
            name=name, holder=holder, expires_at=now + timedelta(seconds=ttl)
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[locks.c.name],
            set_={"holder": stmt.excluded.holder, "expires_at": stmt.excluded.expires_at},
            where=(locks.c.expires_at <= now) | (locks.c.holder == holder),
        )
        async with self._begin() as conn:
            won = (await conn.execute(stmt.returning(locks.c.holder))).first()
        return won is not None

    async def held_locks(self, names: Iterable[str]) -> set[str]:
        """Which of `names` someone holds now (one query a chunk)."""
        wanted, held = _unique(names), set()
        if wanted:
            async with self._begin() as conn:
                for chunk in _chunks(wanted):
                    query = select(locks.c.name).where(
                        locks.c.name.in_(chunk), locks.c.expires_at > utc_now()
                    )
                    held.update((await conn.execute(query)).scalars())
        return held

    async def lock_holder(self, name: str) -> str | None:
        query = select(locks.c.holder).where(locks.c.name == name, locks.c.expires_at > utc_now())
        async with self._begin() as conn:
            return (await conn.execute(query)).scalar()

    async def unlock(self, name: str, holder: str) -> None:
        stmt = delete(locks).where(locks.c.name == name, locks.c.holder == holder)
        async with self._begin() as conn:
            await conn.execute(stmt)

    # Poller state

    async def save_poll_run(self, run: PollRun) -> None:
        values = {
            "id": POLL_RUN_ID,
            "started_at": run.started_at,
            "duration": run.duration,
            "workflows": run.workflows,
            "pending": run.pending,
            "errors": run.errors,
        }
        await self._upsert(poll_runs, poll_runs.c.id, values)

    async def last_poll_run(self) -> PollRun | None:
        query = select(poll_runs).where(poll_runs.c.id == POLL_RUN_ID)
        async with self._begin() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else poll_run_from_row(row)
