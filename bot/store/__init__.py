"""Persistent state: links, cards, tracked requests, decisions, subscriptions and locks.

`open_store(DATABASE_URL, keys)` is the one entry point; everything else depends on the
`Store` protocol and the records re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.store.contracts import Store
from bot.store.crypto import KeyBox, generate_key
from bot.store.engine import database_url_for_sqlalchemy, make_engine
from bot.store.errors import (
    MissingSecretKeyError,
    SchemaTooNewError,
    StoreError,
    StoreKeyError,
    UnreadableLinkError,
)
from bot.store.records import (
    Card,
    CardKind,
    Decision,
    Link,
    PollRun,
    RequestKey,
    Subscription,
    TrackedRequest,
)
from bot.store.rows import utc_now
from bot.store.sql import SqlStore

__all__ = [
    "Card",
    "CardKind",
    "Decision",
    "KeyBox",
    "Link",
    "MissingSecretKeyError",
    "PollRun",
    "RequestKey",
    "SchemaTooNewError",
    "SqlStore",
    "Store",
    "StoreError",
    "StoreKeyError",
    "Subscription",
    "TrackedRequest",
    "UnreadableLinkError",
    "database_url_for_sqlalchemy",
    "generate_key",
    "make_engine",
    "open_store",
]


async def open_store(
    database_url: str, secret_keys: list[str], *, clock: Callable[[], datetime] = utc_now
) -> SqlStore:
    """Connect, migrate, and return the store; with no keys, links can be neither saved
    nor read, but everything else works (e.g. the poller's health check). `clock` is when
    its locks lapse (see `SqlBase`)."""
    keys = [key for key in secret_keys if key.strip()]
    box = KeyBox(keys) if keys else None
    store = SqlStore(make_engine(database_url), box, clock=clock)
    try:
        await store.init()
    except BaseException:
        await store.close()
        raise
    return store
