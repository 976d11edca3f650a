"""What every part of the SQL store shares: the engine, one transaction at a time where
the pool has a single connection, the dialect's upsert, and batched key lookups.

Batch methods select or delete with tuple IN lists, chunked so that one call makes a few
statements however many keys it gets, and stays under the drivers' bind-parameter limits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Column, ColumnElement, Row, Table, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import StaticPool

from bot.store.crypto import KeyBox
from bot.store.engine import tune_sqlite
from bot.store.records import RequestKey
from bot.store.rows import utc_now

T = TypeVar("T")
CHUNK = 500  # keys per IN list: 1,000 bind parameters, far below SQLite's and asyncpg's caps
INSERTS: dict[str, Callable[[Table], sqlite.Insert | postgresql.Insert]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


def unique(items: Iterable[T]) -> list[T]:
    return list(dict.fromkeys(items))


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def request_in(table: Table, keys: Sequence[RequestKey]) -> ColumnElement[bool]:
    return tuple_(table.c.workflow_id, table.c.request_id).in_(keys)


class SqlBase:
    """The engine and the few helpers every query goes through; it owns the engine."""

    def __init__(
        self,
        engine: AsyncEngine,
        keys: KeyBox | None,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """`clock` is when locks lapse and roundups were made: this process's real time,
        but a step test's virtual time (tests/virtual_time.py), which the bot's follow-ups
        and the locks they take must agree on."""
        dialect = engine.dialect.name
        if dialect not in INSERTS:
            raise ValueError(f"unsupported database {dialect!r}: use SQLite or PostgreSQL")
        if dialect == "sqlite":
            tune_sqlite(engine)
        self.engine = engine
        self._keys = keys
        self._clock = clock
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

    async def _rows_for(
        self, table: Table, keys: Sequence[RequestKey], order: Sequence[Any]
    ) -> list[Row[Any]]:
        """Rows of many requests; each key sits in one chunk, so its rows keep `order`."""
        rows: list[Row[Any]] = []
        if keys:
            async with self._begin() as conn:
                for chunk in chunks(keys):
                    query = select(table).where(request_in(table, chunk)).order_by(*order)
                    rows.extend(await conn.execute(query))
        return rows
