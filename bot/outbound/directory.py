"""Who is who: Cflow usernames ↔ Slack users, through links first and emails second.

A reviewer is reached in Slack through their link (they can act at once) or, failing
that, through a Cflow email that matches a Slack account (their DM invites them to
link). Cflow's user list and Slack's email look-ups are cached for a while so that a
poll cycle costs one `listUsers` call at most, not one call per request, and Slack
calls grow with the people a cycle's changes concern, not with everyone. The email
cache is bounded (least recently used go first), so a large workspace cannot grow it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

import aiohttp
from cachetools import TTLCache
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.cflow import CflowClient, CflowError, Credentials, User
from bot.store.contracts import LinkStore

log = logging.getLogger(__name__)
EMAILS_KEPT = 10_000


@dataclass(frozen=True)
class SlackTarget:
    """Where to reach a Cflow user in Slack, and whether they can act there yet."""

    cflow_username: str
    slack_user_id: str
    linked: bool
    key_works: bool = True  # False once Cflow refused their linked key: relink first


@dataclass(frozen=True)
class Targets:
    """Who can be reached, and whose lookup failed for now (to be tried again)."""

    found: dict[str, SlackTarget]
    unknown: frozenset[str] = frozenset()


class Directory:
    def __init__(
        self,
        cflow: CflowClient,
        service: Credentials,
        slack: AsyncWebClient,
        store: LinkStore,
        *,
        ttl: float = 300.0,
    ) -> None:
        self._cflow = cflow
        self._service = service
        self._slack = slack
        self._store = store
        self._ttl = ttl
        self._users: dict[str, User] | None = None
        self._users_at = 0.0
        self._by_email: TTLCache[str, str | None] = TTLCache(maxsize=EMAILS_KEPT, ttl=ttl)

    async def cflow_users(self) -> dict[str, User] | None:
        """Cflow's users by username, or None when the service account may not list them."""
        if self._users is None or time.monotonic() - self._users_at > self._ttl:
            try:
                users = await self._cflow.list_users(self._service)
            except CflowError as error:
                log.info("Cflow users are not readable: %s", error.message)
                return self._users
            self._users = {user.username: user for user in users}
            self._users_at = time.monotonic()
        return self._users

    async def targets(self, usernames: Iterable[str]) -> Targets:
        """Slack targets for these Cflow users. Those who map to nobody are left out;
        those whose lookup failed for now (Slack erred) are named, to be tried again."""
        wanted = sorted(set(usernames))
        linked = await self._store.slack_users_for_cflow_users(wanted)
        found = {
            name: SlackTarget(name, user.slack_user_id, linked=True, key_works=user.key_works)
            for name, user in linked.items()
        }
        unknown = set()
        for name in wanted:
            if name in found:
                continue
            slack_id, certain = await self._slack_id_by_email(name)
            if slack_id:
                found[name] = SlackTarget(name, slack_id, linked=False)
            elif not certain:
                unknown.add(name)
        return Targets(found, frozenset(unknown))

    async def slack_email(self, slack_user_id: str) -> str | None:
        try:
            answer = await self._slack.users_info(user=slack_user_id)
        except SlackApiError as error:
            log.warning("users.info failed: %s", error.response.get("error"))
            return None
        profile = (answer.get("user") or {}).get("profile") or {}
        return profile.get("email")

    def cached_users(self) -> list[User] | None:
        """Cflow's users as last read, without a call (a modal must open within 3 s)."""
        return list(self._users.values()) if self._users else None

    async def cflow_username_for_email(self, email: str | None, *, wait: float) -> str | None:
        """The Cflow user with this email, for pre-filling the link form.

        A modal must open within 3 s of the click, so Cflow gets `wait` seconds at most.
        """
        if not email:
            return None
        try:
            users = await asyncio.wait_for(self.cflow_users(), wait) or {}
        except TimeoutError:
            users = {user.username: user for user in self.cached_users() or []}
        return next((u.username for u in users.values() if same_email(u.email, email)), None)

    async def _slack_id_by_email(self, cflow_username: str) -> tuple[str | None, bool]:
        """(Slack id or None, whether that answer is certain). Only a certain answer is
        cached: a Slack error must not hide a reviewer for the cache's lifetime."""
        users = await self.cflow_users() or {}
        user = users.get(cflow_username)
        if user is None or not user.email or not user.is_active:
            return None, True
        email = user.email.casefold()
        if email in self._by_email:
            return self._by_email[email], True
        slack_id, certain = await self._lookup_email(user.email)
        if certain:
            self._by_email[email] = slack_id
        return slack_id, certain

    async def _lookup_email(self, email: str) -> tuple[str | None, bool]:
        try:
            answer = await self._slack.users_lookupByEmail(email=email)
        except SlackApiError as error:
            reason = error.response.get("error")
            if reason == "users_not_found":
                return None, True
            log.warning("users.lookupByEmail failed: %s", reason)
            return None, False
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("users.lookupByEmail failed: %s", type(error).__name__)
            return None, False
        return (answer.get("user") or {}).get("id"), True


def same_email(left: str | None, right: str | None) -> bool:
    """Emails compared the way mail servers do in practice: case-insensitive, trimmed."""
    return bool(left and right and left.strip().casefold() == right.strip().casefold())
