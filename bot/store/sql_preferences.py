"""The preferences part of the SQL store: how people are told, digests sent once, and
who keeps a Home tab open.

A digest is due when its `next_run_at` has passed. `claim_digests` takes the due ones
in one UPDATE … RETURNING per table: PostgreSQL re-checks the WHERE of a row another
transaction just claimed, and SQLite runs one writer at a time, so two instances never
take the same digest. The claim lapses at `until`, so a process that dies mid-send
leaves the digest to another (whose post the delivery settles from the DM's history).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.records import ChannelDigest, Preference
from bot.store.rows import record_from, values_of
from bot.store.schema import channel_digests, home_tabs, preferences
from bot.store.sql_base import SqlBase, chunks, unique


class SqlPreferences(SqlBase):
    async def preferences_for(self, slack_user_ids: Iterable[str]) -> dict[str, Preference]:
        wanted, found = unique(slack_user_ids), {}
        async with self._begin() as conn:
            for chunk in chunks(wanted):
                query = select(preferences).where(preferences.c.slack_user_id.in_(chunk))
                for row in await conn.execute(query):
                    found[row.slack_user_id] = record_from(row, Preference)
        return found

    async def save_preference(self, preference: Preference) -> None:
        await self._upsert(preferences, preferences.c.slack_user_id, values_of(preference))

    async def save_channel_digest(self, digest: ChannelDigest) -> None:
        await self._upsert(channel_digests, channel_digests.c.channel_id, values_of(digest))

    async def drop_channel_digest(self, channel_id: str) -> bool:
        stmt = delete(channel_digests).where(channel_digests.c.channel_id == channel_id)
        async with self._begin() as conn:
            return bool((await conn.execute(stmt)).rowcount)

    async def channel_digests(self) -> dict[str, ChannelDigest]:
        async with self._begin() as conn:
            rows = await conn.execute(select(channel_digests))
            return {row.channel_id: record_from(row, ChannelDigest) for row in rows}

    async def home_opened(self, slack_user_id: str, at: datetime) -> None:
        stmt = self._insert(home_tabs).values(
            slack_user_id=slack_user_id, opened_at=at, selected=()
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[home_tabs.c.slack_user_id], set_={"opened_at": at}
        )
        async with self._begin() as conn:
            await conn.execute(stmt)

    async def home_selection(self, slack_user_id: str, selected: Iterable[str]) -> None:
        chosen = tuple(selected)
        stmt = update(home_tabs).where(home_tabs.c.slack_user_id == slack_user_id)
        async with self._begin() as conn:
            await conn.execute(stmt.values(selected=chosen))

    async def home_tabs_for(
        self, slack_user_ids: Iterable[str], since: datetime | None = None
    ) -> dict[str, tuple[str, ...]]:
        wanted: list[str] = unique(slack_user_ids)
        found: dict[str, tuple[str, ...]] = {}
        table = home_tabs
        async with self._begin() as conn:
            for chunk in chunks(wanted):
                query = select(table).where(
                    table.c.slack_user_id.in_(chunk), table.c.opened_at >= since
                )
                for row in await conn.execute(query):
                    found[row.slack_user_id] = tuple(row.selected)
        return found

    async def claim_digests(
        self, now: datetime, until: datetime
    ) -> tuple[list[Preference], list[ChannelDigest]]:
        async with self._begin() as conn:
            # Most calls find nothing due: a read then, and no write at all.
            if not await _any_due(conn, preferences, now) and not await _any_due(
                conn, channel_digests, now
            ):
                return [], []
            people = await conn.execute(_claim(preferences, now, until))
            channels = await conn.execute(_claim(channel_digests, now, until))
            return (
                [record_from(row, Preference) for row in people],
                [record_from(row, ChannelDigest) for row in channels],
            )

    async def digests_done(
        self, people: dict[str, datetime | None], channels: dict[str, datetime | None]
    ) -> None:
        async with self._begin() as conn:
            for table, key, runs in (
                (preferences, "slack_user_id", people),
                (channel_digests, "channel_id", channels),
            ):
                rows = [{"who": who, "next": at} for who, at in runs.items()]
                if rows:
                    await conn.execute(_done(table, key), rows)


async def _any_due(conn: AsyncConnection, table: Table, now: datetime) -> bool:
    query = select(table.c.next_run_at).where(table.c.next_run_at <= now).limit(1)
    return (await conn.execute(query)).first() is not None


def _claim(table: Table, now: datetime, until: datetime) -> Any:
    held = table.c.claimed_until
    return (
        update(table)
        .where(table.c.next_run_at <= now, or_(held.is_(None), held < now))
        .values(claimed_until=until)
        .returning(*table.c)
    )


def _done(table: Table, key: str) -> Any:
    return (
        update(table)
        .where(table.c[key] == bindparam("who"))
        .values(next_run_at=bindparam("next"), claimed_until=None)
    )
