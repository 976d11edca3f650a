"""The client's requests and the sandbox's answers, both checked against the spec file.

Every exchange of a scenario touching all 12 operations (and their documented errors)
is captured on the wire and validated with openapi-core, so neither side can drift
from bot/cflow/openapi.yaml without a test failing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

import bot.cflow
from bot.cflow import CflowClient, CflowError
from bot.cflow.client import NO_RETRY, OPERATIONS
from bot.devtools.cflow_standin.seed import demo_state
from bot.devtools.cflow_standin.server import SANDBOX_STATE, start_sandbox
from tests.harness import Sandbox

SPEC = Path(bot.cflow.__file__).with_name("openapi.yaml")
SERVER = "https://us.cflowapps.com"


@dataclass
class Exchange:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    content_type: str
    status: int
    response_body: bytes
    response_type: str


@pytest.fixture
async def recorded() -> AsyncIterator[tuple[Sandbox, list[Exchange]]]:
    """A sandbox whose every API exchange is captured as it crossed the socket."""
    exchanges: list[Exchange] = []

    @web.middleware
    async def capture(request: web.Request, handler):  # type: ignore[no-untyped-def]
        body = await request.read()
        response = await handler(request)
        if request.path.startswith("/integromat/"):
            exchanges.append(
                Exchange(
                    request.method,
                    request.path,
                    dict(request.headers),
                    body,
                    request.content_type,
                    response.status,
                    response.body or b"",
                    response.content_type,
                )
            )
        return response

    runner, url = await start_sandbox(demo_state(), middlewares=[capture])
    try:
        yield Sandbox(runner.app[SANDBOX_STATE], url), exchanges
    finally:
        await runner.cleanup()


async def run_scenario(cflow: CflowClient, sandbox: Sandbox) -> None:
    """Each operation at least once, plus the errors the spec documents."""
    bob, dave, admin = sandbox.creds("bob"), sandbox.creds("dave"), sandbox.creds("cflow-bot")
    await cflow.list_workflows(bob)
    await cflow.get_workflow(bob, "1002")
    await cflow.list_requests(admin, "1002")
    created = await cflow.create_request(dave, "1002", {"Vendor": "Acme", "Amount": 5})
    await cflow.get_request(bob, "1002", created.id)
    await cflow.approve_request(bob, "1002", created.id, comment="fine")
    await cflow.reject_request(sandbox.creds("carol"), "1002", created.id, comment="no")
    draft = await cflow.create_draft(dave, "1002", {"Vendor": "Initech"})
    await cflow.update_request(dave, "1002", draft.id, {"Amount": 3})
    await cflow.delete_request(dave, "1002", draft.id)
    await cflow.list_users(admin)
    await cflow.list_roles(admin)
    refusals = [
        cflow.list_workflows(sandbox.creds("bob", user_key="wrong")),  # 401
        cflow.list_users(dave),  # 403
        cflow.get_workflow(bob, "missing"),  # 404
        cflow.create_request(dave, "1002", {"Vendor": "no amount"}),  # 400
        cflow.approve_request(bob, "1002", created.id),  # 400: already rejected
    ]
    for refusal in refusals:
        with pytest.raises(CflowError):
            await refusal


async def test_every_exchange_follows_the_spec(
    recorded: tuple[Sandbox, list[Exchange]], http: aiohttp.ClientSession
) -> None:
    sandbox, exchanges = recorded
    await run_scenario(CflowClient(http, sandbox.url, retry=NO_RETRY), sandbox)
    api = OpenAPI.from_file_path(str(SPEC))
    for exchange in exchanges:
        request = MockRequest(
            SERVER,
            exchange.method,
            exchange.path,
            headers=exchange.headers,
            data=exchange.body,
            content_type=exchange.content_type or "application/json",
        )
        api.validate_request(request)
        response = MockResponse(
            exchange.response_body,
            status_code=exchange.status,
            content_type=exchange.response_type,
        )
        api.validate_response(request, response)
    operations = {call.operation for call in sandbox.state.calls}
    assert operations == set(OPERATIONS), "the scenario must reach all 12 operations"
    assert {e.status for e in exchanges} >= {200, 201, 204, 400, 401, 403, 404}


def test_the_client_knows_every_operation_of_the_spec() -> None:
    import yaml

    spec = yaml.safe_load(SPEC.read_text())
    in_spec = {
        (method.upper(), path.removeprefix("/integromat/api/cflow"), op["operationId"])
        for path, item in spec["paths"].items()
        for method, op in item.items()
    }
    in_client = {(op.method, op.path, op.id) for op in OPERATIONS.values()}
    assert in_client == in_spec
