"""The app factory: Bolt with its listeners, mounted on an aiohttp server.

Nothing is built at import time. `create_bolt_app(services)` wires the listeners and
puts the services into every listener's context (Bolt passes context keys as
same-named arguments); `create_web_app(bolt, services)` serves Slack's requests on
`POST /slack/events` and health on `GET /healthz`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot.poller import POLLER_LEASE
from bot.services import Services
from bot.slack.blocks import error_message
from bot.slack.listeners import actions, commands, events, forms, views

log = logging.getLogger(__name__)
BOLT = web.AppKey("bolt", AsyncApp)
SERVICES = web.AppKey("services", Services)


def create_bolt_app(services: Services, *, socket_mode: bool = False) -> AsyncApp:
    """Bolt with our listeners; over HTTP every request's signature is verified."""
    settings = services.settings
    secret = settings.slack_signing_secret
    if not socket_mode:
        settings.require("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
    app = AsyncApp(
        client=services.slack,
        signing_secret=secret.get_secret_value() if secret else None,
        # Socket Mode messages arrive over our own authenticated websocket, unsigned.
        request_verification_enabled=not socket_mode,
    )

    async def inject_services(context: dict[str, Any], next: Callable[[], Awaitable[None]]) -> None:
        context["services"] = services
        await next()

    app.use(inject_services)
    app.error(report_error)
    for module in (actions, commands, events, forms, views):
        module.register(app, services.in_flight.track)
    return app


async def report_error(error: Exception, body: dict[str, Any], respond: Any) -> None:
    """One path for the unexpected: log it with an id, show the id, never the traceback."""
    error_id = uuid.uuid4().hex[:8]
    log.error("Unhandled error %s", error_id, exc_info=error)
    if respond is not None and body.get("response_url"):
        text = f"Something went wrong on our side (error id {error_id}). Please try again."
        await respond(**error_message(text), response_type="ephemeral", replace_original=False)


def create_web_app(bolt: AsyncApp, services: Services) -> web.Application:
    web_app = web.Application()
    web_app[BOLT] = bolt
    web_app[SERVICES] = services
    web_app.router.add_post("/slack/events", slack_events)
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics)
    return web_app


async def slack_events(request: web.Request) -> web.Response:
    """Bolt verifies the signature and the timestamp (401 otherwise) and acks in time."""
    bolt, started = request.app[BOLT], time.monotonic()
    response = await bolt.async_dispatch(await to_bolt_request(request))
    request.app[SERVICES].metrics.ack_seconds.observe(time.monotonic() - started)
    return await to_aiohttp_response(response)


async def metrics(request: web.Request) -> web.Response:
    body = request.app[SERVICES].metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    store_ok = await services.store.ping()
    run = await services.store.last_poll_run() if store_ok else None
    body: dict[str, Any] = {
        "ok": store_ok,
        "store": "ok" if store_ok else "unreachable",
        "instance": services.instance_id,
    }
    if store_ok:
        body["polling_here"] = (
            await services.store.lock_holder(POLLER_LEASE) == services.instance_id
        )
    if run is not None:
        age = (datetime.now(UTC) - run.started_at).total_seconds()
        body["poller"] = {
            "last_cycle": run.started_at.isoformat(),
            "seconds_ago": round(age, 1),
            "duration": round(run.duration, 3),
            "workflows": run.workflows,
            "pending": run.pending,
            "errors": list(run.errors),
        }
    else:
        body["poller"] = None
    return web.json_response(body, status=200 if store_ok else 503)
