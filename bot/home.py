"""Each person's Home tab: their approvals desk, read from Cflow with their own key.

Never the service account's view: what waits on someone is what Cflow shows *them*.
A key Cflow refuses (or one that no longer decrypts) turns the tab into "link again".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from slack_sdk.web.async_client import AsyncWebClient

from bot.cflow import (
    CflowClient,
    CflowError,
    CflowUnauthorizedError,
    Credentials,
    Request,
    Workflow,
)
from bot.decisions import credentials_for
from bot.hours import preference_for
from bot.pacing import Rank, urgency
from bot.slack.home import HomeDesk, home_view, with_selection
from bot.store.base import Link, Store
from bot.store.errors import UnreadableLinkError

log = logging.getLogger(__name__)
HOME_SETTLE_SECONDS = 3.0  # changes to one person's desk within this refresh it once
KEPT_OPEN = timedelta(days=30)  # a tab opened this recently is kept current
Clock = Callable[[], datetime]
Listed = list[tuple[Workflow, Request]]


async def visible_requests(cflow: CflowClient, creds: Credentials) -> tuple[Listed, bool]:
    """Every request `creds` can see across the active workflows, and whether some
    workflow's listing failed (what is shown may then be incomplete)."""
    workflows = [w for w in await cflow.list_workflows(creds) if w.is_active]
    listings = await asyncio.gather(
        *(cflow.list_requests(creds, w.id) for w in workflows), return_exceptions=True
    )
    found = [
        (workflow, request)
        for workflow, listing in zip(workflows, listings, strict=True)
        if not isinstance(listing, BaseException)
        for request in listing
    ]
    return found, any(isinstance(listing, BaseException) for listing in listings)


def oldest_first(items: Listed) -> Listed:
    """Requests by submission, oldest first; those without a date last."""
    return sorted(items, key=lambda item: item[1].created_at or datetime.max.replace(tzinfo=UTC))


class HomeTab:
    def __init__(
        self,
        cflow: CflowClient,
        store: Store,
        service: Credentials,
        slack: AsyncWebClient,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self._cflow = cflow
        self._store = store
        self._service = service
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

    async def publish(self, user: str, *, page: int = 1, notice: Sequence[str] = ()) -> None:
        """Publish `user`'s Home tab as Cflow shows it to them now, with what they ticked."""
        desk = await self.desk(user, page=page, notice=notice)
        ticked = (await self._store.home_tabs_for([user], datetime.min.replace(tzinfo=UTC))).get(
            user
        )
        view = home_view(desk)
        if ticked:
            view = view | {"blocks": with_selection(view["blocks"], set(ticked))}
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
        try:
            seen, partly = await visible_requests(self._cflow, credentials_for(self._service, link))
        except CflowUnauthorizedError:
            await self._store.mark_key_refused(link.slack_user_id)
            return HomeDesk(now, name, key_works=False)
        except CflowError as error:
            log.info("Cflow cannot list %s's requests: %s", name, error.message)
            return HomeDesk(now, name, unreadable=True, page=page, notice=tuple(notice))
        waiting = [(w, r) for w, r in seen if r.is_pending and name in r.reviewers(w)]
        mine = [(w, r) for w, r in seen if r.submitted_by == name]
        mine.sort(key=lambda item: item[1].updated_at or now, reverse=True)
        return HomeDesk(
            now,
            name,
            waiting=oldest_first(waiting),
            submitted=mine,
            unreadable=partly,
            page=page,
            notice=tuple(notice),
        )
