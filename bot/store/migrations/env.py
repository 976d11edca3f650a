"""What Alembic runs for every command.

At the bot's start, on the store's connection that `migrate()` passes in, already inside
the transaction holding the migration lock. From a developer's `alembic` command (for
`alembic revision --autogenerate` or `alembic check`), on DATABASE_URL or `-x url=…`,
without that lock or the pre-Alembic hand-over: the bot itself upgrades real databases.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from alembic.util import CommandError
from sqlalchemy import Connection

from bot.store.engine import make_engine
from bot.store.schema import metadata


def run_migrations(connection: Connection) -> None:
    # Batch mode, so that a later ALTER on SQLite (which cannot alter much) copies the table.
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_on_database_url() -> None:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("DATABASE_URL")
    if not url:
        raise CommandError("set DATABASE_URL, or pass -x url=sqlite:///path/to/file.db")
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise CommandError("offline (--sql) mode is not supported: the bot upgrades at start")
given = context.config.attributes.get("connection")
if given is not None:
    run_migrations(given)
else:
    asyncio.run(run_on_database_url())
