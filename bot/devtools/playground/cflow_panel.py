"""The playground's Cflow panel: act as Cflow's own web app would, on the sandbox.

Add a request, approve, reject or send one back as its reviewer, slow Cflow down or
make its next calls fail; the bot then sees it as it would see Cflow: on its next poll.
Everything is answered as JSON; the page sets it as text, never as markup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

from bot.devtools.cflow_standin.records import SandboxError, SandboxRequest
from bot.devtools.cflow_standin.state import SandboxState

SUBMITTER = "dave"
DECISIONS = ("approve", "reject", "send_back")
MAX_LATENCY = 10.0


class HasSandbox(Protocol):
    sandbox: SandboxState


def cflow_routes(router: web.UrlDispatcher, world_of: Callable[[web.Request], HasSandbox]) -> None:
    def state(request: web.Request) -> SandboxState:
        return world_of(request).sandbox

    async def overview(request: web.Request) -> web.Response:
        return web.json_response(_overview(state(request)))

    async def add(request: web.Request) -> web.Response:
        body = await json_body(request)
        fields = body.get("fields")
        if not isinstance(fields, dict) or not fields:
            raise web.HTTPBadRequest(text="a request needs fields")
        made = state(request).add_request(str(body.get("workflow_id")), fields, SUBMITTER)
        return web.json_response({"id": made.id})

    async def decide(request: web.Request) -> web.Response:
        body = await json_body(request)
        _decide(state(request), body)
        return web.json_response({"ok": True})

    async def configure(request: web.Request) -> web.Response:
        body = await json_body(request)
        sandbox = state(request)
        if "latency" in body:
            sandbox.latency = min(MAX_LATENCY, max(0.0, float(body["latency"])))
        if body.get("fail_next"):
            sandbox.fail_next(int(body["fail_next"]), int(body.get("status") or 503))
        return web.json_response({"latency": sandbox.latency, "failing": len(sandbox.failures)})

    router.add_get("/api/cflow", overview)
    router.add_post("/api/cflow/requests", _refusals(add))
    router.add_post("/api/cflow/decide", _refusals(decide))
    router.add_post("/api/cflow/config", _refusals(configure))


def _overview(state: SandboxState) -> dict[str, Any]:
    workflows = [
        {
            "id": w.id,
            "name": w.name,
            "stages": [{"id": s.id, "name": s.name, "reviewers": s.reviewers} for s in w.stages],
        }
        for w in state.list_workflows()
    ]
    requests = [
        _request(state, r)
        for w in state.list_workflows()
        for r in state.list_requests(w.id)
        if r.status != "draft"
    ]
    requests.sort(key=lambda r: r["updated_at"], reverse=True)
    return {
        "workflows": workflows,
        "requests": requests,
        "latency": state.latency,
        "failing": len(state.failures),
    }


def _request(state: SandboxState, request: SandboxRequest) -> dict[str, Any]:
    workflow = state.workflows[request.workflow_id]
    stage = workflow.stage(request.current_stage)
    return {
        "workflow_id": request.workflow_id,
        "workflow": workflow.name,
        "id": request.id,
        "status": request.status,
        "stage": stage.name if stage else None,
        "reviewers": list(request.current_reviewers),
        "fields": {str(k): str(v) for k, v in request.fields.items()},
        "submitted_by": request.submitted_by,
        "updated_at": request.updated_at.isoformat(),
    }


def _decide(state: SandboxState, body: dict[str, Any]) -> None:
    workflow_id, request_id = str(body.get("workflow_id")), str(body.get("request_id"))
    action = body.get("action")
    if action not in DECISIONS:
        raise web.HTTPBadRequest(text=f"action is one of {', '.join(DECISIONS)}")
    request = state.get_request(workflow_id, request_id)
    if action == "send_back":
        first = state.workflows[workflow_id].first_stage()
        state.set_status(workflow_id, request_id, "pending", stage_id=first.id if first else None)
        return
    reviewer = str(body.get("as") or (request.current_reviewers or [""])[0])
    comment = str(body.get("comment") or "") or None
    if action == "approve":
        state.approve(workflow_id, request_id, reviewer, comment)
    else:
        state.reject(workflow_id, request_id, reviewer, comment)


def _refusals(handler: Callable[[web.Request], Any]) -> Callable[[web.Request], Any]:
    """Cflow's refusal in its own words, as a 400 the panel shows."""

    async def guarded(request: web.Request) -> web.Response:
        try:
            response: web.Response = await handler(request)
        except SandboxError as error:
            return web.json_response({"error": error.message}, status=400)
        except (TypeError, ValueError):
            return web.json_response({"error": "that is not a valid value"}, status=400)
        return response

    return guarded


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or a 400."""
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="JSON expected") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="a JSON object expected")
    return body
