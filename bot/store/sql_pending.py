"""The undo window's part of the SQL store: decisions waiting to be made.

Claimed like follow-ups (bot.store.sql_followups), but by instance rather than until a
time: one UPDATE … RETURNING takes every due decision that is unclaimed, or whose claimer
has stopped beating (bot.sync.liveness), so two live instances never make the same one.
An undo deletes only an unclaimed row of its own clicker, so it races a claim cleanly:
one of them finds the row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, or_, select, update

from bot.store.records import PendingDecision, RequestKey
from bot.store.rows import record_from, values_of
from bot.store.schema import instances, pending_decisions
from bot.store.sql_base import SqlBase, chunks, request_in, unique


class SqlPending(SqlBase):
    async def add_pending(self, pending: PendingDecision) -> PendingDecision:
        table = pending_decisions
        stmt = table.insert().values(values_of(pending, skip=("id",))).returning(*table.c)
        async with self._begin() as conn:
            row = (await conn.execute(stmt)).one()
        return record_from(row, PendingDecision)

    async def pending_for(
        self, keys: Iterable[RequestKey]
    ) -> dict[RequestKey, list[PendingDecision]]:
        table = pending_decisions
        found: dict[RequestKey, list[PendingDecision]] = {}
        async with self._begin() as conn:
            for chunk in chunks(unique(keys)):
                query = select(table).where(request_in(table, list(chunk))).order_by(table.c.id)
                for row in await conn.execute(query):
                    pending = record_from(row, PendingDecision)
                    key = (pending.workflow_id, pending.request_id)
                    found.setdefault(key, []).append(pending)
        return found

    async def find_pending(
        self, *, pending_id: int | None = None, batch_id: str | None = None
    ) -> list[PendingDecision]:
        query = select(pending_decisions).where(_which(pending_id, batch_id))
        async with self._begin() as conn:
            rows = await conn.execute(query.order_by(pending_decisions.c.id))
            return [record_from(row, PendingDecision) for row in rows]

    async def cancel_pending(
        self, slack_user_id: str, *, pending_id: int | None = None, batch_id: str | None = None
    ) -> list[PendingDecision]:
        table = pending_decisions
        stmt = (
            delete(table)
            .where(
                _which(pending_id, batch_id),
                table.c.slack_user_id == slack_user_id,
                table.c.claimed_by.is_(None),
            )
            .returning(*table.c)
        )
        async with self._begin() as conn:
            return [record_from(row, PendingDecision) for row in await conn.execute(stmt)]

    async def claim_pending(
        self, instance_id: str, now: datetime, alive_since: datetime
    ) -> list[PendingDecision]:
        table = pending_decisions
        live = select(instances.c.instance_id).where(instances.c.beat_at >= alive_since)
        unattended = or_(
            table.c.claimed_by.is_(None),
            table.c.claimed_by == instance_id,
            table.c.claimed_by.not_in(live.scalar_subquery()),
        )
        stmt = (
            update(table)
            .where(table.c.due_at <= now, unattended)
            .values(
                claimed_by=instance_id,
                claimed_at=func.coalesce(table.c.claimed_at, now),
                attempts=table.c.attempts + 1,
            )
            .returning(*table.c)
        )
        due = select(table.c.id).where(table.c.due_at <= now).limit(1)
        async with self._begin() as conn:
            if (await conn.execute(due)).first() is None:
                return []  # the usual answer: a read, and no write
            rows = [record_from(row, PendingDecision) for row in await conn.execute(stmt)]
        return sorted(rows, key=lambda p: p.id or 0)

    async def pending_done(self, pending_ids: Iterable[int]) -> None:
        ids = sorted(set(pending_ids))
        if ids:
            async with self._begin() as conn:
                await conn.execute(delete(pending_decisions).where(pending_decisions.c.id.in_(ids)))

    async def next_pending_due(self) -> datetime | None:
        table = pending_decisions
        query = select(func.min(table.c.due_at)).where(table.c.claimed_by.is_(None))
        async with self._begin() as conn:
            found: datetime | None = (await conn.execute(query)).scalar()
        return found


def _which(pending_id: int | None, batch_id: str | None) -> ColumnElement[bool]:
    table = pending_decisions
    if batch_id is not None:
        return table.c.batch_id == batch_id
    return table.c.id == (pending_id if pending_id is not None else -1)
