"""The links part of the SQL store: user keys encrypted at rest, decrypted only when read.

A key that no configured secret key decrypts any more (rotated away) is reported where
it matters and never stops anything that does not need it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row, bindparam, delete, select, update

from bot.store.crypto import KeyBox
from bot.store.errors import MissingSecretKeyError, StoreKeyError, UnreadableLinkError
from bot.store.records import Link, LinkedUser, LinkInfo, Reencrypted
from bot.store.rows import record_from, utc_now, values_of
from bot.store.schema import links
from bot.store.sql_base import SqlBase, chunks, unique


class SqlLinks(SqlBase):
    """Links: who each Slack user is in Cflow, with their encrypted user key."""

    def _box(self) -> KeyBox:
        if self._keys is None:
            raise MissingSecretKeyError()
        return self._keys

    def _link(self, row: Row[Any]) -> Link:
        try:
            key = self._box().decrypt(row.user_key_encrypted)
        except MissingSecretKeyError:
            raise
        except StoreKeyError:
            raise UnreadableLinkError(row.slack_user_id) from None
        return record_from(row, Link, user_key=key)

    def _readable(self, token: str) -> bool:
        try:
            self._box().decrypt(token)
        except MissingSecretKeyError:
            raise
        except StoreKeyError:
            return False
        return True

    async def save_link(self, link: Link) -> None:
        values = values_of(
            link,
            skip=("user_key",),
            user_key_encrypted=self._box().encrypt(link.user_key),
            linked_at=link.linked_at or utc_now(),
        )
        await self._upsert(links, links.c.slack_user_id, values)

    async def cflow_users_for(self, slack_user_ids: Iterable[str]) -> dict[str, str]:
        wanted, found = unique(slack_user_ids), {}
        async with self._begin() as conn:
            for chunk in chunks(wanted):
                query = select(links.c.slack_user_id, links.c.cflow_username).where(
                    links.c.slack_user_id.in_(chunk)
                )
                for row in await conn.execute(query):
                    found[row.slack_user_id] = row.cflow_username
        return found

    async def mark_key_refused(self, slack_user_id: str) -> None:
        stmt = (
            update(links)
            .where(links.c.slack_user_id == slack_user_id, links.c.key_refused_at.is_(None))
            .values(key_refused_at=utc_now())
        )
        async with self._begin() as conn:
            await conn.execute(stmt)

    async def link_for(self, slack_user_id: str) -> Link | None:
        query = select(links).where(links.c.slack_user_id == slack_user_id)
        async with self._begin() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else self._link(row)

    async def slack_users_for_cflow_users(self, usernames: Iterable[str]) -> dict[str, LinkedUser]:
        """When two Slack users link one Cflow user, the latest link wins.

        No key is decrypted here: one key that no longer decrypts (rotated away) must
        not stop the poller from reaching everyone else.
        """
        names = unique(usernames)
        rows: list[Row[Any]] = []
        if names:
            columns = (
                links.c.cflow_username,
                links.c.slack_user_id,
                links.c.linked_at,
                links.c.key_refused_at,
            )
            async with self._begin() as conn:
                for chunk in chunks(names):
                    query = select(*columns).where(links.c.cflow_username.in_(chunk))
                    rows.extend(await conn.execute(query))
        rows.sort(key=lambda row: (row.linked_at, row.slack_user_id))
        return {
            row.cflow_username: LinkedUser(row.slack_user_id, row.key_refused_at is None)
            for row in rows
        }

    async def delete_link(self, slack_user_id: str) -> bool:
        stmt = delete(links).where(links.c.slack_user_id == slack_user_id)
        async with self._begin() as conn:
            return (await conn.execute(stmt)).rowcount > 0

    async def list_links(self) -> list[LinkInfo]:
        """Every link, oldest first; a key no secret key can read is reported, not raised."""
        query = select(links).order_by(links.c.linked_at, links.c.slack_user_id)
        async with self._begin() as conn:
            rows = (await conn.execute(query)).all()
        return [
            record_from(row, LinkInfo, readable=self._readable(row.user_key_encrypted))
            for row in rows
        ]

    async def reencrypt_links(self) -> Reencrypted:
        """Re-encrypt every user key with the newest secret key, so older ones can go.

        Each update only applies if the row is unchanged since it was read, so a link saved
        meanwhile is never overwritten with its older value. A key that no configured
        secret key can read is left as it is and named in the result.
        """
        box = self._box()
        async with self._begin() as conn:
            rows = (
                await conn.execute(select(links.c.slack_user_id, links.c.user_key_encrypted))
            ).all()
        changes, unreadable = [], []
        for row in rows:
            if not self._readable(row.user_key_encrypted):
                unreadable.append(row.slack_user_id)
                continue
            new = box.rotate(row.user_key_encrypted)
            changes.append({"id": row.slack_user_id, "old": row.user_key_encrypted, "new": new})
        if not changes:
            return Reencrypted(0, tuple(unreadable))
        stmt = (
            update(links)
            .where(links.c.slack_user_id == bindparam("id"))
            .where(links.c.user_key_encrypted == bindparam("old"))
            .values(user_key_encrypted=bindparam("new"))
        )
        async with self._begin() as conn:
            await conn.execute(stmt, changes)
        return Reencrypted(len(changes), tuple(unreadable))
