"""Slack's Web API on a local port, for the tests and the playground.

The bot's `AsyncWebClient` is pointed at `SlackStandIn.api_url`; every request is recorded
as a `SlackCall` (in `log`, a call log like the Cflow stand-in's: bot/devtools/faults.py)
and answered with the shapes Slack documents, so the bot's real HTTP, encoding and retry
code runs. State (messages, DMs, views, users, channels) lives on the
instance, failures and latency can be injected per method, and `wait_for()` lets tests
wait for listeners that run after Bolt has already acknowledged the event.

This module is the server: its routes, its answers and the test-facing methods. Each
family of Slack methods is a module of its own (chat, conversations, users, views,
responses, socket_mode), over one `Workspace` (workspace.py, records.py); how calls
fail is failures.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from typing import Any, Self

from aiohttp import web

from bot.devtools.faults import CallLog, anywhere
from bot.devtools.slack_standin.chat import Chat
from bot.devtools.slack_standin.conversations import Conversations
from bot.devtools.slack_standin.failures import Failures
from bot.devtools.slack_standin.functions import METHODS as FUNCTION_METHODS
from bot.devtools.slack_standin.functions import Functions
from bot.devtools.slack_standin.oauth import METHODS as OAUTH_METHODS
from bot.devtools.slack_standin.oauth import OAuth, client_credentials
from bot.devtools.slack_standin.records import (
    Channel,
    Handler,
    Params,
    SlackCall,
    StandInError,
    StoredMessage,
)
from bot.devtools.slack_standin.responses import Responses
from bot.devtools.slack_standin.socket_mode import SocketMode
from bot.devtools.slack_standin.unfurls import Unfurls
from bot.devtools.slack_standin.users import Users
from bot.devtools.slack_standin.views import Views
from bot.devtools.slack_standin.workspace import Workspace

__all__ = ["Channel", "SlackCall", "SlackStandIn", "StandInError", "StoredMessage"]

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
        "functions.completeSuccess",
        "functions.completeError",
        "chat.unfurl",
    }
)
JSON_PARAMS = frozenset(
    {"blocks", "attachments", "view", "metadata", "user_auth_blocks", "unfurls"}
)


class SlackStandIn(Workspace):
    """Slack's Web API state plus an aiohttp app serving `/api/{method}` and response URLs."""

    def __init__(
        self,
        bot_token: str = "xoxb-test-token",
        *,
        latency: float = 0.0,
        rate_limits: bool = True,
        rate_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        **workspace: Any,
    ) -> None:
        """`rate_limits` enforces Slack's published limits (bot/outbound/limits.py), each
        rate times `rate_scale`: 429 with Retry-After beyond them, as Slack answers;
        `workspace` names the team and the app (bot.devtools.slack_standin.workspace)."""
        super().__init__(bot_token, **workspace)
        self.failures = Failures(
            latency=latency, rate_limits=rate_limits, rate_scale=rate_scale, clock=clock
        )
        self.chat = Chat(self)
        self.conversations = Conversations(self)
        self.people = Users(self)
        self.views = Views(self, clock=clock)
        self.responses = Responses(self, self.chat, lambda: self.base_url)
        self.socket_mode = SocketMode(self, lambda: self.base_url)
        self.functions = Functions(self)
        self.unfurls = Unfurls(self)  # people's links, link_shared and chat.unfurl
        self.oauth = OAuth(self, clock=clock)  # installs: the authorize page, oauth.v2.access
        self.log: CallLog[SlackCall] = CallLog()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._handlers: dict[str, Handler] = {
            "auth.test": self.auth_test,
            **self.chat.handlers(),
            **self.conversations.handlers(),
            **self.people.handlers(),
            **self.views.handlers(),
            **self.socket_mode.handlers(),
            **self.unfurls.handlers(),
        }
        self.app = web.Application()
        self.app.router.add_route("*", "/api/{method}", self._handle_api)
        self.app.router.add_post("/response/{token}", self._handle_response_url)
        self.app.router.add_get("/socket", self.socket_mode.handle_socket)
        self.app.router.add_get("/oauth/v2/authorize", self.oauth.authorize_page)

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
        await self.socket_mode.close()
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
    def authorize_url(self) -> str:
        """What SLACK_AUTHORIZE_URL is set to: the page where a person allows an install."""
        return f"{self.base_url}/oauth/v2/authorize"

    @property
    def api_url(self) -> str:
        """What SLACK_API_URL / AsyncWebClient(base_url=...) is set to; ends in a slash."""
        return f"{self.base_url}/api/"

    # -- configuration (each family's own, here for tests to reach) ----------------------

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
        return self.people.add_user(user_id, email, name, is_admin=is_admin, tz=tz, deleted=deleted)

    def add_user_group(self, group_id: str, handle: str) -> None:
        """A user group people can mention as `@handle`."""
        self.people.add_user_group(group_id, handle)

    def user_named(self, name: str) -> Params | None:
        """The user a typed `@name` picks in Slack's composer: by username or display name."""
        return self.people.user_named(name)

    def user_group_named(self, handle: str) -> str | None:
        """The id of the user group a typed `@handle` picks."""
        return self.people.user_group_named(handle)

    def fail_next(
        self,
        method: str,
        error: str = "ratelimited",
        count: int = 1,
        retry_after: int = 1,
        *,
        where: Callable[[SlackCall], bool] = anywhere,
    ) -> None:
        """Make the next `count` calls of `method` (that `where` picks, e.g. the edit that
        puts a card's buttons back) fail: HTTP 429 for "ratelimited"."""
        self.failures.fail_next(method, error, count, retry_after, where=where)

    def refuse(self, target: str, error: str, methods: Iterable[str] | None = None) -> None:
        """Refuse every call about a user (their DM too) or a channel with `error`, as Slack
        does for a deactivated account (`user_disabled`) or an archived channel."""
        self.failures.refuse(target, error, methods)

    def drop_next(self, method: str, count: int = 1) -> None:
        """Close the connection of the next `count` calls of `method` without answering."""
        self.failures.drop_next(method, count)

    def lose_answer_of_next(
        self, method: str, where: Callable[[SlackCall], bool] = anywhere
    ) -> None:
        """Carry out the next call of `method` (that `where` picks), then close the
        connection before answering: it took effect but its caller cannot know."""
        self.failures.lose_answer_of_next(method, where)

    def set_latency(self, seconds: float, method: str | None = None) -> None:
        """Delay answers (not state changes) globally or for one method."""
        self.failures.set_latency(seconds, method)

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
        """A response_url for payloads (see `Responses.response_url`)."""
        return self.responses.response_url(name, channel=channel, ts=ts, user=user)

    def trigger_for(self, user_id: str) -> str:
        """A trigger_id for an interaction of `user_id`: a modal it opens is theirs."""
        return self.views.trigger_for(user_id)

    def say(
        self, user_id: str, channel: str, text: str, *, thread_ts: str | None = None
    ) -> StoredMessage:
        """A person's message, with Slack's markup in `text` (`message_text_as_sent`)."""
        return self.chat.say(user_id, channel, text, thread_ts=thread_ts)

    # -- inspection --------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[SlackCall]:
        """Recorded calls, oldest first, optionally for one method."""
        return self.log.of(method)

    def clear(self) -> None:
        """Forget recorded calls (state such as messages is kept)."""
        self.log.clear()

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
        return await self.log.wait_for(method, count, timeout, predicate)

    def message(self, channel: str, ts: str) -> StoredMessage | None:
        """A posted message (deleted ones too, flagged), or None."""
        return self.records.message(channel, ts)

    def messages(self, channel: str | None = None) -> list[StoredMessage]:
        """Live (not deleted) messages, ordered by ts."""
        return self.records.live_messages(channel)

    def ephemerals(self, channel: str, user_id: str) -> list[StoredMessage]:
        """What only `user_id` sees in `channel` (chat.postEphemeral, response_url)."""
        return self.records.ephemerals_of(channel, user_id)

    def modal_stack(self, user_id: str) -> list[Params]:
        """The modals open for `user_id`, root first (views.open, push, update)."""
        return self.views.modal_stack(user_id)

    def close_view(self, user_id: str, view_id: str | None = None) -> None:
        """The person closed the top modal (`view_id`), or all of them (None)."""
        self.views.close_view(user_id, view_id)

    def answer_view(
        self, user_id: str, view_id: str, answer: Params, *, submitted: str | None = None
    ) -> None:
        """Apply a view_submission's acknowledgement (see `Views.answer_view`)."""
        self.views.answer_view(user_id, view_id, answer, submitted=submitted)

    def view(self, view_id: str) -> Params | None:
        """A view opened, pushed, updated or published through the fake."""
        return self.views.view(view_id)

    def home_view(self, user_id: str) -> Params | None:
        """The App Home view last published for `user_id`."""
        return self.views.home_view(user_id)

    async def wait_for_socket(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Until an app has connected over Socket Mode."""
        await self.socket_mode.wait_for_socket(timeout)

    async def send_envelope(
        self,
        kind: str,
        payload: Params,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> Params:
        """Deliver an envelope (e.g. "slash_commands") and return the app's ack."""
        return await self.socket_mode.send_envelope(kind, payload, timeout)

    # -- HTTP --------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _read_params(request)
        header = request.headers.get("Authorization", "")
        if method in OAUTH_METHODS:  # the app's client credentials, not a token
            params = {**client_credentials(header), **params}
            call = self._record(method, params, None)
            return await self._answer(call, lambda c: self.oauth.access(c.params))
        body_token = params.pop("token", None)
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
        call = self._record(method, params, token or body_token)
        if self.failures.dropped(call):
            call.failed, call.error = True, "dropped"
            if request.transport is not None:
                request.transport.abort()  # a reset connection: no answer at all
            return web.Response(status=500)
        answer = await self._answer(call, self._dispatch)
        if request.transport is not None and self.failures.loses_answer(call):
            request.transport.abort()
        return answer

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        call = self._record("response_url", body, request.match_info["token"])
        return await self._answer(call, lambda c: self.responses.answer(c.token, c.params))

    def _record(self, method: str, params: Params, token: str | None) -> SlackCall:
        return self.log.record(SlackCall(method, params, token, time.monotonic()))

    async def _answer(self, call: SlackCall, run: Callable[[SlackCall], Params]) -> web.Response:
        """Apply an injected failure or the handler now, then answer after the latency."""
        status, headers = 200, {}
        failure = self.failures.failure_for(call, self.records.dms)
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
            self.changed()
        call.error = body.get("error")
        delay = self.failures.delay(call.method)
        if delay > 0:
            await asyncio.sleep(delay)
        return web.json_response(body, status=status, headers=headers)

    def _dispatch(self, call: SlackCall) -> Params:
        if call.method in FUNCTION_METHODS:  # called with the step's own token
            if call.token is None:
                raise StandInError("not_authed")
            return self.functions.answer(call)
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
