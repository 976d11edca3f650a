"""Slack's limits shared through the database: one GCRA state per bucket.

Every instance of the bot draws its Slack calls' slots from the same rows, so that
N instances together keep to each bucket's rate, and a 429's `Retry-After` written by
one is read by all. One statement reserves a few calls at once (the pacer asks for as
many as it has waiting, a handful at most), so a busy instance makes a round trip per
handful of calls, not per call. The database's clock is the one clock: instances on
several hosts never compare their own.

The state is the Generic Cell Rate Algorithm's: a bucket's theoretical arrival time
(`tat`); a call may go `tolerance` before it (the burst), and each call moves it on by
one interval. Equivalent to a token bucket, with one number to keep per bucket.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import ColumnElement, Float, case, cast, extract, func

from bot.store.engine import make_engine
from bot.store.schema import slack_pace
from bot.store.sql_base import SqlBase

UNIX_EPOCH_JULIAN_DAY = 2440587.5
SECONDS_A_DAY = 86400.0
# Its own two connections: a Slack call never waits behind the store's other queries (a
# cycle's deliveries can hold the store's whole pool), nor counts as one of them.
POOL = {"pool_size": 1, "max_overflow": 1}


def open_pace(database_url: str) -> SqlPace:
    """The shared pace's side of the database (the store created its table); connects
    when first asked, so a database down at start only delays that."""
    return SqlPace(make_engine(database_url, **POOL), None)


class SqlPace(SqlBase):
    """The buckets every instance draws its Slack calls from; it owns its engine."""

    async def close(self) -> None:
        await self.engine.dispose()

    async def reserve_slack_calls(
        self, bucket: str, calls: int, interval: float, tolerance: float
    ) -> list[float]:
        """When each of `calls` calls of `bucket` may go, in seconds from now (0: now).

        `interval` is 1/rate, `tolerance` (burst - 1) intervals. A slot not used when it
        comes is lost, never saved: saved slots would add up to more than the burst."""
        now = self._now()
        ahead = calls * interval
        upsert = self._insert(slack_pace).values(bucket=bucket, tat=now + ahead)
        upsert = upsert.on_conflict_do_update(
            index_elements=[slack_pace.c.bucket],
            set_={"tat": _later(slack_pace.c.tat, now) + ahead},
        )
        async with self._begin() as conn:
            tat, at = (await conn.execute(upsert.returning(slack_pace.c.tat, now))).one()
        start = tat - ahead  # the later of the old arrival time and now
        return [max(0.0, start + n * interval - tolerance - at) for n in range(calls)]

    async def hold_slack_buckets(self, tolerances: Mapping[str, float], seconds: float) -> None:
        """Slack answered 429: no instance calls these buckets for `seconds`, then one
        call at a time (each bucket's tolerance is given, to empty its burst)."""
        now = self._now()
        async with self._begin() as conn:
            for bucket, tolerance in tolerances.items():
                until = now + (seconds + tolerance)
                stmt = self._insert(slack_pace).values(bucket=bucket, tat=until)
                stmt = stmt.on_conflict_do_update(
                    index_elements=[slack_pace.c.bucket],
                    set_={"tat": _later(slack_pace.c.tat, until)},
                )
                await conn.execute(stmt)

    def _now(self) -> ColumnElement[float]:
        """The database's time in seconds since the epoch, the same all through a statement."""
        if self.engine.dialect.name == "postgresql":
            return cast(extract("epoch", func.statement_timestamp()), Float)
        days = func.julianday("now", type_=Float) - UNIX_EPOCH_JULIAN_DAY
        return cast(days * SECONDS_A_DAY, Float)


def _later(a: ColumnElement[float], b: ColumnElement[float]) -> ColumnElement[float]:
    """GREATEST, which SQLite spells max(): written once for both."""
    return case((a > b, a), else_=b)
