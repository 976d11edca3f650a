"""`Store` over SQLAlchemy Core: one code path for SQLite (aiosqlite) and PostgreSQL (asyncpg).

Only the upsert construct and the migration lock depend on the dialect. The plumbing
(engine, transactions, batched lookups) is in `sql_base`, the links with their
encrypted keys in `sql_links`; the rest of the contract is here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import case, delete, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.migrations import migrate
from bot.store.records import Card, Decision, PollRun, RequestKey, Subscription, TrackedRequest
from bot.store.rows import (
    card_from,
    card_is,
    card_pk,
    card_values,
    group_by_request,
    record_from,
    records_of,
    utc_now,
    values_of,
)
from bot.store.schema import (
    POLL_RUN_ID,
    cards,
    decisions,
    locks,
    poll_runs,
    subscriptions,
    tracked_requests,
)
from bot.store.sql_base import chunks, request_in, unique
from bot.store.sql_followups import SqlFollowups
from bot.store.sql_links import SqlLinks
from bot.store.sql_pending import SqlPending
from bot.store.sql_policies import SqlPolicies
from bot.store.sql_preferences import SqlPreferences
from bot.store.sql_roundups import SqlRoundups
from bot.store.sql_routes import SqlRoutes
from bot.store.sql_steps import SqlSteps
from bot.store.sql_threads import SqlThreads
from bot.store.sql_unfurls import SqlUnfurls

PING_TIMEOUT = 5.0
MIGRATION_LOCK_ID = 0x63666C6F77626F74  # "cflowbot": pg_advisory_xact_lock's key


class SqlStore(
    SqlLinks,
    SqlRoundups,
    SqlPreferences,
    SqlFollowups,
    SqlRoutes,
    SqlPolicies,
    SqlPending,
    SqlSteps,
    SqlUnfurls,
    SqlThreads,
):
    """The `Store` protocol on SQLite or PostgreSQL; it owns (and disposes of) its engine."""

    # Lifecycle

    async def init(self) -> None:
        """Create or upgrade the schema, one process at a time (see bot/store/migrations)."""
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

    # Cards

    async def claim_card(self, card: Card) -> bool:
        values = card_values(card) | {"ts": None}
        stmt = self._insert(cards).values(values).on_conflict_do_nothing(index_elements=card_pk())
        async with self._begin() as conn:
            claimed = (await conn.execute(stmt.returning(cards.c.channel))).first()
        return claimed is not None

    async def confirm_card(self, card: Card, ts: str, *, channel: str | None = None) -> None:
        """An upsert, not an update: a posted message must be recorded even if its claim was
        lost, or the next cycle would post it a second time. With `channel`, the message
        landed in another channel than claimed (a DM posted to a user id): the claim moves."""
        landed = replace(card, channel=channel or card.channel)
        stmt = self._insert(cards).values(card_values(landed) | {"ts": ts})
        changed = {"ts": ts, "failure": None, "failed_at": None}
        stmt = stmt.on_conflict_do_update(index_elements=card_pk(), set_=changed)
        async with self._begin() as conn:
            if landed.channel != card.channel:
                await conn.execute(delete(cards).where(card_is(card)))
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
        return [card_from(row) for row in rows]

    async def cards_for(self, keys: Iterable[RequestKey]) -> dict[RequestKey, list[Card]]:
        """Every requested key is present, with [] when it has no card."""
        wanted = unique(keys)
        channel_first = case((cards.c.kind == "channel", 0), else_=1)
        order = (channel_first, cards.c.created_at, cards.c.channel)
        return group_by_request(wanted, await self._rows_for(cards, wanted, order), card_from)

    # Tracked requests

    async def tracked(self) -> dict[RequestKey, TrackedRequest]:
        table = tracked_requests
        query = select(table).where((table.c.status == "pending") | table.c.retry_at.is_not(None))
        async with self._begin() as conn:
            rows = (await conn.execute(query)).all()
        return {(row.workflow_id, row.request_id): record_from(row, TrackedRequest) for row in rows}

    async def tracked_for(self, keys: Iterable[RequestKey]) -> dict[RequestKey, TrackedRequest]:
        """Only these requests (absent keys are not tracked)."""
        rows = await self._rows_for(tracked_requests, unique(keys), ())
        return {(row.workflow_id, row.request_id): record_from(row, TrackedRequest) for row in rows}

    async def save_tracked(self, requests: Iterable[TrackedRequest]) -> None:
        """One executemany; duplicates in the batch collapse to the last one.

        A row never goes back: a click can publish a request while the poller is still
        publishing what it saw just before (both numbering their event from the same
        stored state); whichever is saved last, the newer event, or the same event seen
        later in Cflow, is what stays, so the next cycle announces nothing twice.
        """
        latest = {request.key: request for request in requests}
        if not latest:
            return
        rows = [values_of(r, updated_at=r.updated_at or utc_now()) for r in latest.values()]
        stmt = self._insert(tracked_requests)
        columns = (
            "status",
            "stage",
            "reviewers",
            "updated_at",
            "seq",
            "visit",
            "retry_at",
            "owner",
        )
        changed = {name: stmt.excluded[name] for name in (*columns, "attempts")}
        newer = (stmt.excluded.seq > tracked_requests.c.seq) | (
            (stmt.excluded.seq == tracked_requests.c.seq)
            & (stmt.excluded.updated_at >= tracked_requests.c.updated_at)
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[tracked_requests.c.workflow_id, tracked_requests.c.request_id],
            set_=changed,
            where=newer,
        )
        async with self._begin() as conn:
            await conn.execute(stmt, rows)

    async def forget(self, keys: Iterable[RequestKey]) -> None:
        """Only the poller's memory: cards and decisions stay for the audit trail."""
        wanted = unique(keys)
        if wanted:
            async with self._begin() as conn:
                for chunk in chunks(wanted):
                    await conn.execute(
                        delete(tracked_requests).where(request_in(tracked_requests, chunk))
                    )

    # Decisions

    async def record_decision(self, decision: Decision) -> None:
        async with self._begin() as conn:
            await conn.execute(decisions.insert().values(values_of(decision)))

    async def decisions_for(self, keys: Iterable[RequestKey]) -> dict[RequestKey, list[Decision]]:
        """Every requested key is present, with [] when nothing was decided yet."""
        wanted = unique(keys)
        rows = await self._rows_for(decisions, wanted, (decisions.c.at, decisions.c.id))
        return group_by_request(wanted, rows, records_of(Decision))

    # Subscriptions

    async def subscribe(self, subscription: Subscription) -> None:
        values = values_of(subscription, created_at=subscription.created_at or utc_now())
        await self._upsert(subscriptions, subscriptions.c.workflow_id, values)

    async def unsubscribe(self, workflow_id: str) -> bool:
        stmt = delete(subscriptions).where(subscriptions.c.workflow_id == workflow_id)
        async with self._begin() as conn:
            return (await conn.execute(stmt)).rowcount > 0

    async def subscriptions(self) -> dict[str, Subscription]:
        async with self._begin() as conn:
            rows = (await conn.execute(select(subscriptions))).all()
        return {row.workflow_id: record_from(row, Subscription) for row in rows}

    # Locks

    async def try_lock(self, name: str, holder: str, ttl: float) -> bool:
        """One INSERT … ON CONFLICT DO UPDATE … WHERE: the database arbitrates the race.

        "Now" comes from this process's clock, on every backend alike; instances sharing a
        database are assumed to agree on the time to well within a lock's ttl.
        """
        now = self._clock()
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
        wanted, held = unique(names), set[str]()
        if wanted:
            async with self._begin() as conn:
                for chunk in chunks(wanted):
                    query = select(locks.c.name).where(
                        locks.c.name.in_(chunk), locks.c.expires_at > self._clock()
                    )
                    held.update((await conn.execute(query)).scalars())
        return held

    async def lock_holder(self, name: str) -> str | None:
        query = select(locks.c.holder).where(
            locks.c.name == name, locks.c.expires_at > self._clock()
        )
        async with self._begin() as conn:
            return (await conn.execute(query)).scalar()

    async def unlock(self, name: str, holder: str) -> None:
        stmt = delete(locks).where(locks.c.name == name, locks.c.holder == holder)
        async with self._begin() as conn:
            await conn.execute(stmt)

    # Poller state

    async def save_poll_run(self, run: PollRun) -> None:
        values = values_of(run, id=POLL_RUN_ID)  # one row: only the last cycle is kept
        await self._upsert(poll_runs, poll_runs.c.id, values)

    async def last_poll_run(self) -> PollRun | None:
        query = select(poll_runs).where(poll_runs.c.id == POLL_RUN_ID)
        async with self._begin() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else record_from(row, PollRun)
