"""The sandbox over real HTTP: Cflow's API routes plus the `/_sandbox/` control routes."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from bot.devtools.cflow_standin.control import SANDBOX_STATE, add_control_routes
from bot.devtools.cflow_standin.records import NO_BODY, CallRecord, SandboxError, SandboxUser
from bot.devtools.cflow_standin.render import (
    render_request,
    render_role,
    render_user,
    render_workflow,
)
from bot.devtools.cflow_standin.state import SandboxState

__all__ = [
    "SANDBOX_STATE",
    "create_sandbox_app",
    "error_response",
    "run_sandbox",
    "start_sandbox",
]

logger = logging.getLogger(__name__)

API_PREFIX = "/integromat/api/cflow"
WORKFLOW = API_PREFIX + "/workflows/{workflowId}"
REQUEST = WORKFLOW + "/requests/{requestId}"
BODY_HINT = "Request body must be a JSON object with a 'fields' object"

ApiResult = tuple[int, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class ApiCall:
    """What an API handler needs: the state, the caller and the raw request parts."""

    state: SandboxState
    user: SandboxUser
    params: Mapping[str, str]
    body_text: str

    @property
    def workflow_id(self) -> str:
        """The {workflowId} path parameter."""
        return self.params["workflowId"]

    @property
    def request_id(self) -> str:
        """The {requestId} path parameter."""
        return self.params["requestId"]

    def json(self) -> Any:
        """The body as JSON (None when empty); malformed JSON is a 400."""
        if not self.body_text.strip():
            return None
        try:
            return json.loads(self.body_text)
        except ValueError:
            raise SandboxError(400, "Request body is not valid JSON") from None


ApiHandler = Callable[[ApiCall], ApiResult]


# -- responses ------------------------------------------------------------------


def error_response(
    state: SandboxState,
    status: int,
    message: str,
    errors: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """`{"message": ...}` JSON, or plain text when the text-errors knob is on."""
    if state.text_errors:
        return web.Response(status=status, text=message, headers=headers)
    body: dict[str, Any] = {"message": message}
    if errors:
        body["errors"] = dict(errors)
    return web.json_response(body, status=status, headers=headers)


def _success_response(status: int, body: Any) -> web.Response:
    """JSON for results; 204 carries no body at all."""
    if body is None:
        return web.Response(status=status)
    if isinstance(body, bytes):
        return web.Response(body=body, status=status, content_type="application/json")
    return web.json_response(body, status=status)


def _injected_failure(
    state: SandboxState, operation: str, workflow_id: str | None
) -> web.Response | None:
    """A queued `fail_next` answer or a random 500, before anything changes."""
    failure = state.take_failure(operation, workflow_id)
    if failure is not None:
        headers = {}
        if failure.retry_after is not None:
            headers["Retry-After"] = _retry_after_text(failure.retry_after)
        return error_response(state, failure.status, "Simulated failure", headers=headers)
    if state.roll_failure():
        return error_response(state, 500, "Simulated failure")
    return None


def _retry_after_text(value: float | str) -> str:
    """Seconds without a needless '.0' (strings, e.g. HTTP dates, pass through)."""
    return value if isinstance(value, str) else f"{value:g}"


def _parse_json_or_none(text: str) -> Any:
    """Body for the call log: parsed JSON, or None when empty or malformed."""
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        return None


# -- the API wrapper --------------------------------------------------------------


def _api_route(operation: str, handler: ApiHandler) -> Handler:
    """Wrap a handler with latency, failure injection, auth, errors and the call log."""

    async def handle(request: web.Request) -> web.StreamResponse:
        state = request.app[SANDBOX_STATE]
        if state.latency > 0:
            await asyncio.sleep(state.latency)
        text = await request.text()
        version = state.version
        response = _answer(state, request, operation, handler, text)
        username = request.headers.get("username")
        body = _parse_json_or_none(text)
        # Recorded before any delay: a client that gives up still left this call behind.
        state.record_call(
            CallRecord(operation, request.method, request.path, username, body, response.status)
        )
        if state.version != version and state.delay_after_commit > 0:
            await asyncio.sleep(state.delay_after_commit)
        return response

    return handle


def _answer(
    state: SandboxState, request: web.Request, operation: str, handler: ApiHandler, text: str
) -> web.Response:
    """Run one API call (failures injected first, nothing changed by them)."""
    failure = _injected_failure(state, operation, request.match_info.get("workflowId"))
    if failure is not None:
        return failure
    if state.is_denied(request.headers.get("username"), operation):
        return error_response(state, 403, "You do not have access to this request")
    try:
        status, body = _authenticated_call(state, request, handler, text)
    except SandboxError as error:
        return error_response(state, error.status, error.message, error.errors)
    except Exception:
        logger.exception("sandbox handler for %s crashed", operation)
        return error_response(state, 500, "Internal sandbox error")
    if operation in state.write_answers:
        answer = state.write_answers[operation]
        return _success_response(204, None) if answer is NO_BODY else web.json_response(answer)
    return _success_response(status, body)


def _authenticated_call(
    state: SandboxState, request: web.Request, handler: ApiHandler, text: str
) -> ApiResult:
    """Check the three auth headers, then run the handler."""
    headers = request.headers
    user = state.authenticate(
        headers.get("apikey"), headers.get("username"), headers.get("userkey")
    )
    return handler(ApiCall(state, user, dict(request.match_info), text))


# -- body parsing -------------------------------------------------------------------


def _fields_body(call: ApiCall) -> dict[str, Any]:
    """The `fields` object of a RequestCreate/RequestUpdate body, or a 400."""
    body = call.json()
    if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
        raise SandboxError(400, BODY_HINT, {"fields": "must be an object"})
    return body["fields"]


def _action_body(call: ApiCall) -> tuple[str | None, str | None]:
    """(comment, reassignTo) from an optional ApprovalAction body."""
    body = call.json()
    if body is None:
        return None, None
    if not isinstance(body, dict):
        raise SandboxError(400, "Request body must be a JSON object")
    for key in ("comment", "reassignTo"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise SandboxError(400, f"'{key}' must be a string", {key: "must be a string"})
    return body.get("comment"), body.get("reassignTo")


# -- API handlers ---------------------------------------------------------------------


def _get_workflows(call: ApiCall) -> ApiResult:
    """getWorkflows: every workflow, any status."""
    return 200, [render_workflow(workflow) for workflow in call.state.list_workflows()]


def _get_workflow(call: ApiCall) -> ApiResult:
    """getWorkflow."""
    return 200, render_workflow(call.state.get_workflow(call.workflow_id))


def _list_requests(call: ApiCall) -> ApiResult:
    """listRequests: non-drafts plus the caller's own drafts.

    The rendered JSON is kept until the state changes: benchmarks list thousands of
    unchanged workflows a cycle, and the stand-in's CPU must not be what they measure.
    """
    state, key = call.state, (call.workflow_id, call.user.username)
    cached = state.listing_cache.get(key)
    if cached is None or cached[0] != state.version:
        found = state.list_requests(call.workflow_id, call.user.username)
        body = json.dumps([render_request(request, state) for request in found]).encode()
        cached = state.listing_cache[key] = (state.version, body)
    return 200, cached[1]


def _create(call: ApiCall, *, draft: bool) -> ApiResult:
    """createRequest / createDraftRequest: 404 before any body complaint."""
    call.state.get_workflow(call.workflow_id)
    fields = _fields_body(call)
    created = call.state.create_request(call.workflow_id, fields, call.user.username, draft=draft)
    return 201, render_request(created, call.state)


def _create_request(call: ApiCall) -> ApiResult:
    """createRequest."""
    return _create(call, draft=False)


def _create_draft_request(call: ApiCall) -> ApiResult:
    """createDraftRequest."""
    return _create(call, draft=True)


def _get_request(call: ApiCall) -> ApiResult:
    """getRequest."""
    found = call.state.get_request(call.workflow_id, call.request_id, call.user.username)
    return 200, render_request(found, call.state)


def _update_request(call: ApiCall) -> ApiResult:
    """updateRequest: 404 first, then the body."""
    state, username = call.state, call.user.username
    state.get_request(call.workflow_id, call.request_id, username)
    fields = _fields_body(call)
    updated = state.update_request(call.workflow_id, call.request_id, username, fields)
    return 200, render_request(updated, state)


def _delete_request(call: ApiCall) -> ApiResult:
    """deleteRequest: 204 with no body."""
    call.state.delete_request(call.workflow_id, call.request_id, call.user.username)
    return 204, None


def _decide(call: ApiCall, decision: Callable[..., Any]) -> ApiResult:
    """approveRequest / rejectRequest share lookup, body and rendering."""
    call.state.get_request(call.workflow_id, call.request_id, call.user.username)
    comment, reassign_to = _action_body(call)
    request_id, username = call.request_id, call.user.username
    decided = decision(call.workflow_id, request_id, username, comment, reassign_to)
    return 200, render_request(decided, call.state)


def _approve_request(call: ApiCall) -> ApiResult:
    """approveRequest."""
    return _decide(call, call.state.approve)


def _reject_request(call: ApiCall) -> ApiResult:
    """rejectRequest."""
    return _decide(call, call.state.reject)


def _list_users(call: ApiCall) -> ApiResult:
    """listUsers: admins only."""
    call.state.require_admin(call.user)
    return 200, [render_user(user) for user in call.state.users.values()]


def _list_roles(call: ApiCall) -> ApiResult:
    """listRoles: admins only."""
    call.state.require_admin(call.user)
    return 200, [render_role(role) for role in call.state.roles.values()]


API_ROUTES: tuple[tuple[str, str, str, ApiHandler], ...] = (
    ("GET", API_PREFIX + "/getworkflows", "getWorkflows", _get_workflows),
    ("GET", WORKFLOW, "getWorkflow", _get_workflow),
    ("GET", WORKFLOW + "/requests", "listRequests", _list_requests),
    ("POST", WORKFLOW + "/requests", "createRequest", _create_request),
    ("POST", WORKFLOW + "/drafts", "createDraftRequest", _create_draft_request),
    ("GET", REQUEST, "getRequest", _get_request),
    ("PUT", REQUEST, "updateRequest", _update_request),
    ("DELETE", REQUEST, "deleteRequest", _delete_request),
    ("POST", REQUEST + "/approve", "approveRequest", _approve_request),
    ("POST", REQUEST + "/reject", "rejectRequest", _reject_request),
    ("GET", API_PREFIX + "/users", "listUsers", _list_users),
    ("GET", API_PREFIX + "/roles", "listRoles", _list_roles),
)


# -- app and serving ---------------------------------------------------------------------


def create_sandbox_app(
    state: SandboxState, *, middlewares: Iterable[Middleware] = ()
) -> web.Application:
    """An aiohttp app serving `state`; extra middlewares (e.g. contract checks) wrap it."""
    app = web.Application(middlewares=list(middlewares))
    app[SANDBOX_STATE] = state
    for method, path, operation, handler in API_ROUTES:
        app.router.add_route(method, path, _api_route(operation, handler))
    add_control_routes(app)
    return app


async def start_sandbox(
    state: SandboxState,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    middlewares: Iterable[Middleware] = (),
) -> tuple[web.AppRunner, str]:
    """Start serving (port 0: any free port); the caller must `await runner.cleanup()`."""
    runner = web.AppRunner(create_sandbox_app(state, middlewares=middlewares))
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return runner, f"http://{shown}:{bound_port}"


async def run_sandbox(
    state: SandboxState,
    host: str,
    port: int,
    *,
    ready: Callable[[str], object] = lambda base_url: None,
) -> None:
    """Serve until cancelled, then shut the server down cleanly; `ready` is told the URL
    once it is served (with port 0, the port the system gave)."""
    runner, base_url = await start_sandbox(state, host, port)
    logger.info("Cflow sandbox listening on %s", base_url)
    ready(base_url)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
