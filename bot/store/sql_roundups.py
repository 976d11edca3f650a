"""The roundups part of the SQL store: which requests share one message (a summary, a
grouped DM, a digest, a reminder)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, delete, select, update

from bot.store.records import RequestKey, RoundupMember
from bot.store.rows import group_by_request, record_from, records_of, values_of
from bot.store.schema import roundup_members
from bot.store.sql_base import SqlBase, chunks, unique


class SqlRoundups(SqlBase):
    async def add_roundup(self, members: Iterable[RoundupMember]) -> None:
        now = self._clock()  # the bot's clock, which forget_roundups' `before` is read by
        rows = [values_of(m, created_at=m.created_at or now) for m in members]
        if rows:
            # A second try of a digest adds what the first had not (same group, same ids).
            stmt = self._insert(roundup_members).on_conflict_do_nothing()
            async with self._begin() as conn:
                await conn.execute(stmt, rows)

    async def forget_roundups(self, kinds: Iterable[str], before: datetime) -> None:
        table = roundup_members
        stmt = delete(table).where(table.c.kind.in_(list(kinds)), table.c.created_at < before)
        async with self._begin() as conn:
            await conn.execute(stmt)

    async def roundups_for(
        self, keys: Iterable[RequestKey]
    ) -> dict[RequestKey, list[RoundupMember]]:
        wanted = unique(keys)
        rows = await self._rows_for(roundup_members, wanted, (roundup_members.c.created_at,))
        return group_by_request(wanted, rows, records_of(RoundupMember))

    async def roundup_members(self, group_ids: Iterable[str]) -> dict[str, list[RoundupMember]]:
        wanted = unique(group_ids)
        found: dict[str, list[RoundupMember]] = {group: [] for group in wanted}
        table = roundup_members
        async with self._begin() as conn:
            for chunk in chunks(wanted):
                query = select(table).where(table.c.group_id.in_(chunk))
                for row in await conn.execute(query.order_by(table.c.created_at)):
                    found[row.group_id].append(record_from(row, RoundupMember))
        return found

    async def update_roundup_items(self, items: dict[RequestKey, str]) -> None:
        """One executemany, whatever the number of requests."""
        table = roundup_members
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
