"""Replies in the threads of the messages requests were made from: claimed before they
are posted, so that none is posted twice, and settled once they show the outcome."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, update

from bot.store.records import RequestKey, RequestThread
from bot.store.rows import group_by_request, records_of, values_of
from bot.store.schema import request_threads
from bot.store.sql_base import SqlBase, unique


class SqlThreads(SqlBase):
    async def claim_thread(self, thread: RequestThread) -> bool:
        """One INSERT … ON CONFLICT DO NOTHING RETURNING: the database says who claimed it."""
        table = request_threads
        stmt = self._insert(table).values(values_of(thread)).on_conflict_do_nothing()
        async with self._begin() as conn:
            result = await conn.execute(stmt.returning(table.c.request_id))
            return result.first() is not None

    async def thread_posted(self, key: RequestKey, ts: str) -> None:
        await self._set(key, ts=ts)

    async def thread_settled(self, key: RequestKey, outcome: str) -> None:
        await self._set(key, outcome=outcome)

    async def drop_thread(self, key: RequestKey) -> None:
        table = request_threads
        where = (table.c.workflow_id == key[0]) & (table.c.request_id == key[1])
        async with self._begin() as conn:
            await conn.execute(delete(table).where(where))

    async def threads_for(
        self, keys: Iterable[RequestKey]
    ) -> dict[RequestKey, list[RequestThread]]:
        wanted = unique(keys)
        rows = await self._rows_for(request_threads, wanted, (request_threads.c.created_at,))
        return group_by_request(wanted, rows, records_of(RequestThread))

    async def _set(self, key: RequestKey, **values: str) -> None:
        table = request_threads
        where = (table.c.workflow_id == key[0]) & (table.c.request_id == key[1])
        async with self._begin() as conn:
            await conn.execute(update(table).where(where).values(values))
