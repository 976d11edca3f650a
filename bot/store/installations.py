"""Slack's OAuth installs in the bot's own database: slack-sdk's async SQLAlchemy stores
on the store's engine, with every token encrypted at rest like a person's user key, and
states that carry their own signature.

The tables come from migration 0014 (`open_store` runs it); `create_tables()` of the
stores is never called.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.sqlalchemy_utils import normalize_datetime_for_db
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from sqlalchemy import Dialect, Table, Text, TypeDecorator
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.crypto import KeyBox
from bot.store.schema import SLACK_TOKEN_COLUMNS

log = logging.getLogger(__name__)
STATE_LIFETIME = 600  # seconds: Slack's own code is valid for 10 minutes too


class SealedToken(TypeDecorator[str]):
    """A token column: Fernet-encrypted on the way in, decrypted on the way out."""

    impl = Text
    cache_ok = False  # holds the keys: a statement must not be cached across boxes

    def __init__(self, box: KeyBox) -> None:
        super().__init__()
        self.box = box

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.box.encrypt(SecretStr(value))

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.box.decrypt(value).get_secret_value()


def _seal(table: Table, box: KeyBox) -> None:
    for name in SLACK_TOKEN_COLUMNS:
        if name in table.c:
            table.c[name].type = SealedToken(box)


class InstallationStore(AsyncSQLAlchemyInstallationStore):
    """slack-sdk's store, whose token columns are encrypted with the store's keys."""

    def __init__(self, client_id: str, engine: AsyncEngine, box: KeyBox) -> None:
        super().__init__(client_id, engine, logger=log)
        _seal(self.installations, box)
        _seal(self.bots, box)

    async def create_tables(self) -> None:
        raise NotImplementedError("migration 0014 creates these tables (open_store)")


class StateStore(AsyncSQLAlchemyOAuthStateStore):
    """slack-sdk's state store, whose states are signed with SLACK_STATE_SECRET: a state
    this deployment did not issue is refused before the database is asked."""

    def __init__(self, engine: AsyncEngine, secret: SecretStr) -> None:
        super().__init__(STATE_LIFETIME, engine, logger=log)
        self._secret = secret.get_secret_value().encode()

    async def create_tables(self) -> None:
        raise NotImplementedError("migration 0014 creates this table (open_store)")

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        nonce = secrets.token_urlsafe(24)
        state = f"{nonce}.{self._sign(nonce)}"
        async with self.engine.begin() as conn:
            await conn.execute(self.oauth_states.insert(), {"state": state, **self._expiry()})
        return state

    async def async_consume(self, state: str) -> bool:
        nonce, _, signature = state.rpartition(".")
        if not nonce or not hmac.compare_digest(signature, self._sign(nonce)):
            log.warning("Refused an OAuth state this deployment did not issue")
            return False
        return bool(await super().async_consume(state))

    def _sign(self, nonce: str) -> str:
        return hmac.new(self._secret, nonce.encode(), hashlib.sha256).hexdigest()[:32]

    def _expiry(self) -> dict[str, Any]:
        at = datetime.now(UTC) + timedelta(seconds=self.expiration_seconds)
        return {"expire_at": normalize_datetime_for_db(at)}
