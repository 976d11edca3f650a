"""The app factory: Bolt with its listeners, mounted on an aiohttp server.

Nothing is built at import time. `create_bolt_app(services)` wires the listeners and
puts the services into every listener's context (Bolt passes context keys as
same-named arguments); `create_web_app(bolt, services)` serves Slack's requests on
`POST /slack/events` and health on `GET /healthz`.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot.inbound import (
    actions,
    commands,
    followups,
    forms,
    home,
    preferences,
    routes,
    shortcuts,
    steps,
    undo,
    unfurls,
    views,
)
from bot.inbound.answers import private_answer, tell
from bot.inbound.common import answered, person_of
from bot.inbound.hook import (
    FORWARDED_FOR,
    MAX_BODY,
    Malformed,
    authentic,
    client_address,
    read_hint,
)
from bot.inbound.subcommands import Tools
from bot.people.unfurls import Unfurler
from bot.runtime.services import Services
from bot.store.records import PollRun
from bot.sync.poller import POLLER_LEASE
from bot.telemetry.health import STALE_INTERVALS, StoreView

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
        # Named, or Bolt names it after its caller's file through inspect.stack(), which
        # reads the source of every frame: tens of ms a start under a deep stack (tests).
        name="cflow-bot",
        client=services.slack,
        signing_secret=secret.get_secret_value() if secret else None,
        # Socket Mode messages arrive over our own authenticated websocket, unsigned.
        request_verification_enabled=not socket_mode,
        # A workflow step's token is given per call (bot.followups.steps): Bolt's own
        # middleware would set it on the request's client, shared here by every call.
        attaching_function_token_enabled=False,
    )

    tools = Tools(
        services.cflow,
        services.store,
        services.publisher,
        services.decider,
        services.service,
        services.settings,
        services.home,
        services.notify,
        services.digests,
        services.routes,
        services.listing,
        services.person_limits,
        services.clock,
    )

    unfurler = Unfurler(
        services.cflow,
        services.store,
        services.publisher,
        services.slack,
        services.service,
        template=settings.cflow_request_url,
        clock=services.clock,
    )

    async def inject_services(context: dict[str, Any], next: Callable[[], Awaitable[None]]) -> None:
        # Bolt hands each context key to a listener that names it as an argument. Its own
        # per-request client would bypass the pacing that keeps within Slack's limits.
        context.update(
            client=services.slack,
            tools=tools,
            cflow=services.cflow,
            store=services.store,
            publisher=services.publisher,
            decider=services.decider,
            directory=services.directory,
            service=services.service,
            routes=services.routes,
            undo=services.undo,
            steps=services.steps,
            unfurler=unfurler,
        )
        await next()

    app.use(inject_services)
    app.error(report_error)
    listeners = (actions, commands, followups, forms, home, preferences, routes, steps, undo, views)
    for module in (*listeners, unfurls, shortcuts):
        module.register(app, lambda listener: services.listener_tasks.track(answered(listener)))
    return app


async def report_error(
    error: Exception, body: dict[str, Any], respond: Any, context: dict[str, Any]
) -> None:
    """What still reaches Bolt (a middleware's failure: listeners answer their own, see
    `answered`) takes the same one error path: a domain error becomes its private answer,
    anything else is logged with an id, and the person sees the id, never a traceback."""
    user = person_of(body)
    answer = await private_answer(error, context["store"], user)
    await tell(answer, body=body, respond=respond, client=context["client"], user=user)


def create_web_app(bolt: AsyncApp, services: Services) -> web.Application:
    web_app = web.Application()
    web_app[BOLT] = bolt
    web_app[SERVICES] = services
    web_app.router.add_post("/slack/events", slack_events)
    web_app.router.add_post("/cflow/hook", cflow_hook)
    web_app.router.add_post("/cflow/hook/{secret}", cflow_hook)
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics)
    return web_app


async def slack_events(request: web.Request) -> web.Response:
    """Bolt verifies the signature and the timestamp (401 otherwise) and acks in time."""
    bolt, started = request.app[BOLT], time.monotonic()
    response = await bolt.async_dispatch(await to_bolt_request(request))
    request.app[SERVICES].metrics.ack_seconds.observe(time.monotonic() - started)
    return await to_aiohttp_response(response)


async def cflow_hook(request: web.Request) -> web.Response:
    """Cflow says something changed: answered at once, read by the poller (bot.inbound.hook)."""
    services = request.app[SERVICES]
    secret = services.settings.cflow_hook_secret
    if secret is None:
        return web.json_response({"error": "the hook is off (CFLOW_HOOK_SECRET)"}, status=404)
    if not authentic(request, secret.get_secret_value()):
        services.metrics.hook_calls.labels("refused").inc()
        return web.json_response({"error": "unauthorized"}, status=401)
    forwarded = request.headers.getall(FORWARDED_FOR, [])
    source = client_address(request.remote, forwarded, services.settings.cflow_trusted_proxies)
    if not services.hook_limits.allow(source):
        services.metrics.hook_calls.labels("limited").inc()
        return web.json_response({"error": "too many"}, status=429, headers={"Retry-After": "1"})
    body = await request.content.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        return web.json_response({"error": "too large"}, status=413)
    try:
        hint = read_hint(request.content_type, body)
    except Malformed as problem:
        services.metrics.hook_calls.labels("malformed").inc()
        return web.json_response({"error": str(problem)}, status=400)
    await services.hints.add([hint.workflow_id] if hint.workflow_id else [])
    services.metrics.hook_calls.labels("accepted").inc()
    return web.json_response({"accepted": True}, status=202)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus' format; with METRICS_TOKEN set, only for `Authorization: Bearer <it>`
    (the figures say how busy the bot and its people are)."""
    services = request.app[SERVICES]
    token = services.settings.metrics_token
    if token is not None and not _bearer_is(request, token.get_secret_value()):
        challenge = {"WWW-Authenticate": 'Bearer realm="metrics"'}
        return web.json_response({"error": "unauthorized"}, status=401, headers=challenge)
    body = services.metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _bearer_is(request: web.Request, token: str) -> bool:
    """Whether the request carries `token` as its bearer token, compared in constant time."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    matches = hmac.compare_digest(given.strip().encode(errors="surrogateescape"), token.encode())
    return scheme.lower() == "bearer" and matches


async def healthz(request: web.Request) -> web.Response:
    """200 while this instance's part works; 503 with `reason` when it does not.

    Unhealthy means: the store does not answer; or this instance should be polling and
    has completed no cycle for 3 intervals; or another instance holds the poller lease
    and its last recorded cycle is that old. Errors show as classes and counts only.
    Answered from what the poller loop last saw (bot/telemetry/health.py), so that a GET, however
    many come, makes no database query; without the loop, from a snapshot of a few seconds.
    """
    services = request.app[SERVICES]
    health = services.poller_health
    seen = health.view() or await services.store_snapshot.view(lambda: _ask_store(services))
    body: dict[str, Any] = {"instance": services.instance_id, "poller": None}
    reasons: list[str] = []
    body["store"] = "ok" if seen.reachable else "unreachable"
    body["store_seconds_ago"] = round(time.monotonic() - seen.at, 1)
    if not seen.reachable:
        reasons.append("the database does not answer")
    stalled = health.stalled_for()
    if stalled is not None:
        reasons.append(f"this instance has completed no poll cycle for {stalled:.0f} s")
    if seen.reachable:
        body["polling_here"] = seen.polling_here
        if seen.run is not None:
            body["poller"] = poll_run_summary(seen.run)
        if _others_poll_stalled(services, seen):
            reasons.append("the polling instance has completed no cycle for 3 intervals")
    if health.enabled:
        body["poller_loop"] = health.summary()
    body["delivering"] = services.publisher.queued  # batches of changes on their way to Slack
    body["ok"] = not reasons
    if reasons:
        body["reason"] = "; ".join(reasons)
    return web.json_response(body, status=503 if reasons else 200)


async def _ask_store(services: Services) -> StoreView:
    """The store asked now: the three queries a GET once made, for the snapshot."""
    if not await services.store.ping():
        return StoreView(time.monotonic(), reachable=False)
    holder = await services.store.lock_holder(POLLER_LEASE)
    run = await services.store.last_poll_run()
    here = holder == services.instance_id
    return StoreView(time.monotonic(), True, here, holder is not None and not here, run)


def poll_run_summary(run: PollRun) -> dict[str, Any]:
    """The last cycle's figures; its errors as counts by class ("workflow 7: Class")."""
    classes = Counter(error.rsplit(": ", 1)[-1] for error in run.errors)
    return {
        "last_cycle": run.started_at.isoformat(),
        "seconds_ago": round(_age(run), 1),
        "duration": round(run.duration, 3),
        "workflows": run.workflows,
        "pending": run.pending,
        "errors": sum(classes.values()),
        "error_classes": dict(classes),
    }


def _others_poll_stalled(services: Services, seen: StoreView) -> bool:
    run = seen.run
    if not seen.others_poll or run is None:
        return False
    return _age(run) - run.duration > STALE_INTERVALS * services.settings.cflow_poll_interval


def _age(run: PollRun) -> float:
    return (datetime.now(UTC) - run.started_at).total_seconds()
