"""Tolerant reading: odd answers from a Cflow account, served over a real socket."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from bot.cflow import CflowClient, CflowMalformedResponseError, CflowRejectedError, Credentials
from bot.cflow.client import NO_RETRY

CREDS = Credentials(api_key=SecretStr("k"), username="u", user_key=SecretStr("uk"))


@pytest.fixture
async def odd_cflow() -> AsyncIterator[tuple[str, dict[str, web.Response]]]:
    """A server answering each path with whatever response the test puts in `answers`."""
    answers: dict[str, web.Response] = {}

    async def answer(request: web.Request) -> web.Response:
        return answers[request.path]

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", answers
    finally:
        await runner.cleanup()


async def test_malformed_record_is_skipped_and_extras_kept(
    odd_cflow, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    url, answers = odd_cflow
    records = [
        {"id": "1", "workflowId": "9", "status": "pending", "priority": "high"},
        {"workflowId": "9", "status": "pending"},  # no id: cannot be acted on
        {"id": 3, "status": "escalated", "fields": {"Amount": 5}},
        "garbage",
    ]
    answers["/integromat/api/cflow/workflows/9/requests"] = web.json_response(records)
    requests = await CflowClient(http, url, retry=NO_RETRY).list_requests(CREDS, "9")
    assert [request.id for request in requests] == ["1", "3"]
    assert requests[0].model_extra == {"priority": "high"}
    assert requests[1].status == "escalated" and requests[1].fields == {"Amount": 5}
    assert caplog.text.count("Skipping malformed Request") == 2


async def test_non_json_answer_is_malformed(odd_cflow, http: aiohttp.ClientSession) -> None:
    url, answers = odd_cflow
    answers["/integromat/api/cflow/getworkflows"] = web.Response(text="<html>maintenance</html>")
    with pytest.raises(CflowMalformedResponseError):
        await CflowClient(http, url, retry=NO_RETRY).list_workflows(CREDS)


async def test_a_record_where_a_list_belongs_is_malformed(
    odd_cflow, http: aiohttp.ClientSession
) -> None:
    url, answers = odd_cflow
    answers["/integromat/api/cflow/users"] = web.json_response({"unexpected": True})
    with pytest.raises(CflowMalformedResponseError):
        await CflowClient(http, url, retry=NO_RETRY).list_users(CREDS)


async def test_unreadable_single_record_is_malformed(
    odd_cflow, http: aiohttp.ClientSession
) -> None:
    url, answers = odd_cflow
    answers["/integromat/api/cflow/workflows/1"] = web.Response(
        body=json.dumps({"name": "no id"}), content_type="application/json"
    )
    with pytest.raises(CflowMalformedResponseError):
        await CflowClient(http, url, retry=NO_RETRY).get_workflow(CREDS, "1")


async def test_error_message_found_in_nested_json(odd_cflow, http: aiohttp.ClientSession) -> None:
    url, answers = odd_cflow
    answers["/integromat/api/cflow/workflows/1/requests"] = web.json_response(
        {"error": {"message": "Amount must be positive"}}, status=422
    )
    with pytest.raises(CflowRejectedError, match="Amount must be positive"):
        await CflowClient(http, url, retry=NO_RETRY).create_request(CREDS, "1", {"Amount": -1})
