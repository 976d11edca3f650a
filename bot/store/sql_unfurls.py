"""Link previews (unfurls) in the SQL store: one row per link in a message."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update

from bot.store.records import RequestKey, Unfurl
from bot.store.rows import record_from, utc_now, values_of
from bot.store.schema import unfurls
from bot.store.sql_base import SqlBase, chunks, request_in, unique


class SqlUnfurls(SqlBase):
    async def record_unfurl(self, unfurl: Unfurl) -> None:
        """Upserted: a message edited to name another request keeps one row per link."""
        values = values_of(unfurl, created_at=unfurl.created_at or utc_now(), failure=None)
        stmt = self._insert(unfurls).values(values)
        keys = [unfurls.c.channel, unfurls.c.message_ts, unfurls.c.url]
        stmt = stmt.on_conflict_do_update(index_elements=keys, set_=values)
        async with self._begin() as conn:
            await conn.execute(stmt)

    async def unfurls_for(self, keys: Iterable[RequestKey]) -> dict[RequestKey, list[Unfurl]]:
        found: dict[RequestKey, list[Unfurl]] = {}
        async with self._begin() as conn:
            for chunk in chunks(unique(keys)):
                query = (
                    select(unfurls)
                    .where(request_in(unfurls, list(chunk)), unfurls.c.failure.is_(None))
                    .order_by(unfurls.c.created_at)
                )
                for row in await conn.execute(query):
                    unfurl = record_from(row, Unfurl)
                    found.setdefault(unfurl.key, []).append(unfurl)
        return found

    async def fail_unfurl(self, unfurl: Unfurl, reason: str) -> None:
        stmt = (
            update(unfurls)
            .where(
                unfurls.c.channel == unfurl.channel,
                unfurls.c.message_ts == unfurl.message_ts,
                unfurls.c.url == unfurl.url,
            )
            .values(failure=reason[:64])
        )
        async with self._begin() as conn:
            await conn.execute(stmt)
