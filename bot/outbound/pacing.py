"""Slack calls paced within Slack's published limits, most urgent first.

Every Web API call takes a token from each of its buckets (bot/outbound/limits.py) before
it is sent, so that a 429 is rare rather than the steering mechanism. A bucket with
calls waiting serves them by `Urgency`: a person's click first, then updates that take
buttons off, reviewers' DMs, channel cards, thread lines, and within one rank the
oldest request first. A 429 still happens (Slack's own judgement): it empties the
bucket until `Retry-After` and the call waits its turn again, so a rate limit delays a
call and never drops it.

Slack counts calls per workspace, not per process: instances on one PostgreSQL database
take their tokens from buckets kept there (bot/outbound/shared_pace.py), a few at a time, and
tell each other of a 429 the same way; each alone (SQLite, or while that database does
not answer) keeps its buckets in memory.

The pacing runs a little under Slack's rates (`RATE_MARGIN`, one token of burst less),
which absorbs the jitter between when a call leaves here and when Slack counts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.outbound.limits import LIMITS, BucketKey, Limit, bucket_keys
from bot.outbound.shared_pace import SharedPace, SharedSlots
from bot.telemetry.metrics import Metrics

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]
RATE_MARGIN = 0.95  # of Slack's rate
BURST_MARGIN = 1  # tokens
DEFAULT_RETRY_AFTER = 1.0


class Rank(IntEnum):
    """What goes first when Slack's limits make calls wait (lower first)."""

    PERSON = 0  # answering someone who clicked or typed: views.open must beat 3 s
    BUTTONS_OFF = 1  # a request decided elsewhere: a stale button is the dangerous thing
    REVIEWER_DM = 2
    CHANNEL_CARD = 3
    THREAD_LINE = 4  # thread lines, summaries, the submitter's outcome


class Superseded(Exception):
    """The call was no longer wanted once its turn came (a newer state replaced it)."""


@dataclass(frozen=True, order=True)
class Urgency:
    rank: Rank
    order: float = 0.0  # within a rank, smaller first (a request's submission time)
    wanted: Callable[[], bool] | None = field(default=None, compare=False)

    def still_wanted(self) -> bool:
        return self.wanted is None or self.wanted()


PERSON = Urgency(Rank.PERSON)
URGENCY: ContextVar[Urgency] = ContextVar("slack_urgency", default=PERSON)


@contextlib.contextmanager
def urgency(
    rank: Rank, order: float = 0.0, wanted: Callable[[], bool] | None = None
) -> Iterator[None]:
    """Slack calls made inside are served at `rank`; a person's own call stays first."""
    if URGENCY.get().rank is Rank.PERSON:
        rank = Rank.PERSON
    token = URGENCY.set(Urgency(rank, order, wanted))
    try:
        yield
    finally:
        URGENCY.reset(token)


class Lane:
    """One bucket's queue: its calls go in order of urgency, as tokens allow.

    The tokens are the lane's own bucket, or, shared with other instances, slots
    reserved in the store (`SharedSlots`); its own bucket again while the store does
    not answer."""

    def __init__(
        self, limit: Limit, clock: Callable[[], float], sleep: Sleep = asyncio.sleep
    ) -> None:
        self.limit = limit
        self.shared: SharedSlots | None = None
        self._bucket = limit.bucket()
        self._clock = clock
        self._sleep = sleep
        self._waiting: list[tuple[Urgency, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._pump: asyncio.Task[None] | None = None
        self._not_before = 0.0

    async def take(self, urgency: Urgency) -> None:
        now = self._clock()
        if not self._waiting and now >= self._not_before and self._token_now(now):
            return
        turn = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (urgency, next(self._order), turn))
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._serve())
        await turn

    def drop_unwanted(self) -> None:
        """Calls no longer wanted leave the queue now instead of spending a token later."""
        kept = []
        for entry in self._waiting:
            urgency, _, turn = entry
            if turn.done():
                continue
            if urgency.still_wanted():
                kept.append(entry)
            else:
                turn.set_exception(Superseded())
        heapq.heapify(kept)
        self._waiting = kept

    def hold(self, seconds: float) -> None:
        """Slack answered 429: nothing goes until `seconds` from now."""
        now = self._clock()
        self._not_before = max(self._not_before, now + seconds)
        self._bucket.empty(now)
        if self.shared is not None:
            self.shared.forget()

    async def _serve(self) -> None:
        while self._drop_gone():
            now = self._clock()
            wait = self._not_before - now if now < self._not_before else await self._until_token()
            if wait > 0:
                await self._sleep(wait)
            elif self._drop_gone():  # its caller may have gone while the store answered
                heapq.heappop(self._waiting)[2].set_result(None)

    def _drop_gone(self) -> bool:
        """Drop the callers at the head that gave up; True while some call waits."""
        while self._waiting and self._waiting[0][2].done():
            heapq.heappop(self._waiting)
        return bool(self._waiting)

    def _token_now(self, now: float) -> bool:
        """Take a token if one is here now, without a round trip to the store."""
        if self.shared is not None and self.shared.answering():
            return self.shared.take_due(now) and self._also_alone(now)
        return self._bucket.wait(now) == 0

    async def _until_token(self) -> float:
        """Seconds until the next token (0: taken now)."""
        if self.shared is not None and self.shared.answering():
            wait = await self.shared.until_slot(len(self._waiting))
            if wait == 0:
                self._also_alone(self._clock())
            if wait is not None:
                return wait
        return self._bucket.wait(self._clock())

    def _also_alone(self, now: float) -> bool:
        """A shared slot spends this lane's own token too, if it has one: should the store
        stop answering, pacing alone starts from what this instance just sent, not from
        a full burst on top of it."""
        self._bucket.wait(now)
        return True


class Pacer:
    """Every lane of one workspace, created as calls need them."""

    def __init__(
        self,
        metrics: Metrics,
        *,
        limits: Mapping[str, tuple[Limit, ...]] = LIMITS,
        scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """`scale` multiplies Slack's rates, for a stand-in whose limits are other;
        `clock` and `sleep` are real time except in the step tests (tests/virtual_time.py)."""
        self._metrics = metrics
        pace = RATE_MARGIN * scale
        self._limits = {
            method: tuple(limit.scaled(pace, BURST_MARGIN) for limit in given)
            for method, given in limits.items()
        }
        self._clock = clock
        self._sleep = sleep
        self._lanes: dict[BucketKey, Lane] = {}
        self._shared: SharedPace | None = None

    def share(self, pace: SharedPace) -> None:
        """From now on, pace with every instance that shares `pace`: one pace per workspace."""
        self._shared = pace
        for key, lane in self._lanes.items():
            lane.shared = pace.slots(key, lane.limit, self._clock)

    async def take(self, method: str, channel: str | None, urgency: Urgency) -> None:
        """Wait for this call's turn in each of its lanes, the tightest last: the call goes
        the moment its tightest bucket lets it (a wait in another lane after that, such as a
        round trip to the shared store, would bunch it with the next ones)."""
        started = self._clock()
        lanes = sorted(self._lanes_of(method, channel), key=lambda lane: -lane.limit.per_minute)
        for lane in lanes:
            self._metrics.slack_queue_depth.labels(urgency.rank.name).inc()
            try:
                await lane.take(urgency)
            finally:
                self._metrics.slack_queue_depth.labels(urgency.rank.name).dec()
        self._metrics.slack_wait_seconds.labels(urgency.rank.name).observe(self._clock() - started)

    async def hold(self, method: str, channel: str | None, seconds: float) -> None:
        """Slack answered 429: this call's lanes wait `seconds`, here and, shared, on
        every instance."""
        lanes = self._lanes_of(method, channel)
        for lane in lanes:
            lane.hold(seconds)
        if self._shared is not None:
            await self._shared.hold([lane.shared for lane in lanes if lane.shared], seconds)

    def drop_unwanted(self) -> None:
        """After a newer change superseded queued calls, or at shutdown."""
        for lane in self._lanes.values():
            lane.drop_unwanted()

    def _lanes_of(self, method: str, channel: str | None) -> list[Lane]:
        lanes = []
        for key, limit in bucket_keys(method, channel, self._limits):
            if key not in self._lanes:
                lane = self._lanes[key] = Lane(limit, self._clock, self._sleep)
                if self._shared is not None:
                    lane.shared = self._shared.slots(key, limit, self._clock)
            lanes.append(self._lanes[key])
        return lanes


class PacedWebClient(AsyncWebClient):
    """slack_sdk's client, with every call paced by a `Pacer` and 429s waited out."""

    def __init__(self, *args: Any, pacer: Pacer, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pacer = pacer
        self._metrics = metrics

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        urgency, channel = URGENCY.get(), _channel_of(kwargs)
        while True:
            await self.pacer.take(api_method, channel, urgency)
            if not urgency.still_wanted():
                raise Superseded(api_method)
            try:
                return await super().api_call(api_method, **kwargs)
            except SlackApiError as error:
                if error.response.status_code != 429:
                    raise
                seconds = _retry_after(error.response.headers)
                await self.pacer.hold(api_method, channel, seconds)  # the others know first
                self._metrics.slack_rate_limited.labels(api_method).inc()
                log.warning("Slack rate-limited %s: waiting %.0f s", api_method, seconds)


def _channel_of(call: Mapping[str, Any]) -> str | None:
    for part in ("json", "data", "params"):
        given = call.get(part)
        if isinstance(given, Mapping) and given.get("channel"):
            return str(given["channel"])
    return None


def _retry_after(headers: Mapping[str, Any]) -> float:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            value = value[0] if isinstance(value, list | tuple) else value
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                break
    return DEFAULT_RETRY_AFTER
