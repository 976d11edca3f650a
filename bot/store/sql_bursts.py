"""The bursts part of the SQL store: which requests share one summary or grouped DM."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, delete, select, update

from bot.store.base import BurstMember, RequestKey
from bot.store.rows import group_by_request, record_from, values_of
from bot.store.schema import burst_members
from bot.store.sql_base import SqlBase, chunks, unique


class SqlBursts(SqlBase):
    async def add_burst(self, members: Iterable[BurstMember]) -> None:
        now = self._clock()  # the bot's clock, which forget_bursts' `before` is read by
        rows = [values_of(m, created_at=m.created_at or now) for m in members]
        if rows:
            # A second try of a digest adds what the first had not (same group, same ids).
            stmt = self._insert(burst_members).on_conflict_do_nothing()
            async with self._begin() as conn:
                await conn.execute(stmt, rows)

    async def forget_bursts(self, kinds: Iterable[str], before: datetime) -> None:
        table = burst_members
        stmt = delete(table).where(table.c.kind.in_(list(kinds)), table.c.created_at < before)
        async with self._begin() as conn:
            await conn.execute(stmt)

    async def bursts_for(self, keys: Iterable[RequestKey]) -> dict[RequestKey, list[BurstMember]]:
        wanted = unique(keys)
        rows = await self._rows_for(burst_members, wanted, (burst_members.c.created_at,))
        return group_by_request(wanted, rows, BurstMember)

    async def burst_members(self, group_ids: Iterable[str]) -> dict[str, list[BurstMember]]:
        wanted = unique(group_ids)
        found: dict[str, list[BurstMember]] = {group: [] for group in wanted}
        table = burst_members
        async with self._begin() as conn:
            for chunk in chunks(wanted):
                query = select(table).where(table.c.group_id.in_(chunk))
                for row in await conn.execute(query.order_by(table.c.created_at)):
                    found[row.group_id].append(record_from(row, BurstMember))
        return found

    async def update_burst_items(self, items: dict[RequestKey, str]) -> None:
        """One executemany, whatever the number of requests."""
        table = burst_members
        rows = [{"wf": wf, "rq": rq, "shown": item} for (wf, rq), item in items.items()]
        if not rows:
            return
        stmt = (
            update(table)
            .where(table.c.workflow_id == bindparam("wf"), table.c.request_id == bindparam("rq"))
            .values(item=bindparam("shown"))
        )
        async with self._begin() as conn:
            await conn.execute(stmt, rows)
