"""Slack's Web API on a local port, for the tests and the playground.

The bot's `AsyncWebClient` is pointed at `SlackStandIn.api_url`; every request is recorded
as a `SlackCall` and answered with the shapes Slack documents, so the bot's real HTTP,
encoding and retry code runs. State (messages, DMs, views, users, channels) lives on the
instance, failures and latency can be injected per method, and `wait_for()` lets tests
wait for listeners that run after Bolt has already acknowledged the event.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from bot.devtools.slack_standin.blocks import input_problems
from bot.outbound.limits import RateLimits

Params = dict[str, Any]
Handler = Callable[[Params], Params]
CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]+")  # names are lower case: never taken for an id
# What a person would see change: the playground's page refreshes on these.
SEEN_CHANGES = frozenset(
    {
        "chat.postMessage",
        "chat.update",
        "chat.delete",
        "chat.postEphemeral",
        "views.open",
        "views.push",
        "views.update",
        "views.publish",
        "response_url",
    }
)
JSON_PARAMS = frozenset({"blocks", "attachments", "view", "metadata", "user_auth_blocks"})
TS_BASE_MICROS = 1_700_000_000_000_000


class StandInError(Exception):
    """Raised by a handler to answer `{"ok": false, "error": error}` and leave state alone."""

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []  # Slack's response_metadata.messages


@dataclass
class SlackCall:
    """One request the fake received, with what it answered (for assertions and traces)."""

    method: str
    params: Params
    token: str | None
    time: float
    failed: bool = False
    error: str | None = None
    response: Params | None = None

    @property
    def landed_in(self) -> str | None:
        """The channel a post landed in: a DM posted to a user id lands in its D… id."""
        answered = (self.response or {}).get("channel")
        return str(answered) if answered else self.params.get("channel")


@dataclass
class StoredMessage:
    """A message the bot posted; `history` holds every version, oldest first."""

    channel: str
    ts: str
    text: str
    blocks: list[Any] | None
    attachments: list[Any] | None
    thread_ts: str | None
    user: str
    history: list[Params] = field(default_factory=list)
    deleted: bool = False
    metadata: Params | None = None
    visible_to: str | None = None  # an ephemeral message: only this user sees it

    def snapshot(self) -> Params:
        """The editable content, as kept in `history`."""
        return {"text": self.text, "blocks": self.blocks, "attachments": self.attachments}


@dataclass
class Channel:
    """What conversations.info/members need to know about a conversation."""

    id: str
    name: str | None
    is_private: bool
    is_im: bool = False
    user: str | None = None
    members: set[str] = field(default_factory=set)
    is_archived: bool = False


@dataclass(frozen=True)
class _Origin:
    """Where a response_url answers: the message it came from, and who clicked."""

    channel: str | None
    ts: str | None
    user: str | None


@dataclass
class _Failure:
    error: str
    retry_after: int
    where: Callable[[SlackCall], bool] = lambda call: True  # which calls it answers


@dataclass(frozen=True)
class _Refusal:
    """Every call about `target` (a user or a channel), of `methods` or any, fails."""

    target: str
    error: str
    methods: frozenset[str] | None

    def applies(self, call: SlackCall, dms: Mapping[str, str]) -> bool:
        if self.methods is not None and call.method not in self.methods:
            return False
        named = {str(call.params.get(k, "")) for k in ("channel", "users", "user")}
        return self.target in named or dms.get(self.target) in named


class SlackStandIn:
    """Slack's Web API state plus an aiohttp app serving `/api/{method}` and response URLs."""

    def __init__(
        self,
        bot_token: str = "xoxb-test-token",
        *,
        app_token: str = "xapp-test-token",
        team_id: str = "T0TEST",
        team_name: str = "Test Team",
        team_domain: str = "test-team",
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        bot_name: str = "cflow",
        app_id: str = "ATEST",
        bot_channels: set[str] | None = None,
        strict_membership: bool = False,
        latency: float = 0.0,
        rate_limits: bool = True,
        rate_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`rate_limits` enforces Slack's published limits (bot/outbound/limits.py), each
        rate times `rate_scale`: 429 with Retry-After beyond them, as Slack answers."""
        self.bot_token = bot_token
        self.limits = RateLimits(scale=rate_scale) if rate_limits else None
        self._clock = clock
        self.app_token = app_token
        self._sockets: list[web.WebSocketResponse] = []
        self._socket_acks: dict[str, asyncio.Future[Params]] = {}
        self.team_id, self.team_name, self.team_domain = team_id, team_name, team_domain
        self.bot_user_id, self.bot_id = bot_user_id, bot_id
        self.bot_name, self.app_id = bot_name, app_id
        self.bot_channels: set[str] = set(bot_channels or ())
        self.strict_membership = strict_membership
        self.latency = latency
        self.method_latency: dict[str, float] = {}
        self._calls: list[SlackCall] = []
        self._messages: dict[tuple[str, str], StoredMessage] = {}
        self._channels: dict[str, Channel] = {}
        self._users: dict[str, Params] = {}
        self._user_groups: dict[str, str] = {}  # handle -> S… id
        self._dms: dict[str, str] = {}
        self._views: dict[str, Params] = {}
        self._home_views: dict[str, str] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._refusals: list[_Refusal] = []
        self._drops: dict[str, int] = {}
        self._lost_answers: list[tuple[str, Callable[[SlackCall], bool]]] = []
        self._response_urls: dict[str, _Origin] = {}
        self._ephemerals: dict[str, StoredMessage] = {}  # by ts
        self._triggers: dict[str, str] = {}  # trigger_id -> the user who caused it
        self._stacks: dict[str, list[str]] = {}  # user -> their open modals' ids, root first
        self._listeners: list[Callable[[], None]] = []
        self._seq = 0
        self._last_ts_micros = 0
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._handlers: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.members": self._conversations_members,
            "conversations.list": self._conversations_list,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "apps.connections.open": self._apps_connections_open,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
        }
        self.app = web.Application()
        self.app.router.add_route("*", "/api/{method}", self._handle_api)
        self.app.router.add_post("/response/{token}", self._handle_response_url)
        self.app.router.add_get("/socket", self._handle_socket)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on a free port (port=0) so parallel tests and playgrounds never collide."""
        # A stand-in has nothing to finish: a call held by latency ends with it at once.
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        bound_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        self._base_url = f"http://{bound_host}:{bound_port}"

    async def stop(self) -> None:
        """Close the listening socket and open connections."""
        await self._close_sockets()
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner, self._base_url = None, None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """e.g. "http://127.0.0.1:PORT" (no trailing slash)."""
        if self._base_url is None:
            raise RuntimeError("SlackStandIn is not started")
        return self._base_url

    @property
    def api_url(self) -> str:
        """What SLACK_API_URL / AsyncWebClient(base_url=...) is set to; ends in a slash."""
        return f"{self.base_url}/api/"

    # -- configuration -----------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        email: str,
        name: str | None = None,
        *,
        is_admin: bool = False,
        tz: str = "America/Los_Angeles",
        deleted: bool = False,
    ) -> Params:
        """Register a user for users.info / users.lookupByEmail, in Slack's user shape."""
        name = name or email.split("@")[0]
        now = datetime.now(ZoneInfo(tz))
        offset = now.utcoffset()
        user = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "real_name": name,
            "deleted": deleted,
            "tz": tz,
            "tz_label": now.tzname(),
            "tz_offset": int(offset.total_seconds()) if offset else 0,
            "is_admin": is_admin,
            "is_owner": False,
            "is_bot": False,
            "profile": {"email": email, "real_name": name, "display_name": name},
        }
        self._users[user_id] = user
        return user

    def add_channel(
        self,
        channel_id: str,
        name: str | None = None,
        members: set[str] | list[str] | tuple[str, ...] = (),
        *,
        is_private: bool | None = None,
        bot_member: bool = True,
    ) -> Channel:
        """Register a channel; `bot_member` decides `is_member` and strict postMessage."""
        private = channel_id.startswith("G") if is_private is None else is_private
        channel = Channel(channel_id, name or channel_id.lower(), private, members=set(members))
        self._channels[channel_id] = channel
        if bot_member:
            self.bot_channels.add(channel_id)
        else:
            self.bot_channels.discard(channel_id)
        return channel

    def add_user_group(self, group_id: str, handle: str) -> None:
        """A user group people can mention as `@handle`."""
        self._user_groups[handle] = group_id

    def user_named(self, name: str) -> Params | None:
        """The user a typed `@name` picks in Slack's composer: by username or display name."""
        wanted = name.casefold()
        for user in self._users.values():
            names = (user["name"], user["profile"].get("display_name") or "")
            if not user["deleted"] and wanted in (n.casefold() for n in names):
                return user
        return None

    def user_group_named(self, handle: str) -> str | None:
        """The id of the user group a typed `@handle` picks."""
        return self._user_groups.get(handle)

    def channel_named(self, name: str) -> Channel | None:
        """The channel a typed `#name` picks (never a DM)."""
        return next((c for c in self._channels.values() if not c.is_im and c.name == name), None)

    def fail_next(
        self,
        method: str,
        error: str = "ratelimited",
        count: int = 1,
        retry_after: int = 1,
        *,
        where: Callable[[SlackCall], bool] = lambda call: True,
    ) -> None:
        """Make the next `count` calls of `method` (that `where` picks, e.g. the edit that
        puts a card's buttons back) fail: HTTP 429 for "ratelimited"."""
        failure = _Failure(error, retry_after, where)
        self._failures.setdefault(method, []).extend([failure] * count)

    def refuse(self, target: str, error: str, methods: Iterable[str] | None = None) -> None:
        """Refuse every call about a user (their DM too) or a channel with `error`, as Slack
        does for a deactivated account (`user_disabled`) or an archived channel."""
        chosen = frozenset(methods) if methods is not None else None
        self._refusals.append(_Refusal(target, error, chosen))

    def drop_next(self, method: str, count: int = 1) -> None:
        """Close the connection of the next `count` calls of `method` without answering."""
        self._drops[method] = self._drops.get(method, 0) + count

    def lose_answer_of_next(
        self, method: str, where: Callable[[SlackCall], bool] = lambda call: True
    ) -> None:
        """Carry out the next call of `method` (that `where` picks), then close the
        connection before answering: it took effect but its caller cannot know."""
        self._lost_answers.append((method, where))

    def set_latency(self, seconds: float, method: str | None = None) -> None:
        """Delay answers (not state changes) globally or for one method."""
        if method is None:
            self.latency = seconds
        else:
            self.method_latency[method] = seconds

    def set_handler(self, method: str, handler: Handler) -> None:
        """Add or override a method; the handler gets params and returns the body sans ok."""
        self._handlers[method] = handler

    def response_url(
        self,
        name: str = "default",
        *,
        channel: str | None = None,
        ts: str | None = None,
        user: str | None = None,
    ) -> str:
        """A response_url for payloads. Bound to (channel, ts) it honours replace and
        delete of that message (or ephemeral); bound to `user` too, its plain answers
        are ephemeral messages that user sees in `channel`, as in Slack."""
        if channel is not None or user is not None:
            self._response_urls[name] = _Origin(channel, ts, user)
        return f"{self.base_url}/response/{name}"

    def trigger_for(self, user_id: str) -> str:
        """A trigger_id for an interaction of `user_id`: a modal it opens is theirs."""
        self._seq += 1
        trigger = f"{self._seq}.{TS_BASE_MICROS}.trigger"
        self._triggers[trigger] = user_id
        return trigger

    def on_change(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` whenever what a person would see changes (messages, views);
        returns what stops that."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    def dm_channel(self, user_id: str) -> str:
        """The stable DM channel id ("D…") the fake uses for `user_id`."""
        if user_id not in self._dms:
            dm = f"D{len(self._dms) + 1:08d}"
            self._dms[user_id] = dm
            self._channels[dm] = Channel(dm, None, True, True, user_id, {user_id})
            self.bot_channels.add(dm)
        return self._dms[user_id]

    # -- inspection --------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[SlackCall]:
        """Recorded calls, oldest first, optionally for one method."""
        return [c for c in self._calls if method is None or c.method == method]

    def clear(self) -> None:
        """Forget recorded calls (state such as messages is kept)."""
        self._calls.clear()

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 20.0,  # noqa: ASYNC109 - a plain number reads best in tests
        predicate: Callable[[SlackCall], bool] | None = None,
    ) -> list[SlackCall]:
        """Wait until `count` matching calls exist: Bolt acks before listeners finish.

        Failed calls (e.g. an injected 429) count too; pass
        `predicate=lambda c: not c.failed` to wait for the successful retry.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = [c for c in self.calls(method) if predicate is None or predicate(c)]
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                seen = ", ".join(c.method for c in self._calls) or "none"
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {count} {method} call(s)"
                    f"{' matching predicate' if predicate else ''}; got {len(found)}. "
                    f"Recorded calls: {seen}"
                )
            await asyncio.sleep(0.01)

    def message(self, channel: str, ts: str) -> StoredMessage | None:
        """A posted message (deleted ones too, flagged), or None."""
        return self._messages.get((channel, ts))

    def messages(self, channel: str | None = None) -> list[StoredMessage]:
        """Live (not deleted) messages, ordered by ts."""
        found = [m for m in self._messages.values() if not m.deleted]
        return sorted((m for m in found if channel in (None, m.channel)), key=lambda m: m.ts)

    def ephemerals(self, channel: str, user_id: str) -> list[StoredMessage]:
        """What only `user_id` sees in `channel` (chat.postEphemeral, response_url)."""
        found = [
            m
            for m in self._ephemerals.values()
            if m.channel == channel and m.visible_to == user_id and not m.deleted
        ]
        return sorted(found, key=lambda m: m.ts)

    def modal_stack(self, user_id: str) -> list[Params]:
        """The modals open for `user_id`, root first (views.open, push, update)."""
        return [self._views[v] for v in self._stacks.get(user_id, []) if v in self._views]

    def close_view(self, user_id: str, view_id: str | None = None) -> None:
        """The person closed the top modal (`view_id`), or all of them (None)."""
        stack = self._stacks.get(user_id, [])
        if view_id is None:
            stack.clear()
        elif view_id in stack:
            del stack[stack.index(view_id) :]
        self._changed()

    def answer_view(
        self, user_id: str, view_id: str, answer: Params, *, submitted: str | None = None
    ) -> None:
        """Apply a view_submission's acknowledgement (`response_action`) as Slack does.

        `submitted` is the view's hash when it was submitted: a `views.update` the app
        made after its acknowledgement may arrive here first, and is not undone."""
        current = self._views.get(view_id)
        if submitted is not None and current is not None and current["hash"] != submitted:
            return
        action = answer.get("response_action")
        if action == "clear":
            self.close_view(user_id)
        elif action == "update" and view_id in self._views:
            old = self._views[view_id]
            self._make_view({"root_view_id": old["root_view_id"]} | answer["view"], view_id)
            self._changed()
        elif action == "push":
            pushed = self._make_view(answer["view"])
            self._stacks.setdefault(user_id, []).append(pushed["id"])
            self._changed()
        elif action != "errors":
            self.close_view(user_id, view_id)

    def view(self, view_id: str) -> Params | None:
        """A view opened, pushed, updated or published through the fake."""
        return self._views.get(view_id)

    def home_view(self, user_id: str) -> Params | None:
        """The App Home view last published for `user_id`."""
        view_id = self._home_views.get(user_id)
        return None if view_id is None else self._views[view_id]

    # -- HTTP --------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _read_params(request)
        header = request.headers.get("Authorization", "")
        body_token = params.pop("token", None)
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
        call = self._record(method, params, token or body_token)
        if self._drops.get(method):
            self._drops[method] -= 1
            call.failed, call.error = True, "dropped"
            if request.transport is not None:
                request.transport.abort()  # a reset connection: no answer at all
            return web.Response(status=500)
        answer = await self._answer(call, self._dispatch)
        lost = next((x for x in self._lost_answers if x[0] == method and x[1](call)), None)
        if lost is not None and request.transport is not None:
            self._lost_answers.remove(lost)
            request.transport.abort()
        return answer

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        call = self._record("response_url", body, request.match_info["token"])
        return await self._answer(call, self._apply_response_url)

    def _record(self, method: str, params: Params, token: str | None) -> SlackCall:
        call = SlackCall(method, params, token, time.monotonic())
        self._calls.append(call)
        return call

    async def _answer(self, call: SlackCall, run: Callable[[SlackCall], Params]) -> web.Response:
        """Apply an injected failure or the handler now, then answer after the latency."""
        status, headers = 200, {}
        failure = self._pop_failure(call) or self._refusal(call) or self._throttled(call)
        if failure is not None:
            body: Params = {"ok": False, "error": failure.error}
            if failure.error == "ratelimited":
                status, headers = 429, {"Retry-After": str(failure.retry_after)}
        else:
            try:
                body = {"ok": True, **run(call)}
            except StandInError as exc:
                body = {"ok": False, "error": exc.error}
                if exc.messages:
                    body["response_metadata"] = {"messages": exc.messages}
        call.response, call.failed = body, not body["ok"]
        if body["ok"] and call.method in SEEN_CHANGES:
            self._changed()
        call.error = body.get("error")
        delay = self.method_latency.get(call.method, self.latency)
        if delay > 0:
            await asyncio.sleep(delay)
        return web.json_response(body, status=status, headers=headers)

    def _throttled(self, call: SlackCall) -> _Failure | None:
        if self.limits is None:
            return None
        channel = call.params.get("channel")
        wait = self.limits.retry_after(call.method, str(channel or ""), self._clock())
        return None if wait is None else _Failure("ratelimited", wait)

    def _refusal(self, call: SlackCall) -> _Failure | None:
        refusal = next((r for r in self._refusals if r.applies(call, self._dms)), None)
        return None if refusal is None else _Failure(refusal.error, 0)

    def _pop_failure(self, call: SlackCall) -> _Failure | None:
        pending = self._failures.get(call.method, [])
        index = next((i for i, failure in enumerate(pending) if failure.where(call)), None)
        return None if index is None else pending.pop(index)

    def _dispatch(self, call: SlackCall) -> Params:
        handler = self._handlers.get(call.method)
        if handler is None:
            raise StandInError("unknown_method")
        if call.token is None:
            raise StandInError("not_authed")
        # Socket Mode connects with the app-level token; everything else with the bot's.
        expected = self.app_token if call.method == "apps.connections.open" else self.bot_token
        if call.token != expected:
            raise StandInError("invalid_auth")
        return handler(call.params)

    def _apply_response_url(self, call: SlackCall) -> Params:
        """As Slack does: replace or delete the message it came from, or answer anew (in
        the channel, or only to the person who clicked or typed)."""
        origin = self._response_urls.get(call.token or "")
        if origin is None:
            return {}
        params = call.params
        message = self._origin_message(origin)
        if message is not None and _truthy(params.get("delete_original")):
            message.deleted = True
        elif message is not None and _truthy(params.get("replace_original")):
            self._edit(message, params)
        elif origin.channel and params.get("response_type") == "in_channel":
            self._chat_post_message(params | {"channel": origin.channel})
        elif origin.channel and origin.user:
            self._chat_post_ephemeral(params | {"channel": origin.channel, "user": origin.user})
        return {}

    def _origin_message(self, origin: _Origin) -> StoredMessage | None:
        if origin.ts is None:
            return None
        if origin.ts in self._ephemerals:
            return self._ephemerals[origin.ts]
        return self._messages.get((origin.channel or "", origin.ts))

    # -- Socket Mode -------------------------------------------------------------------

    def _apps_connections_open(self, params: Params) -> Params:
        return {"url": self.base_url.replace("http://", "ws://") + "/socket"}

    async def _handle_socket(self, request: web.Request) -> web.WebSocketResponse:
        """A Socket Mode connection: say hello, then collect the app's acknowledgements."""
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_json({"type": "hello", "num_connections": len(self._sockets)})
        try:
            async for message in socket:
                if message.type == aiohttp.WSMsgType.TEXT:
                    self._take_ack(json.loads(message.data))
        finally:
            self._sockets.remove(socket)
        return socket

    def _take_ack(self, ack: Params) -> None:
        waiter = self._socket_acks.pop(str(ack.get("envelope_id")), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(ack)

    async def wait_for_socket(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Until an app has connected over Socket Mode."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._sockets:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("no Socket Mode connection")
            await asyncio.sleep(0.02)

    async def send_envelope(
        self,
        kind: str,
        payload: Params,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> Params:
        """Deliver an envelope (e.g. "slash_commands") and return the app's ack."""
        await self.wait_for_socket(timeout)
        self._seq += 1
        envelope_id = f"env-{self._seq}"
        waiter: asyncio.Future[Params] = asyncio.get_running_loop().create_future()
        self._socket_acks[envelope_id] = waiter
        await self._sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": kind != "events_api",
            }
        )
        return await asyncio.wait_for(waiter, timeout)

    async def _close_sockets(self) -> None:
        for socket in list(self._sockets):
            await socket.close()

    # -- helpers -----------------------------------------------------------------------

    def _next_ts(self) -> str:
        """Unique, increasing ts strings from the clock, as Slack's are ("1764441600.000100")."""
        micros = max(time.time_ns() // 1000, self._last_ts_micros + 1)
        self._last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _resolve_channel(self, channel: str | None) -> str:
        """A user id means "DM this user": Slack answers with the D… channel id.

        Posting also takes a channel's name (`#approvals`) and answers with its id;
        every other method needs the id, as in Slack.
        """
        if not channel:
            raise StandInError("channel_not_found")
        if channel[0] in "UW":
            return self.dm_channel(channel)
        if CHANNEL_ID.fullmatch(channel):
            return channel
        wanted = channel.removeprefix("#")
        named = next((c for c in self._channels.values() if c.name == wanted), None)
        if named is None:
            raise StandInError("channel_not_found")
        return named.id

    def _get_message(self, channel: str | None, ts: str | None) -> StoredMessage:
        if not CHANNEL_ID.fullmatch(channel or ""):
            raise StandInError("channel_not_found")
        message = self._messages.get((channel or "", ts or ""))
        if message is None or message.deleted:
            raise StandInError("message_not_found")
        return message

    def _get_channel(self, channel_id: str | None) -> Channel:
        channel = self._channels.get(channel_id or "")
        if channel is None:
            raise StandInError("channel_not_found")
        return channel

    def _message_json(self, message: StoredMessage) -> Params:
        body: Params = {
            "type": "message",
            "text": message.text,
            "user": message.user,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "ts": message.ts,
        }
        extras = {
            "blocks": message.blocks,
            "attachments": message.attachments,
            "thread_ts": message.thread_ts,
            "metadata": message.metadata,
        }
        return body | {k: v for k, v in extras.items() if v is not None}

    def _edit(self, message: StoredMessage, params: Params) -> None:
        """Patch semantics: omitted fields keep their value, an empty list clears."""
        message.text = params.get("text", message.text)
        message.blocks = params.get("blocks", message.blocks)
        message.attachments = params.get("attachments", message.attachments)
        message.history.append(message.snapshot())

    def _channel_json(self, channel: Channel) -> Params:
        body: Params = {
            "id": channel.id,
            "created": TS_BASE_MICROS // 1_000_000,
            "is_im": channel.is_im,
            "is_channel": not channel.is_im and not channel.is_private,
            "is_group": not channel.is_im and channel.is_private,
            "is_private": channel.is_private,
            "is_archived": channel.is_archived,
            "is_member": channel.id in self.bot_channels,
        }
        if channel.is_im:
            return body | {"user": channel.user}
        return body | {"name": channel.name, "context_team_id": self.team_id}

    def _make_view(self, spec: Params, view_id: str | None = None) -> Params:
        self._seq += 1
        view_id = view_id or f"V{self._seq:08d}"
        view: Params = {
            "id": view_id,
            "team_id": self.team_id,
            "type": "modal",
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            "state": {"values": {}},
            "clear_on_close": False,
            "notify_on_close": False,
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": self.app_id,
            "bot_id": self.bot_id,
        }
        view |= spec
        view["hash"] = f"{TS_BASE_MICROS // 1_000_000 + self._seq}.{self._seq:08x}"
        self._views[view_id] = view
        return view

    # -- methods -----------------------------------------------------------------------

    def _auth_test(self, params: Params) -> Params:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: Params) -> Params:
        channel = self._resolve_channel(params.get("channel"))
        if not any(params.get(k) for k in ("text", "blocks", "attachments")):
            raise StandInError("no_text")
        if self.strict_membership and channel[0] == "C" and channel not in self.bot_channels:
            raise StandInError("not_in_channel")
        message = self._new_message(channel, params, metadata=params.get("metadata"))
        message.history.append(message.snapshot())
        self._messages[(channel, message.ts)] = message
        return {"channel": channel, "ts": message.ts, "message": self._message_json(message)}

    def _new_message(self, channel: str, params: Params, **extra: Any) -> StoredMessage:
        return StoredMessage(
            channel=channel,
            ts=self._next_ts(),
            text=params.get("text", ""),
            blocks=params.get("blocks"),
            attachments=params.get("attachments"),
            thread_ts=params.get("thread_ts"),
            user=self.bot_user_id,
            **extra,
        )

    def _chat_update(self, params: Params) -> Params:
        message = self._get_message(params.get("channel"), params.get("ts"))
        self._edit(message, params)
        return {
            "channel": message.channel,
            "ts": message.ts,
            "text": message.text,
            "message": self._message_json(message),
        }

    def _chat_post_ephemeral(self, params: Params) -> Params:
        channel = self._resolve_channel(params.get("channel"))
        if not params.get("user"):
            raise StandInError("user_not_found")
        message = self._new_message(channel, params, visible_to=str(params["user"]))
        self._ephemerals[message.ts] = message
        return {"message_ts": message.ts}

    def _chat_delete(self, params: Params) -> Params:
        message = self._get_message(params.get("channel"), params.get("ts"))
        message.deleted = True
        return {"channel": message.channel, "ts": message.ts}

    def _chat_get_permalink(self, params: Params) -> Params:
        message = self._get_message(params.get("channel"), params.get("message_ts"))
        link = f"https://{self.team_domain}.slack.com/archives/{message.channel}"
        link += f"/p{message.ts.replace('.', '')}"
        if message.thread_ts:
            link += f"?thread_ts={message.thread_ts}&cid={message.channel}"
        return {"channel": message.channel, "permalink": link}

    def _conversations_open(self, params: Params) -> Params:
        if params.get("channel"):
            return {"channel": {"id": self._get_channel(params["channel"]).id}}
        users = [u for u in str(params.get("users", "")).split(",") if u]
        if not users:
            raise StandInError("users_list_not_supplied")
        key = ",".join(sorted(users))
        already = key in self._dms
        if len(users) == 1:
            channel_id = self.dm_channel(users[0])
        else:
            channel_id = self._dms.setdefault(key, f"G{len(self._dms) + 1:08d}")
            self.add_channel(channel_id, f"mpdm-{'--'.join(users)}-1", users, is_private=True)
        return {"no_op": already, "already_open": already, "channel": {"id": channel_id}}

    def _conversations_info(self, params: Params) -> Params:
        return {"channel": self._channel_json(self._get_channel(params.get("channel")))}

    def _conversations_history(self, params: Params) -> Params:
        """Top-level messages, newest first, from `oldest` on; metadata only when asked."""
        channel = self._resolve_channel(params.get("channel"))
        oldest = float(params.get("oldest") or 0)
        found = [
            m
            for m in self.messages(channel)
            if not m.thread_ts or m.thread_ts == m.ts
            if float(m.ts) >= oldest
        ]
        found.sort(key=lambda m: float(m.ts), reverse=True)
        return self._page_of(found, params)

    def _conversations_replies(self, params: Params) -> Params:
        """A thread: its parent first, then the replies from `oldest` on, oldest first."""
        parent = self._get_message(params.get("channel"), params.get("ts"))
        oldest = float(params.get("oldest") or 0)
        replies = [
            m
            for m in self.messages(parent.channel)
            if m.thread_ts == parent.ts and m.ts != parent.ts and float(m.ts) >= oldest
        ]
        replies.sort(key=lambda m: float(m.ts))
        return self._page_of([parent, *replies], params)

    def _page_of(self, found: list[StoredMessage], params: Params) -> Params:
        limit = int(params.get("limit") or 100)
        start = int(params.get("cursor") or 0)
        page = found[start : start + limit]
        more = start + limit < len(found)
        with_metadata = _truthy(params.get("include_all_metadata"))
        messages = [self._message_json(m) for m in page]
        if not with_metadata:
            for message in messages:
                message.pop("metadata", None)
        cursor = str(start + limit) if more else ""
        return {
            "messages": messages,
            "has_more": more,
            "response_metadata": {"next_cursor": cursor},
        }

    def _conversations_list(self, params: Params) -> Params:
        """Channels of the asked types, paged; private ones only where the bot is a member."""
        types = set(str(params.get("types") or "public_channel").split(","))
        found = [
            c
            for c in self._channels.values()
            if not c.is_im
            if ("private_channel" if c.is_private else "public_channel") in types
            if not c.is_private or c.id in self.bot_channels
            if not (c.is_archived and _truthy(params.get("exclude_archived")))
        ]
        limit = min(int(params.get("limit") or 100), 1000)
        start = int(params.get("cursor") or 0)
        page = found[start : start + limit]
        cursor = str(start + limit) if start + limit < len(found) else ""
        return {
            "channels": [self._channel_json(c) for c in page],
            "response_metadata": {"next_cursor": cursor},
        }

    def _conversations_members(self, params: Params) -> Params:
        channel = self._get_channel(params.get("channel"))
        bot = {self.bot_user_id} if channel.id in self.bot_channels else set()
        members = sorted(channel.members | bot)
        return {"members": members, "response_metadata": {"next_cursor": ""}}

    def _users_info(self, params: Params) -> Params:
        user = self._users.get(params.get("user", ""))
        if user is None:
            raise StandInError("user_not_found")
        return {"user": user}

    def _users_lookup_by_email(self, params: Params) -> Params:
        email = str(params.get("email", "")).lower()
        for user in self._users.values():
            if user["profile"]["email"].lower() == email:
                return {"user": user}
        raise StandInError("users_not_found")

    def _views_open(self, params: Params) -> Params:
        """views.open: any non-empty trigger_id is accepted; one from `trigger_for()`
        opens the modal for its person."""
        if not params.get("trigger_id"):
            raise StandInError("invalid_trigger_id")
        view = self._make_view(_view_spec(params))
        user = self._triggers.get(params["trigger_id"])
        if user is not None:
            self._stacks[user] = [view["id"]]
        return {"view": view}

    def _views_push(self, params: Params) -> Params:
        if not params.get("trigger_id"):
            raise StandInError("invalid_trigger_id")
        view = self._make_view(_view_spec(params))
        user = self._triggers.get(params["trigger_id"])
        if user is not None:
            self._stacks.setdefault(user, []).append(view["id"])
        return {"view": view}

    def _views_update(self, params: Params) -> Params:
        external = {v["external_id"]: v["id"] for v in self._views.values() if v["external_id"]}
        view_id = params.get("view_id") or external.get(params.get("external_id", ""))
        old = self._views.get(view_id or "")
        if old is None:
            raise StandInError("not_found")
        if params.get("hash") and params["hash"] != old["hash"]:
            raise StandInError("hash_conflict")
        spec = {"root_view_id": old["root_view_id"]} | _view_spec(params)
        return {"view": self._make_view(spec, view_id)}

    def _views_publish(self, params: Params) -> Params:
        user_id = params.get("user_id", "")
        old_id = self._home_views.get(user_id)
        if params.get("hash") and old_id and params["hash"] != self._views[old_id]["hash"]:
            raise StandInError("hash_conflict")
        view = self._make_view({"type": "home"} | _view_spec(params), old_id)
        self._home_views[user_id] = view["id"]
        return {"view": view}


async def _read_params(request: web.Request) -> Params:
    """Merge query string and body (JSON or form) and decode JSON-in-form values."""
    params: Params = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            params.update(await request.json())
        else:
            form = await request.post()
            params.update({k: getattr(v, "filename", v) for k, v in form.items()})
    return {k: _maybe_json(k, v) for k, v in params.items()}


def _maybe_json(key: str, value: Any) -> Any:
    """slack_sdk sends blocks/attachments/view as JSON strings in forms (and sometimes JSON)."""
    if key not in JSON_PARAMS or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _view_spec(params: Params) -> Params:
    view = params.get("view")
    if not isinstance(view, Mapping):
        raise StandInError("invalid_arguments")
    problems = input_problems(view)
    if problems:
        raise StandInError("invalid_arguments", problems)
    return dict(view)


def _truthy(value: Any) -> bool:
    return value in (True, "true", "1", 1)
