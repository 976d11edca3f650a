"""Where each workflow's cards go is an admin's choice, never the bot's guess.

At the bot's first cycle every active workflow is adopted as it was configured
(`CFLOW_NOTIFY_CHANNEL` unless subscribed elsewhere). A workflow first seen after that
goes to no channel until an admin routes it: the admins get one DM naming it, with
"Post in the default channel", "Choose a channel…" and "Keep to DMs"; its reviewers get
their DMs meanwhile. Each admin's DM is a card claimed in the store (so a second
instance, or a retry, never posts it twice) and loses its buttons once someone chose.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from bot.blocks.routes import route_answered, route_question, where_text
from bot.cflow import Workflow
from bot.domain.access import channel_for
from bot.outbound.pacing import Rank, urgency
from bot.store.contracts import CardStore, RouteStore, TrackingStore
from bot.store.records import Card, RouteKind, Subscription, WorkflowRoute
from bot.sync.delivery import Delivery
from bot.sync.results import Result

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
ROUTE_CARD = "~route"  # the cards' request id: an admin's DM is about a workflow
SHOWN: frozenset[RouteKind] = frozenset({"default", "channel"})  # routes with a channel
ADOPTED = "~adopted"  # a route row that says the first cycle has adopted what it found


ChannelOf = Callable[[str], str | None]  # workflow id -> its channel (None: DMs only)


async def channel_lookup(store: RouteStore, default_channel: str | None) -> ChannelOf:
    """Where each workflow's cards go now: only where an admin routed it
    (bot.domain.access), read in two queries for a whole batch."""
    subscriptions = await store.subscriptions()
    routes = await store.workflow_routes()
    return lambda workflow_id: channel_for(workflow_id, subscriptions, routes, default_channel)


class RoutesStore(CardStore, RouteStore, TrackingStore, Protocol):
    """Where cards go: the routes and subscriptions, and the cards and requests a change of
    route moves."""


class WorkflowRoutes:
    def __init__(
        self,
        store: RoutesStore,
        delivery: Delivery,
        *,
        admins: Sequence[str],
        default_channel: str | None,
        clock: Clock,
    ) -> None:
        self._store = store
        self._delivery = delivery
        self._admins = list(dict.fromkeys(admins))
        self._default = default_channel
        self._clock = clock
        self._routes: dict[str, WorkflowRoute] | None = None  # as last read
        self._asked: set[str] = set()  # workflows whose admins' DMs are all out

    async def seen(self, workflows: Sequence[Workflow]) -> None:
        """A cycle listed these: new ones are adopted (first cycle) or wait for an admin.
        A steady cycle, with nothing new and nothing waiting, asks the store nothing."""
        known = self._routes
        waiting = known is not None and any(r.route == "pending" for r in known.values())
        if known is not None and not waiting and all(w.id in known for w in workflows):
            return
        routes = await self._store.workflow_routes()
        new = [w for w in workflows if w.id not in routes]
        if new or ADOPTED not in routes:
            # The first cycle ever adopts what it finds, as configured; later, a new one waits.
            route: RouteKind = "pending" if ADOPTED in routes else "default"
            now = self._clock()
            added = [WorkflowRoute(w.id, route, w.label, first_seen_at=now) for w in new]
            await self._store.add_workflow_routes([*added, WorkflowRoute(ADOPTED, "default")])
            routes = await self._store.workflow_routes()
        self._routes = routes
        pending = [r for r in routes.values() if r.route == "pending"]
        await self._ask([r for r in pending if r.workflow_id not in self._asked])

    async def choose(
        self, workflow_id: str, name: str, route: RouteKind, by: str, channel: str | None = None
    ) -> None:
        """An admin's choice: stored, and every admin's DM about it says so."""
        if route == "channel":
            assert channel is not None
            await self._store.subscribe(Subscription(workflow_id, channel, created_by=by))
        else:
            await self._store.unsubscribe(workflow_id)
        now = self._clock()
        known = (await self._store.workflow_routes()).get(workflow_id)
        first = known.first_seen_at if known else now
        kept = name or (known.name if known else "")
        chosen = WorkflowRoute(workflow_id, route, kept, first, set_by=by, set_at=now)
        await self._store.save_workflow_route(chosen)
        self._routes = None  # read again at the next cycle
        if route in SHOWN and (known is None or known.route not in SHOWN):
            await self._card_what_waits(workflow_id, now)
        shown = channel if route == "channel" else self._default if route == "default" else None
        answered = route_answered(workflow_id, kept, where_text(route, shown), by)
        cards = (await self._store.cards_for([(workflow_id, ROUTE_CARD)])).get(
            (workflow_id, ROUTE_CARD), []
        )
        with urgency(Rank.THREAD_LINE):
            for card in cards:
                if card.ts is not None:
                    await self._delivery.update(card, answered)

    async def _card_what_waits(self, workflow_id: str, now: datetime) -> None:
        """Its requests already waiting get their channel cards at the next cycle (a
        retry posts only what is missing: their DMs are out already)."""
        waiting = [
            replace(t, retry_at=now)
            for t in (await self._store.tracked()).values()
            if t.workflow_id == workflow_id and t.status == "pending"
        ]
        await self._store.save_tracked(waiting)

    async def _ask(self, pending: Sequence[WorkflowRoute]) -> None:
        if not pending or not self._admins:
            return
        known = await self._store.cards_for((r.workflow_id, ROUTE_CARD) for r in pending)
        for route in pending:
            question = route_question(route.workflow_id, route.name, self._default)
            results = []
            for admin in self._admins:
                card = Card(
                    route.workflow_id,
                    ROUTE_CARD,
                    "",
                    "outcome",
                    slack_user_id=admin,
                    slot="route",
                    payload=json.dumps(question),
                )
                with urgency(Rank.THREAD_LINE):
                    result, _ = await self._delivery.post_dm(
                        card, question, known.get(card.key, [])
                    )
                results.append(result)
            if all(r in (Result.DONE, Result.FAILED) for r in results):
                self._asked.add(route.workflow_id)
        log.info("Asked the admins where %d new workflows go", len(pending))
