"""The playground's Workflow Builder panel: run the step "Send for Cflow approval".

Running it is what Slack does when a workflow reaches the step: the stand-in starts an
execution (with a token of its own) and its `function_executed` event is signed and
posted to the bot. The workflow is run by the person the page acts as: Slack fills the
step's submitter (a user_context) with them, and the page offers no other choice.
The panel lists each run with what the bot told Slack at its end: the outputs once the
request is decided, or the error. Answered as JSON; the page sets it as text, never as
markup.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from bot.blocks.steps import CALLBACK_ID, FIELDS, SUBMITTER, WORKFLOW
from bot.devtools.playground.cflow_panel import json_body
from bot.devtools.slack_standin.functions import Execution
from bot.devtools.slack_standin.slack import SlackStandIn

Send = Callable[..., Awaitable[tuple[int, dict[str, Any]]]]
MAX_INPUT = 4000


class HasSlack(Protocol):
    slack: SlackStandIn
    people: dict[str, str]


def steps_routes(
    router: web.UrlDispatcher, world_of: Callable[[web.Request], HasSlack], send: Send
) -> None:
    """`send(request, body, content_type=…)` signs and posts to the bot as Slack would."""

    async def runs(request: web.Request) -> web.Response:
        slack = world_of(request).slack
        shown = [_run(e, world_of(request).people) for e in slack.functions.executions.values()]
        return web.json_response({"runs": shown[::-1]})

    async def run(request: web.Request) -> web.Response:
        world, body = world_of(request), await json_body(request)
        runner = str(body.get("user") or "")
        if runner not in world.people:
            raise web.HTTPBadRequest(text="the workflow is run by one of the demo people")
        inputs = {
            WORKFLOW: str(body.get(WORKFLOW) or "")[:MAX_INPUT],
            FIELDS: str(body.get(FIELDS) or "")[:MAX_INPUT],
        }
        if not inputs[WORKFLOW] or not inputs[FIELDS]:
            raise web.HTTPBadRequest(text="Workflow Builder asks for every required input")
        event = world.slack.functions.execute(CALLBACK_ID, inputs, run_by=runner)
        status, _ = await send(request, event, content_type="application/json")
        return web.json_response({"status": status, "id": world.slack.functions.latest().id})

    router.add_get("/api/steps", runs)
    router.add_post("/api/steps", run)


def _run(execution: Execution, people: dict[str, str]) -> dict[str, Any]:
    """One run as the page lists it: who ran it by name (never the context's secret)."""
    context = execution.inputs.get(SUBMITTER)
    submitter = str(context.get("id") or "") if isinstance(context, dict) else ""
    return {
        "id": execution.id,
        "workflow": execution.inputs.get(WORKFLOW),
        "submitter": people.get(submitter, submitter),
        "state": execution.state,
        "outputs": execution.outputs,
        "error": execution.error,
    }
