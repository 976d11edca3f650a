"""The store's schema as Alembic revisions, upgraded by `SqlStore.init()` at every start.

`migrate()` runs on the store's own connection, inside the transaction that holds the
migration lock, so that instances starting together upgrade one after the other and the
later ones find nothing to do. No alembic.ini is needed: `runner` builds the
configuration in code (pyproject.toml's [tool.alembic] only serves developers'
`alembic revision`); versions/ holds the revisions, legacy.py the hand-over of databases
made before Alembic.
"""

from __future__ import annotations

from sqlalchemy import Connection


def migrate(conn: Connection) -> str:
    """Bring the schema to the newest revision and return it; the caller commits."""
    # Alembic takes about 0.1 s to import: only a process that opens a store pays for it,
    # not every command that merely imports bot.store (keygen, sandbox, a settings error).
    from bot.store.migrations.runner import upgrade

    return upgrade(conn)
