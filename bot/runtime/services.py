"""The few long-lived objects a process shares, built once from the settings."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.ids import is_channel_id
from bot.cflow import CflowClient, Credentials, create_session
from bot.domain.buckets import TokenBuckets
from bot.followups.after_cycle import AfterCycle
from bot.followups.digests import Digests
from bot.followups.handovers import Handovers
from bot.followups.reminders import Reminders
from bot.followups.steps import WorkflowSteps
from bot.inbound.hook import BURST, RATE
from bot.outbound.channels import CHANNEL_HINT, channel_id_for
from bot.outbound.directory import Directory
from bot.outbound.pacing import PacedWebClient, Pacer
from bot.outbound.shared_pace import SharedPace, across_instances
from bot.people.decisions import Decider
from bot.people.home import HomeTab
from bot.people.preferences import NotifySettings
from bot.people.undo import UndoWindows
from bot.runtime.listener_tasks import ListenerTasks
from bot.settings import Settings, SettingsError
from bot.store import open_store
from bot.store.contracts import Store
from bot.sync.changes import Observation
from bot.sync.hints import Hints
from bot.sync.liveness import Liveness, beat_period
from bot.sync.publisher import Publisher
from bot.sync.routes import WorkflowRoutes
from bot.sync.shared_listing import SharedListing
from bot.sync.stage_visits import Timing
from bot.telemetry.health import PollerHealth, StoreSnapshot
from bot.telemetry.metrics import Metrics

log = logging.getLogger(__name__)
NOTIFY_CHANNEL = "CFLOW_NOTIFY_CHANNEL"
NOT_REPEATABLE = frozenset({"chat.postMessage", "chat.postEphemeral"})
# Each person: 10 reads at once (Home tab opens, lists, commands), then one every 2 s.
PERSON_RATE, PERSON_BURST = 0.5, 10
Clock = Callable[[], datetime]
UNDO_GRACE = 10.0  # seconds a pass making decisions may take to end at a stop


def utc_now() -> datetime:
    return datetime.now(UTC)


class Timebase(Protocol):
    """Where the bot reads the time and waits for it: real time (`RealTime`), or a step
    test's virtual time (tests/virtual_time.py), in which Slack's limits and hours-long
    reminders pass in no wall time."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class RealTime:
    """Production's timebase: the wall clock, and asyncio's own sleep."""

    def now(self) -> datetime:
        return utc_now()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass
class Services:
    settings: Settings
    http: aiohttp.ClientSession
    cflow: CflowClient
    service: Credentials
    store: Store
    slack: AsyncWebClient
    directory: Directory
    publisher: Publisher
    decider: Decider
    metrics: Metrics
    home: HomeTab
    notify: NotifySettings
    digests: Digests
    after_cycle: AfterCycle
    hints: Hints
    routes: WorkflowRoutes
    listing: SharedListing
    liveness: Liveness
    undo: UndoWindows
    steps: WorkflowSteps
    clock: Clock = utc_now
    instance_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    listener_tasks: ListenerTasks = field(default_factory=ListenerTasks)
    poller_health: PollerHealth = field(default_factory=PollerHealth)
    store_snapshot: StoreSnapshot = field(default_factory=StoreSnapshot)  # without a poller
    hook_limits: TokenBuckets = field(default_factory=lambda: TokenBuckets(RATE, BURST))
    person_limits: TokenBuckets = field(
        default_factory=lambda: TokenBuckets(PERSON_RATE, PERSON_BURST)
    )
    _stop_beating: asyncio.Event = field(default_factory=asyncio.Event)
    _beating: asyncio.Task[None] | None = None
    pace: SharedPace | None = None  # Slack's limits shared with the other instances
    _stop_undoing: asyncio.Event = field(default_factory=asyncio.Event)
    _undoing: asyncio.Task[None] | None = None

    def is_admin(self, slack_user_id: str) -> bool:
        return slack_user_id in self.settings.cflow_bot_admins

    async def close(self) -> None:
        """What is still on its way to Slack stops first (the store has it as due); then
        this instance says goodbye, so that another takes what is left at once."""
        self.home.close()
        await self.stop_undoing()
        self._stop_beating.set()
        if self._beating is not None:
            await self._beating
        await self.publisher.close()
        await self.liveness.goodbye()
        await self.store.close()
        if self.pace is not None:
            await self.pace.close()
        await self.http.close()

    def start_beating(self) -> None:
        """The heartbeat (bot.sync.liveness), until `close()`."""
        self._beating = asyncio.create_task(self.liveness.run(self._stop_beating))

    def start_undoing(self) -> None:
        """Make decisions as their undo windows end (bot.people.undo), until `close()`:
        on every instance that serves Slack. A step test drives `undo.run_due()` itself."""
        self._undoing = asyncio.create_task(self.undo.run(self._stop_undoing))

    async def stop_undoing(self) -> None:
        """Stop after the pass under way: what is left waits in the store for the next
        instance (or this one, restarted)."""
        self._stop_undoing.set()
        if self._undoing is not None:
            try:
                await asyncio.wait_for(self._undoing, UNDO_GRACE)
            except (TimeoutError, asyncio.CancelledError):
                log.warning("The undo windows' pass did not end within %.0f s", UNDO_GRACE)
            except Exception:
                log.exception("The undo windows' task had failed")
            self._undoing = None


class RepeatableConnectionRetry(AsyncConnectionErrorRetryHandler):
    """Retries a call whose connection broke, unless that could post a message twice.

    A post whose answer was lost may have arrived: bot/sync/delivery.py settles it from the
    channel's history instead of posting blindly again.
    """

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if isinstance(error, aiohttp.ClientConnectorError):
            return True  # never connected, so nothing was sent
        if request.url.rsplit("/", 1)[-1] in NOT_REPEATABLE:
            return False
        return await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        )


def slack_client(
    settings: Settings,
    http: aiohttp.ClientSession,
    metrics: Metrics,
    timebase: Timebase | None = None,
) -> PacedWebClient:
    """Every Slack call of the process goes through this client's pacing (429s included)."""
    assert settings.slack_bot_token is not None
    ticks = timebase or RealTime()
    pacer = Pacer(
        metrics, scale=settings.slack_rate_scale, clock=ticks.monotonic, sleep=ticks.sleep
    )
    return PacedWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_base,
        session=http,
        retry_handlers=[RepeatableConnectionRetry()],
        pacer=pacer,
        metrics=metrics,
    )


async def build_services(
    settings: Settings, clock: Clock = utc_now, *, timebase: Timebase | None = None
) -> Services:
    """Open the HTTP session and the store; the caller owns `close()`. `clock` is the
    time people are told by (their digests and quiet hours): a test's own. A `timebase`
    (the step tests' virtual time) is that clock and more: Slack's pacing, the per-person
    and hook limits, the store's locks, the shared listing's age and the waits of
    deliveries and Cflow retries follow it too. Heartbeats and claims on Slack messages
    stay in real time: Slack's ts are real, and they matter only between instances."""
    ticks = timebase or RealTime()
    if timebase is not None:
        clock = timebase.now
    http = create_session()
    metrics = Metrics()
    slack = slack_client(settings, http, metrics, timebase)
    try:
        settings = await _with_channel_ids(settings, slack)
        store = await open_store(settings.database_url, settings.secret_keys, clock=ticks.now)
    except BaseException:
        await http.close()
        raise
    # The shared pace keeps the database's clock: a test's timebase paces alone.
    pace = across_instances(settings.database_url, metrics) if timebase is None else None
    if pace is not None:
        slack.pacer.share(pace)  # one pace per workspace, with every other instance
    cflow = CflowClient(
        http,
        str(settings.cflow_base_url),
        timeout=settings.cflow_timeout,
        on_error=lambda error: metrics.cflow_errors.labels(type(error).__name__).inc(),
        sleep=ticks.sleep,
    )
    service = settings.service_credentials()
    directory = Directory(cflow, service, slack, store)
    # Two intervals: the polling instance hands one over each cycle; another reads its own.
    listing = SharedListing(
        cflow, service, max_age=2 * settings.cflow_poll_interval, clock=ticks.monotonic
    )
    home = HomeTab(listing, store, slack, clock=clock)
    instance_id, health = uuid.uuid4().hex[:12], PollerHealth()
    liveness = Liveness(store, instance_id, period=beat_period(settings.cflow_poll_interval))
    await liveness.beat()  # alive, and who else is, before any work is taken or left
    timing = Timing(
        remind_after=settings.cflow_remind_after,
        remind_every=settings.cflow_remind_every,
        remind_max=settings.cflow_remind_max,
        escalate_after=settings.cflow_escalate_after,
    )
    # Who hears of requests as the publisher records them (the steps join below).
    watchers: list[Callable[[Sequence[Observation]], None]] = [listing.observed]

    def observed(observations: Sequence[Observation]) -> None:
        for see in watchers:
            see(observations)

    publisher = Publisher(
        slack,
        store,
        directory,
        request_url=settings.request_url,
        default_channel=settings.cflow_notify_channel,
        metrics=metrics,
        burst_limit=settings.cflow_burst_limit,
        pacer=slack.pacer,
        on_people=home.changed,
        on_observed=observed,
        timing=timing,
        clock=clock,
        liveness=liveness,
        sleep=ticks.sleep,
    )
    decider = Decider(
        cflow,
        store,
        publisher,
        service,
        metrics,
        cflow_timeout=settings.cflow_timeout,
        instance_id=instance_id,
        clock=clock,
    )
    undo = UndoWindows(
        store,
        decider,
        publisher,
        cflow,
        service,
        slack,
        home,
        liveness,
        clock=clock,
    )
    decider.on_parked = undo.wake
    digests = Digests(
        store,
        publisher.roundups,
        directory,
        channel_of=publisher.channel_of,
        metrics=metrics,
        clock=clock,
    )
    after_cycle = AfterCycle(
        publisher,
        Handovers(
            store,
            decider,
            publisher.delivery,
            service_username=service.username,
            metrics=metrics,
            clock=clock,
        ),
        digests,
        Reminders(
            store,
            publisher.roundups,
            publisher.delivery,
            directory,
            timing,
            channel_of=publisher.channel_of,
            metrics=metrics,
            clock=clock,
        ),
    )
    steps = WorkflowSteps(cflow, service, store, slack, publisher, liveness, metrics, clock=clock)
    watchers.append(steps.observed)
    services = Services(
        settings,
        http,
        cflow,
        service,
        store,
        slack,
        directory,
        publisher,
        decider,
        metrics,
        home,
        NotifySettings(store, slack, clock),
        digests,
        after_cycle,
        Hints(store, health),
        WorkflowRoutes(
            store,
            publisher.delivery,
            admins=settings.cflow_bot_admins,
            default_channel=settings.cflow_notify_channel,
            clock=clock,
        ),
        listing,
        liveness,
        undo,
        steps,
        clock=clock,
        instance_id=instance_id,
        poller_health=health,
        hook_limits=TokenBuckets(RATE, BURST, ticks.monotonic),
        person_limits=TokenBuckets(PERSON_RATE, PERSON_BURST, ticks.monotonic),
        pace=pace,
    )
    services.start_beating()
    return services


async def _with_channel_ids(settings: Settings, slack: AsyncWebClient) -> Settings:
    """`CFLOW_NOTIFY_CHANNEL=#name` becomes the channel's id: cards posted to a name
    could never be updated, since `chat.update` takes ids only."""
    given = settings.cflow_notify_channel
    if not given or is_channel_id(given):
        return settings
    try:
        found = await channel_id_for(slack, given)
    except SlackApiError as error:
        reason = error.response.get("error", "unknown error")
        raise SettingsError({NOTIFY_CHANNEL: f"Slack cannot list channels ({reason})"}) from None
    except (aiohttp.ClientError, TimeoutError) as error:
        problem = f"Slack did not answer the channel list ({type(error).__name__})"
        raise SettingsError({NOTIFY_CHANNEL: problem}) from None
    if found is None:
        problem = f"no channel named {_hashed(given)} that the bot can see; {CHANNEL_HINT}"
        raise SettingsError({NOTIFY_CHANNEL: problem})
    log.info("%s %s is channel %s", NOTIFY_CHANNEL, _hashed(given), found)
    return settings.model_copy(update={"cflow_notify_channel": found})


def _hashed(name: str) -> str:
    return "#" + name.strip().removeprefix("#")
