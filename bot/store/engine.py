"""DATABASE_URL to an AsyncEngine, and the per-connection SQLite settings the store needs."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

SQLITE_BUSY_TIMEOUT_MS = 30_000
SSLMODE = re.compile(r"([?&])sslmode=")
ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def database_url_for_sqlalchemy(url: str) -> str:
    """Heroku writes postgres://, people write sqlite:///x.db; SQLAlchemy wants the driver.

    Only the scheme (and libpq's `sslmode`, which asyncpg calls `ssl`) is rewritten: the
    rest is kept verbatim, so paths and escaped passwords survive untouched.
    """
    scheme, separator, rest = url.strip().partition("://")
    driver = ASYNC_DRIVERS.get(scheme.lower())
    if not separator or driver is None:
        shown = repr(scheme) if separator else "(none)"  # never echo a scheme-less secret
        raise ValueError(
            f"DATABASE_URL scheme {shown} is not supported; use "
            "sqlite:///path/to/file.db or postgresql://user:pass@host/db"
        )
    if driver.startswith("postgresql"):
        rest = SSLMODE.sub(r"\1ssl=", rest)
    return f"{driver}://{rest}"


def is_memory_sqlite(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def make_engine(database_url: str, **pool: Any) -> AsyncEngine:
    """An engine for any DATABASE_URL form; in-memory SQLite gets one shared connection.
    `pool` sizes a PostgreSQL pool other than the default (e.g. pool_size=1)."""
    url = database_url_for_sqlalchemy(database_url)
    options: dict[str, Any] = {}
    if is_memory_sqlite(url):
        options["poolclass"] = StaticPool  # every checkout must see the same database
    elif url.startswith("postgresql"):
        options["pool_pre_ping"] = True  # Heroku drops idle connections
        options.update(pool)
    return create_async_engine(url, **options)


def tune_sqlite(engine: AsyncEngine) -> None:
    """WAL and a busy timeout, so the poller, handlers and a second process wait instead of
    failing with "database is locked". Idempotent: safe for engines shared by stores."""
    sync_engine = engine.sync_engine
    if not event.contains(sync_engine, "connect", _sqlite_on_connect):
        event.listen(sync_engine, "connect", _sqlite_on_connect)


def _sqlite_on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")  # before WAL: it locks
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
        except Exception as error:
            # Switching a database to WAL needs it to itself; while another process
            # migrates one that is not yet WAL, this connection runs without (WAL is
            # kept by the file, so the next connection has it).
            if "locked" not in str(error):
                raise
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()
