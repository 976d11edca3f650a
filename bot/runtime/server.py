"""Run the bot: the Slack endpoint (HTTP or Socket Mode) and the poller, stopped cleanly."""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType

from aiohttp import web

from bot.followups.steps import Listed
from bot.runtime.app import create_bolt_app, create_web_app
from bot.runtime.services import Clock, Services, Timebase, build_services, utc_now
from bot.settings import Settings
from bot.sync.poller import Poller

log = logging.getLogger(__name__)
SHUTDOWN_GRACE = 10.0


def make_poller(services: Services) -> Poller:
    return Poller(
        services.cflow,
        services.service,
        services.store,
        services.publisher,
        services.metrics,
        interval=services.settings.cflow_poll_interval,
        holder=services.instance_id,
        health=services.poller_health,
        hints=services.hints,
        after_cycle=lambda listed: after_cycle(services, listed),
        routes=services.routes,
        listing=services.listing,
        liveness=services.liveness,
    )


def after_cycle(services: Services, listed: Listed) -> None:
    """What each cycle starts once it has listed Cflow: follow-ups, and the workflow
    steps whose request was decided."""
    services.after_cycle.start(listed)
    services.steps.start(listed)


async def stop_poller(poller: asyncio.Task[None]) -> None:
    """Wait for the (already signalled) poller; whatever it did, shutdown goes on."""
    try:
        await asyncio.wait_for(poller, SHUTDOWN_GRACE)
    except (asyncio.CancelledError, TimeoutError):
        log.warning("The poller did not stop within %.0f s", SHUTDOWN_GRACE)
    except Exception:
        log.exception("The poller had failed")


class RunningBot:
    """`async with RunningBot(settings, …)`: serving on entry, drained and closed on exit."""

    def __init__(
        self,
        settings: Settings,
        *,
        host: str = "0.0.0.0",
        port: int | None = None,
        poll: bool = True,
        clock: Clock = utc_now,
        timebase: Timebase | None = None,
    ) -> None:
        """`clock` and `timebase`: see `build_services` (a test's time)."""
        self.settings = settings
        self.clock = clock
        self.timebase = timebase
        self.host = host
        self.port = settings.port if port is None else port
        self.poll = poll
        self.services: Services | None = None
        self._runner: web.AppRunner | None = None
        self._stop = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        assert self._runner is not None
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    async def __aenter__(self) -> RunningBot:
        self.services = await build_services(self.settings, self.clock, timebase=self.timebase)
        try:
            web_app = create_web_app(create_bolt_app(self.services), self.services)
            self._runner = web.AppRunner(web_app, shutdown_timeout=SHUTDOWN_GRACE)
            await self._runner.setup()
            await web.TCPSite(self._runner, self.host, self.port).start()
        except BaseException:
            await self.services.close()
            raise
        if self.timebase is None:  # in virtual time, the test makes what comes due
            self.services.start_undoing()
        if self.poll:
            self._poller = asyncio.create_task(make_poller(self.services).run(self._stop))
        log.info("Serving Slack on %s/slack/events", self.url)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._poller is not None:
            await stop_poller(self._poller)
        if self._runner is not None:
            await self._runner.cleanup()  # stops listening, waits for open requests
        if self.services is not None:
            await self.services.listener_tasks.drain(SHUTDOWN_GRACE)
            await self.services.close()


async def run_socket_mode(settings: Settings, *, poll: bool = True) -> None:
    """Socket Mode: Slack connects out to us, so no public URL is needed."""
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

    assert settings.slack_app_token is not None
    services = await build_services(settings)
    services.start_undoing()
    stop = asyncio.Event()
    poller = asyncio.create_task(make_poller(services).run(stop)) if poll else None
    handler = AsyncSocketModeHandler(
        create_bolt_app(services, socket_mode=True), settings.slack_app_token.get_secret_value()
    )
    try:
        await handler.start_async()
    finally:
        stop.set()
        if poller is not None:
            await stop_poller(poller)
        await handler.close_async()
        await services.listener_tasks.drain(SHUTDOWN_GRACE)
        await services.close()
