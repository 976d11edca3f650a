"""The playground's web page: what Slack would show, and Slack's payloads for what you do.

The page asks `/api/view` for one person's conversation (rendered to HTML by
bot.devtools.playground.render, which escapes everything), and `/api/events` tells it when to
ask again. What the person does there becomes the request Slack itself would send:
a click is a signed `block_actions` payload (with a `response_url` the stand-in serves
and a `trigger_id` that opens their modals), a submission a `view_submission`, a
`/cflow …` line a slash command, all posted to the bot's `/slack/events`. The Cflow
panel acts on the sandbox directly, as Cflow's own web app would.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

import aiohttp
from aiohttp import web

from bot.blocks.ids import Shortcut
from bot.devtools.playground.cflow_panel import cflow_routes, json_body
from bot.devtools.playground.mrkdwn import Names
from bot.devtools.playground.render import message_html, unfurls_html, view_html
from bot.devtools.playground.steps_panel import steps_routes
from bot.devtools.playground.world import REQUEST_LINKS, World
from bot.devtools.slack_standin.payloads import (
    as_slack_sends,
    block_action,
    closed_view,
    event_callback,
    form,
    global_shortcut,
    message_shortcut,
    sign,
    slash_command,
    submitted_view,
    unfurl_action,
    view_action,
)
from bot.devtools.slack_standin.slack import StoredMessage

log = logging.getLogger(__name__)
WORLD = web.AppKey("world", World)
HTTP = web.AppKey("http", aiohttp.ClientSession)
HOME = "home"
STATIC = ("index.html", "app.js", "style.css")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page_app(world: World) -> web.Application:
    app = web.Application(middlewares=[_no_sniffing])
    app[WORLD] = world
    app.cleanup_ctx.append(_http_session)
    app.router.add_get("/", _static_file("index.html"))
    for name in STATIC:
        app.router.add_get(f"/static/{name}", _static_file(name))
    app.router.add_get("/api/world", _world)
    app.router.add_get("/api/view", _view)
    app.router.add_get("/api/events", _events)
    app.router.add_post("/api/act", _act)
    app.router.add_post("/api/submit", _submit)
    app.router.add_post("/api/close", _close)
    app.router.add_post("/api/command", _command)
    app.router.add_post("/api/home", _open_home)
    app.router.add_post("/api/say", _say)
    app.router.add_post("/api/compose", _compose)
    app.router.add_post("/api/shortcut", _shortcut)
    cflow_routes(app.router, lambda request: request.app[WORLD])
    steps_routes(app.router, lambda request: request.app[WORLD], _send)
    return app


@web.middleware
async def _no_sniffing(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The page runs only its own script: a request field can never become code."""
    response = await handler(request)
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


async def _http_session(app: web.Application) -> Any:
    async with aiohttp.ClientSession() as http:
        app[HTTP] = http
        yield


def _static_file(name: str) -> Handler:
    kinds = {"html": "text/html", "js": "text/javascript", "css": "text/css"}
    body = resources.files("bot.devtools.playground").joinpath("static", name).read_bytes()
    kind = kinds[name.rsplit(".", 1)[-1]]

    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=kind, charset="utf-8")

    return serve


# What a person sees


async def _world(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    people = [{"id": user_id, "name": name} for user_id, name in world.people.items()]
    channels = [{"id": cid, "name": name} for cid, name in world.channels.items()]
    example = REQUEST_LINKS.format(workflow_id="1001", request_id="103")
    return web.json_response({"people": people, "channels": channels, "request_link": example})


async def _view(request: web.Request) -> web.Response:
    """One person's conversation (a channel, their DM with the bot, or the App Home),
    a thread when asked, and their open modal."""
    world = request.app[WORLD]
    user = _person(world, request.query.get("user"))
    where = request.query.get("conversation") or next(iter(world.channels))
    names = _names(world)
    body: dict[str, Any] = {"conversation": where}
    if where == HOME:
        home = world.slack.home_view(user)
        body["home"] = view_html(home, names) if home else None
    else:
        channel = _channel(world, user, where)
        body["messages"] = _conversation(world, channel, user, names)
        thread = request.query.get("thread")
        if thread:
            body["thread"] = _thread(world, channel, thread, names)
    draft = request.query.get("draft")
    if draft:  # what the bot previewed in the composer, before it is sent
        attachments = [
            {"id": i, "is_app_unfurl": True, "app_unfurl_url": url, **unfurl}
            for i, (url, unfurl) in enumerate(world.slack.unfurls.draft_unfurls(draft).items())
        ]
        body["draft"] = unfurls_html(attachments, names, seed=draft)
    stack = world.slack.modal_stack(user)
    if stack:
        top = stack[-1]
        body["modal"] = view_html(top, names, errors=world.errors.get(top["id"]))
    return web.json_response(body)


def _names(world: World) -> Names:
    users = world.people | {world.slack.bot_user_id: world.slack.bot_name}
    return Names(users=users, channels=world.channels)


def _conversation(world: World, channel: str, user: str, names: Names) -> list[str]:
    posted = [m for m in world.slack.messages(channel) if not m.thread_ts or m.thread_ts == m.ts]
    replies: dict[str, int] = {}
    for message in world.slack.messages(channel):
        if message.thread_ts and message.thread_ts != message.ts:
            replies[message.thread_ts] = replies.get(message.thread_ts, 0) + 1
    mine = [m for m in world.slack.ephemerals(channel, user) if not m.thread_ts]
    shown = sorted([*posted, *mine], key=lambda m: m.ts)
    bot = world.slack.bot_user_id
    return [message_html(_shown(m, replies.get(m.ts, 0), bot), names) for m in shown]


def _thread(world: World, channel: str, parent: str, names: Names) -> list[str]:
    found = [m for m in world.slack.messages(channel) if parent in (m.ts, m.thread_ts)]
    return [message_html(_shown(m, 0, world.slack.bot_user_id), names) for m in found]


def _shown(message: StoredMessage, replies: int, bot_user: str) -> dict[str, Any]:
    return {
        "ts": message.ts,
        "text": message.text,
        "blocks": message.blocks,
        "attachments": message.attachments,
        "user": message.user,
        "thread_ts": message.thread_ts,
        "ephemeral": message.visible_to is not None,
        "replies": replies,
        "edited": len(message.history) > 1,
        "from_app": message.user == bot_user,  # a person's own message has no APP badge
    }


async def _events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: "changed" whenever what someone sees may have changed."""
    world, changed = request.app[WORLD], asyncio.Event()
    stop_listening = world.slack.on_change(changed.set)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    response.headers["Cache-Control"] = "no-cache"
    await response.prepare(request)
    try:
        while True:
            try:
                await asyncio.wait_for(changed.wait(), 15)
            except TimeoutError:
                await response.write(b": still here\n\n")
                continue
            changed.clear()
            await response.write(b"data: changed\n\n")
            await asyncio.sleep(0.1)  # many changes at once: one refresh
    except ConnectionResetError:
        return response
    finally:
        stop_listening()


# What a person does


async def _act(request: web.Request) -> web.Response:
    """A click, a choice in a menu or a select: Slack's `block_actions`."""
    world, body = request.app[WORLD], await json_body(request)
    user = _person(world, body.get("user"))
    action = _action(body)
    trigger = world.slack.trigger_for(user)
    view_id = body.get("view_id")
    if view_id:
        view = world.slack.view(str(view_id))
        if view is None:
            raise web.HTTPNotFound(text="no such view")
        shown = view | {"state": {"values": body.get("values") or {}}}
        payload = view_action(user, action, view=shown, trigger_id=trigger)
    else:
        payload = _message_action(world, user, body, action, trigger)
    status, _ = await _send(request, form(payload))
    return web.json_response({"status": status})


def _message_action(
    world: World, user: str, body: dict[str, Any], action: dict[str, Any], trigger: str
) -> dict[str, Any]:
    channel = _channel(world, user, str(body.get("conversation") or ""))
    ts = str(body.get("ts") or "")
    ephemerals = {m.ts: m for m in world.slack.ephemerals(channel, user)}
    message = ephemerals.get(ts) or world.slack.message(channel, ts)
    if message is None:
        raise web.HTTPNotFound(text="no such message")
    url = world.slack.response_url(uuid.uuid4().hex, channel=channel, ts=ts, user=user)
    if body.get("unfurl"):  # a click in an app's preview: no message, its own blocks
        urls = {str(a.get("app_unfurl_url")): a for a in message.attachments or []}
        attachment = urls.get(str(body["unfurl"]))
        if attachment is None:
            raise web.HTTPNotFound(text="no such preview")
        return unfurl_action(
            user,
            action,
            channel=channel,
            message_ts=message.ts,
            attachment=attachment,
            response_url=url,
            trigger_id=trigger,
        )
    shown: dict[str, Any] = {"type": "message", "ts": message.ts, "text": message.text}
    shown |= {"blocks": message.blocks or [], "user": message.user}
    return block_action(
        user,
        action,
        channel=channel,
        message=shown,
        response_url=url,
        trigger_id=trigger,
        is_ephemeral=ts in ephemerals,
    )


def _action(body: dict[str, Any]) -> dict[str, Any]:
    """The action as Slack reports it: the element's ids and type, plus what was chosen."""
    given = body.get("action")
    if not isinstance(given, dict) or not given.get("action_id"):
        raise web.HTTPBadRequest(text="which action?")
    kind = str(given.get("type") or "button")
    action = {k: given[k] for k in ("action_id", "block_id", "value", "text") if k in given}
    action["type"] = kind
    if "option" in body:
        action["selected_option"] = body["option"]
    if "options" in body:
        action["selected_options"] = body["options"]
    if "selected" in body:
        action[_selected_key(kind)] = body["selected"]
    return action


def _selected_key(kind: str) -> str:
    return {
        "users_select": "selected_user",
        "conversations_select": "selected_conversation",
        "channels_select": "selected_channel",
        "datepicker": "selected_date",
    }.get(kind, "value")


async def _submit(request: web.Request) -> web.Response:
    """The modal's submit button: Slack's `view_submission`, and its answer applied
    (field errors shown, the modal updated, pushed, or closed)."""
    world, body = request.app[WORLD], await json_body(request)
    user = _person(world, body.get("user"))
    view = world.slack.view(str(body.get("view_id") or ""))
    if view is None:
        raise web.HTTPNotFound(text="no such view")
    values = body.get("values") or {}
    payload = submitted_view(user, view, values, trigger_id=world.slack.trigger_for(user))
    status, answer = await _send(request, form(payload))
    world.errors.pop(view["id"], None)
    if answer.get("response_action") == "errors":
        world.errors[view["id"]] = dict(answer.get("errors") or {})
    world.slack.answer_view(user, view["id"], answer, submitted=view["hash"])
    return web.json_response({"status": status, "errors": world.errors.get(view["id"], {})})


async def _close(request: web.Request) -> web.Response:
    world, body = request.app[WORLD], await json_body(request)
    user = _person(world, body.get("user"))
    view = world.slack.view(str(body.get("view_id") or ""))
    if view is not None and view.get("notify_on_close"):
        await _send(request, form(closed_view(user, view)))
    world.slack.close_view(user, view["id"] if view else None)
    return web.json_response({"status": 200})


async def _command(request: web.Request) -> web.Response:
    """A line typed in the composer: `/cflow …` is Slack's slash command."""
    world, body = request.app[WORLD], await json_body(request)
    user = _person(world, body.get("user"))
    text = str(body.get("text") or "").strip()
    if not text.startswith("/cflow"):
        return web.json_response({"status": 400, "hint": "Only /cflow … commands work here."})
    channel = _channel(world, user, str(body.get("conversation") or ""))
    url = world.slack.response_url(uuid.uuid4().hex, channel=channel, user=user)
    sent = slash_command(
        user,
        as_slack_sends(text.removeprefix("/cflow").strip(), world.slack),
        response_url=url,
        channel=channel,
        channel_name=world.channels.get(channel, "directmessage"),
        trigger_id=world.slack.trigger_for(user),
    )
    status, answer = await _send(request, sent)
    if answer.get("text") or answer.get("blocks"):  # an answer in the acknowledgement
        async with request.app[HTTP].post(url, json=answer) as posted:
            await posted.read()
    return web.json_response({"status": status})


async def _say(request: web.Request) -> web.Response:
    """A plain message from the composer: posted as the person's, and Slack's
    `link_shared` for the links on the app's unfurl domains."""
    world, body = request.app[WORLD], await json_body(request)
    user = _person(world, body.get("user"))
    text = str(body.get("text") or "").strip()
    channel = _channel(world, user, str(body.get("conversation") or ""))
    _, event = world.slack.unfurls.post(user, channel, text)
    if event is None:
        return web.json_response({"status": 200})
    status, _ = await _send(request, event_callback(event), content_type="application/json")
    return web.json_response({"status": status})


async def _compose(request: web.Request) -> web.Response:
    """A link pasted in the composer: Slack's `link_shared` from the composer, whose
    preview the page shows above the line until it is sent."""
    world, body = request.app[WORLD], await json_body(request)
    user = _person(world, body.get("user"))
    channel = _channel(world, user, str(body.get("conversation") or ""))
    event = world.slack.unfurls.compose(user, channel, str(body.get("text") or ""))
    if event is None:
        return web.json_response({"status": 200, "draft": None})
    status, _ = await _send(request, event_callback(event), content_type="application/json")
    return web.json_response({"status": status, "draft": event["unfurl_id"]})


async def _shortcut(request: web.Request) -> web.Response:
    """A shortcut: from a message's "…" menu Slack's `message_action` (with the message),
    from the composer's ⚡ its global `shortcut` (with neither channel nor message)."""
    world, body = request.app[WORLD], await json_body(request)
    user = _person(world, body.get("user"))
    trigger = world.slack.trigger_for(user)
    if body.get("callback_id") == Shortcut.NEW_REQUEST:
        payload = global_shortcut(user, Shortcut.NEW_REQUEST, trigger_id=trigger)
    else:
        channel = _channel(world, user, str(body.get("conversation") or ""))
        message = world.slack.message(channel, str(body.get("ts") or ""))
        if message is None or message.deleted:
            raise web.HTTPNotFound(text="no such message")
        seen = {"user": message.user, "text": message.text, "ts": message.ts}
        seen |= {"thread_ts": message.thread_ts} if message.thread_ts else {}
        url = world.slack.response_url(uuid.uuid4().hex, channel=channel, user=user)
        name = world.channels.get(channel, "directmessage")
        payload = message_shortcut(
            user,
            Shortcut.REQUEST_APPROVAL,
            seen | {"team": world.slack.team_id},
            channel=channel,
            channel_name=name,
            response_url=url,
            trigger_id=trigger,
        )
    status, _ = await _send(request, form(payload))
    return web.json_response({"status": status})


async def _open_home(request: web.Request) -> web.Response:
    """The person opened the App Home: Slack's `app_home_opened` event."""
    world, body = request.app[WORLD], await json_body(request)
    user = _person(world, body.get("user"))
    event = {"type": "app_home_opened", "user": user, "tab": "home"}
    event["channel"] = world.slack.dm_channel(user)
    status, _ = await _send(request, event_callback(event), content_type="application/json")
    return web.json_response({"status": status})


async def _send(
    request: web.Request, body: str, *, content_type: str = "application/x-www-form-urlencoded"
) -> tuple[int, dict[str, Any]]:
    """Sign and post to the bot as Slack would; its status and JSON answer, if any."""
    world = request.app[WORLD]
    headers = sign(body, world.signing_secret, content_type=content_type)
    async with request.app[HTTP].post(world.events_url, data=body, headers=headers) as reply:
        text = await reply.text()
        if reply.status != 200:
            log.warning("The bot answered %d", reply.status)
    try:
        answer = json.loads(text) if text else {}
    except ValueError:
        answer = {}
    return reply.status, answer if isinstance(answer, dict) else {}


# Checking what the page sends


def _person(world: World, user: Any) -> str:
    if user not in world.people:
        raise web.HTTPBadRequest(text="act as one of the demo people")
    return str(user)


def _channel(world: World, user: str, where: str) -> str:
    """A channel id, or for "dm" this person's DM with the bot."""
    if where == "dm":
        return world.slack.dm_channel(user)
    if where in world.channels:
        return where
    raise web.HTTPBadRequest(text="no such conversation")
