"""Each person's Home tab: their approvals desk.

What waits on them and what they submitted come from the shared listing (bot.shared_
listing), filtered to what they take part in (bot.domain.access): nobody sees through it a
request they neither review nor submitted, and opening a tab costs no Cflow call. Their
drafts, which only their own key can read, are one `/cflow drafts` away. A key Cflow
refused (or one that no longer decrypts) turns the tab into "link again".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.home import HomeDesk, home_view, with_selection
from bot.blocks.undo import with_undo
from bot.cflow import Request, Workflow
from bot.domain.access import submitted_by, waiting_on
from bot.domain.hours import preference_for
from bot.outbound.pacing import Rank, urgency
from bot.store.contracts import HomeStore, LinkStore, PolicyStore, PreferenceStore
from bot.store.errors import UnreadableLinkError
from bot.store.records import Link
from bot.sync.shared_listing import SharedListing

log = logging.getLogger(__name__)
HOME_SETTLE_SECONDS = 3.0  # changes to one person's desk within this refresh it once
KEPT_OPEN = timedelta(days=30)  # a tab opened this recently is kept current
MAX_HOME_BLOCKS = 100
Clock = Callable[[], datetime]
Listed = list[tuple[Workflow, Request]]


class HomeTabStore(HomeStore, LinkStore, PreferenceStore, PolicyStore, Protocol):
    """What a Home tab reads: who opened theirs and what they ticked, links and preferences,
    and the policies of the workflows it lists."""


def oldest_first(items: Listed) -> Listed:
    """Requests by submission, oldest first; those without a date last."""
    return sorted(items, key=lambda item: item[1].created_at or datetime.max.replace(tzinfo=UTC))


class HomeTab:
    def __init__(
        self,
        listing: SharedListing,
        store: HomeTabStore,
        slack: AsyncWebClient,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self._listing = listing
        self._store = store
        self._slack = slack
        self._clock = clock
        self._due: dict[str, asyncio.Task[None]] = {}
        self._looking: set[asyncio.Task[None]] = set()

    def changed(self, people: set[str]) -> None:
        """Something on these people's desks changed: refresh the tabs they have opened
        (on any instance), once per burst of changes (views.publish is Tier 4)."""
        waiting = people - set(self._due)
        if waiting:
            task = asyncio.create_task(self._refresh_opened(waiting))
            self._looking.add(task)
            task.add_done_callback(self._looking.discard)

    async def _refresh_opened(self, people: set[str]) -> None:
        try:
            opened = await self._store.home_tabs_for(people, self._clock() - KEPT_OPEN)
        except Exception as error:  # the change itself is done; the tab catches up later
            log.warning("Could not see whose Home tabs to refresh (%s)", type(error).__name__)
            return
        for user in opened:
            if user not in self._due:
                self._due[user] = asyncio.create_task(self._settle_then_refresh(user))

    def close(self) -> None:
        """Refreshes still waiting for changes to settle are dropped at shutdown."""
        for task in [*self._due.values(), *self._looking]:
            task.cancel()

    async def _settle_then_refresh(self, user: str) -> None:
        try:
            await asyncio.sleep(HOME_SETTLE_SECONDS)
        finally:
            self._due.pop(user, None)
        with urgency(Rank.THREAD_LINE):
            await self.refresh(user)

    async def opened(self, user: str) -> None:
        """They opened their tab: kept current for them from now on."""
        await self._store.home_opened(user, self._clock())
        await self.publish(user)

    async def publish(
        self, user: str, *, page: int = 1, notice: Sequence[str] = (), undo: str | None = None
    ) -> None:
        """Publish `user`'s Home tab as Cflow shows it to them now, with what they ticked;
        with `undo`, an Undo button (its value) under the notice."""
        desk = await self.desk(user, page=page, notice=notice)
        ticked = (await self._store.home_tabs_for([user], datetime.min.replace(tzinfo=UTC))).get(
            user
        )
        view = home_view(desk)
        if ticked:
            view = view | {"blocks": with_selection(view["blocks"], set(ticked))}
        if undo is not None:
            shown = with_undo(view["blocks"], undo, notice[0] if notice else "")
            view = view | {"blocks": shown[:MAX_HOME_BLOCKS]}
        await self._slack.views_publish(user_id=user, view=view)

    async def refresh(self, user: str, *, notice: Sequence[str] = ()) -> None:
        """`publish`, for after something changed: a failure is logged, not raised."""
        try:
            await self.publish(user, notice=notice)
        except Exception as error:  # the change itself is done; the tab catches up later
            log.warning("Could not refresh the Home tab of %s (%s)", user, type(error).__name__)

    async def desk(self, user: str, *, page: int = 1, notice: Sequence[str] = ()) -> HomeDesk:
        told = preference_for(await self._store.preferences_for([user]), user)
        return replace(await self._desk(user, page, notice), preference=told)

    async def _desk(self, user: str, page: int, notice: Sequence[str]) -> HomeDesk:
        now = self._clock()
        try:
            link = await self._store.link_for(user)
        except UnreadableLinkError:
            await self._store.mark_key_refused(user)
            return HomeDesk(now, key_works=False)
        if link is None:
            return HomeDesk(now, notice=tuple(notice))
        if link.key_refused_at is not None:
            return HomeDesk(now, link.cflow_username, key_works=False)
        return await self._linked_desk(link, now, page, notice)

    async def _linked_desk(
        self, link: Link, now: datetime, page: int, notice: Sequence[str]
    ) -> HomeDesk:
        name = link.cflow_username
        seen = await self._listing.current()
        mine = [(w, r) for w, r in submitted_by(name, seen.items()) if r.status != "draft"]
        mine.sort(key=lambda item: item[1].updated_at or now, reverse=True)
        waiting = oldest_first(waiting_on(name, seen.items()))
        return HomeDesk(
            now,
            name,
            waiting=waiting,
            policies=await self._store.policies_for({w.id for w, _ in waiting}),
            submitted=mine,
            unreadable=seen.partial,
            page=page,
            notice=tuple(notice),
        )
