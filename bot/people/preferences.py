"""Each person's notification settings: read, and saved with their time zone and schedule.

Their time zone is Slack's (`users.info`), read whenever they change a setting, so the
times they pick mean what their clock shows; their next digest is set from it then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Protocol

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.hours import next_digest, preference_for, zone_name
from bot.store.contracts import (
    DigestStore,
    FollowupStore,
    LinkStore,
    PreferenceStore,
    TrackingStore,
)
from bot.store.records import ChannelDigest, Preference

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


class PreferencesStore(
    DigestStore, FollowupStore, LinkStore, PreferenceStore, TrackingStore, Protocol
):
    """What a person's settings change: their preferences and digest, and the follow-ups put
    off or due."""


class NotifySettings:
    def __init__(self, store: PreferencesStore, slack: AsyncWebClient, clock: Clock) -> None:
        self._store = store
        self._slack = slack
        self._clock = clock

    async def of(self, user: str) -> Preference:
        return preference_for(await self._store.preferences_for([user]), user)

    async def save(self, pref: Preference) -> Preference:
        """Store `pref` in the person's current Slack time zone, with its next digest."""
        tz = await self.time_zone(pref.slack_user_id, pref.tz)
        chosen = replace(pref, tz=tz, claimed_until=None)
        due = next_digest(chosen, self._clock()) if chosen.mode == "digest" else None
        chosen = replace(chosen, next_run_at=due)
        await self._store.save_preference(chosen)
        await self._release_held(chosen.slack_user_id)
        return chosen

    async def _release_held(self, user: str) -> None:
        """What waited for them (their quiet hours, their absence) is looked at again
        now, under the settings just saved: what may go now goes at the next cycle."""
        name = (await self._store.cflow_users_for([user])).get(user)
        if name is None:
            return
        now = self._clock()
        tracked = await self._store.tracked()
        held = [
            replace(t, retry_at=now)
            for t in tracked.values()
            if name in t.reviewers and t.retry_at is not None and t.retry_at > now
        ]
        await self._store.save_tracked(held)
        await self._store.followups_due(name, now)

    async def save_channel_digest(self, channel: str, at: int, admin: str) -> ChannelDigest:
        """A channel's daily digest at `at`, in the time zone of the admin who set it."""
        tz = await self.time_zone(admin, (await self.of(admin)).tz)
        schedule = Preference(channel, digest_at=at, tz=tz)
        digest = ChannelDigest(channel, at, tz, admin, next_digest(schedule, self._clock()))
        await self._store.save_channel_digest(digest)
        return digest

    async def time_zone(self, user: str, known: str) -> str:
        """Their Slack time zone now (`known` when Slack does not say)."""
        try:
            answer = await self._slack.users_info(user=user)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as error:
            log.warning("No time zone from Slack for %s (%s)", user, type(error).__name__)
            return known
        name = str((answer.get("user") or {}).get("tz") or known)
        return zone_name(name)
