"""`/_sandbox/` control routes: turn knobs, inject work and read the call log over HTTP.

These are not part of the Cflow spec and need no auth; errors are always JSON.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.devtools.cflow_standin.records import OPERATION_IDS, SandboxError
from bot.devtools.cflow_standin.render import (
    render_call,
    render_config,
    render_credentials,
    render_request,
)
from bot.devtools.cflow_standin.state import SandboxState

SANDBOX_STATE = web.AppKey("sandbox_state", SandboxState)
CONTROL_PREFIX = "/_sandbox"
CONFIG_KEYS = ("latency", "delay_after_commit", "failure_rate", "text_errors", "seed")

JsonObject = dict[str, Any]
ControlHandler = Callable[[web.Request, SandboxState], Awaitable[web.Response]]


# -- input helpers --------------------------------------------------------------------


async def _json_object(request: web.Request) -> JsonObject:
    """The body as a JSON object ({} when empty), or a 400."""
    text = await request.text()
    if not text.strip():
        return {}
    try:
        body = json.loads(text)
    except ValueError:
        raise SandboxError(400, "Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise SandboxError(400, "Request body must be a JSON object")
    return body


def _number(body: JsonObject, key: str, default: float, *, maximum: float | None = None) -> float:
    """A non-negative number (not a bool), optionally capped."""
    value = body.get(key, default)
    bad = isinstance(value, bool) or not isinstance(value, int | float) or value < 0
    if bad or (maximum is not None and value > maximum):
        limit = f" and at most {maximum:g}" if maximum is not None else ""
        raise SandboxError(400, f"'{key}' must be a number >= 0{limit}")
    return float(value)


def _integer(body: JsonObject, key: str, default: int, *, minimum: int = 0) -> int:
    """An integer (not a bool) no smaller than `minimum`."""
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SandboxError(400, f"'{key}' must be an integer >= {minimum}")
    return value


def _text(body: JsonObject, key: str, default: str | None = None) -> str | None:
    """An optional string."""
    value = body.get(key, default)
    if value is not None and not isinstance(value, str):
        raise SandboxError(400, f"'{key}' must be a string")
    return value


def _required_text(body: JsonObject, key: str) -> str:
    """A mandatory non-empty string."""
    value = _text(body, key)
    if not value:
        raise SandboxError(400, f"'{key}' is required")
    return value


# -- handlers ---------------------------------------------------------------------------


async def _get_calls(request: web.Request, state: SandboxState) -> web.Response:
    """The API call log, oldest first."""
    return web.json_response([render_call(call) for call in state.calls])


async def _delete_calls(request: web.Request, state: SandboxState) -> web.Response:
    """Forget the call log."""
    state.clear_calls()
    return web.Response(status=204)


async def _get_config(request: web.Request, state: SandboxState) -> web.Response:
    """Current knobs."""
    return web.json_response(render_config(state))


async def _post_config(request: web.Request, state: SandboxState) -> web.Response:
    """Set any of the knobs; all are validated before any is applied."""
    body = await _json_object(request)
    unknown = sorted(set(body) - set(CONFIG_KEYS))
    if unknown:
        raise SandboxError(400, f"Unknown config keys: {', '.join(unknown)}")
    updates = _config_updates(body, state)
    if "seed" in body:
        state.rng.seed(_integer(body, "seed", 0))
    for key, value in updates.items():
        setattr(state, key, value)
    return web.json_response(render_config(state))


def _config_updates(body: JsonObject, state: SandboxState) -> JsonObject:
    """Validated knob values present in `body`."""
    updates: JsonObject = {}
    for key in ("latency", "delay_after_commit"):
        if key in body:
            updates[key] = _number(body, key, 0.0)
    if "failure_rate" in body:
        updates["failure_rate"] = _number(body, "failure_rate", 0.0, maximum=1.0)
    if "text_errors" in body:
        if not isinstance(body["text_errors"], bool):
            raise SandboxError(400, "'text_errors' must be true or false")
        updates["text_errors"] = body["text_errors"]
    return updates


async def _post_fail(request: web.Request, state: SandboxState) -> web.Response:
    """Queue canned failures for the next calls (optionally of one operation)."""
    body = await _json_object(request)
    operation = _text(body, "operation")
    if operation is not None and operation not in OPERATION_IDS:
        raise SandboxError(400, f"Unknown operation '{operation}'")
    retry_after = body.get("retry_after")
    if retry_after is not None and not isinstance(retry_after, str):
        retry_after = _number(body, "retry_after", 0.0)
    count = _integer(body, "count", 1, minimum=1)
    status = _integer(body, "status", 503, minimum=100)
    state.fail_next(count, status, operation, retry_after, _text(body, "workflowId"))
    return web.json_response(render_config(state))


async def _delete_fail(request: web.Request, state: SandboxState) -> web.Response:
    """Drop queued failures that never fired."""
    state.failures.clear()
    return web.Response(status=204)


async def _post_request(request: web.Request, state: SandboxState) -> web.Response:
    """Add a request as if it arrived in Cflow (no auth, no validation rules)."""
    body = await _json_object(request)
    fields = body.get("fields", {})
    if not isinstance(fields, dict):
        raise SandboxError(400, "'fields' must be an object")
    created = state.add_request(
        _required_text(body, "workflowId"),
        fields,
        _required_text(body, "submittedBy"),
        status=_text(body, "status", "pending") or "pending",
        stage_id=_text(body, "stageId"),
        request_id=_text(body, "requestId"),
    )
    return web.json_response(render_request(created, state), status=201)


async def _post_status(request: web.Request, state: SandboxState) -> web.Response:
    """Force a request's status, as if someone acted in Cflow's web app."""
    body = await _json_object(request)
    workflow_id, request_id = request.match_info["workflowId"], request.match_info["requestId"]
    stage_id = _text(body, "stageId")
    changed = state.set_status(
        workflow_id, request_id, _required_text(body, "status"), stage_id=stage_id
    )
    return web.json_response(render_request(changed, state))


async def _delete_request(request: web.Request, state: SandboxState) -> web.Response:
    """Remove a request, as if deleted in Cflow's web app."""
    state.delete(request.match_info["workflowId"], request.match_info["requestId"])
    return web.Response(status=204)


async def _post_populate(request: web.Request, state: SandboxState) -> web.Response:
    """Bulk-generate workflows with pending requests for benchmarks."""
    body = await _json_object(request)
    workflows = _integer(body, "workflows", 1)
    per_workflow = _integer(body, "requestsPerWorkflow", 10)
    reviewer = _text(body, "reviewer", "cflow-bot") or "cflow-bot"
    pending = body.get("pendingPerWorkflow")
    if pending is not None:
        pending = _integer(body, "pendingPerWorkflow", 0, minimum=0)
    created = state.populate(workflows, per_workflow, reviewer=reviewer, pending=pending)
    summary = {
        "workflowIds": [workflow.id for workflow in created],
        "requests": workflows * per_workflow,
    }
    return web.json_response(summary, status=201)


async def _get_credentials(request: web.Request, state: SandboxState) -> web.Response:
    """The demo API key and every account's key."""
    return web.json_response(render_credentials(state))


# -- wiring -----------------------------------------------------------------------------


def _control(handler: ControlHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Give a handler the state and turn refusals into JSON errors."""

    async def handle(request: web.Request) -> web.Response:
        try:
            return await handler(request, request.app[SANDBOX_STATE])
        except SandboxError as error:
            body: JsonObject = {"message": error.message}
            if error.errors:
                body["errors"] = error.errors
            return web.json_response(body, status=error.status)

    return handle


CONTROL_ROUTES: tuple[tuple[str, str, ControlHandler], ...] = (
    ("GET", "/calls", _get_calls),
    ("DELETE", "/calls", _delete_calls),
    ("GET", "/config", _get_config),
    ("POST", "/config", _post_config),
    ("POST", "/fail", _post_fail),
    ("DELETE", "/fail", _delete_fail),
    ("POST", "/requests", _post_request),
    ("POST", "/requests/{workflowId}/{requestId}/status", _post_status),
    ("DELETE", "/requests/{workflowId}/{requestId}", _delete_request),
    ("POST", "/populate", _post_populate),
    ("GET", "/credentials", _get_credentials),
)


def add_control_routes(app: web.Application) -> None:
    """Register the control routes; the app must hold the state under SANDBOX_STATE."""
    for method, path, handler in CONTROL_ROUTES:
        app.router.add_route(method, CONTROL_PREFIX + path, _control(handler))
