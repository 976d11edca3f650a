"""The sandbox's `/_sandbox/` control routes, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.devtools.cflow_standin.seed import demo_state
from bot.devtools.cflow_standin.server import start_sandbox
from bot.devtools.cflow_standin.state import SandboxState

API = "/integromat/api/cflow"
Client = tuple[aiohttp.ClientSession, str]


def auth(username: str = "bob") -> dict[str, str]:
    """Headers for a seeded user (keys are `<username>-key`)."""
    return {"apikey": "sandbox-api-key", "username": username, "userkey": f"{username}-key"}


@pytest.fixture
def state() -> SandboxState:
    """A fresh demo account per test."""
    return demo_state()


@pytest.fixture
async def client(state: SandboxState) -> AsyncIterator[Client]:
    """A running sandbox and a session; yields (session, base URL)."""
    runner, base_url = await start_sandbox(state)
    try:
        async with aiohttp.ClientSession() as session:
            yield session, base_url
    finally:
        await runner.cleanup()


async def test_fail_next_answers_with_retry_after_then_recovers(client: Client) -> None:
    session, base = client
    fail = {"count": 1, "status": 503, "operation": "getWorkflow", "retry_after": 2}
    async with session.post(f"{base}/_sandbox/fail", json=fail) as response:
        assert response.status == 200
    async with session.get(f"{base}{API}/getworkflows", headers=auth()) as response:
        assert response.status == 200  # a different operation is not affected
    async with session.get(f"{base}{API}/workflows/1001", headers=auth()) as response:
        assert response.status == 503
        assert response.headers["Retry-After"] == "2"
        assert (await response.json())["message"] == "Simulated failure"
    async with session.get(f"{base}{API}/workflows/1001", headers=auth()) as response:
        assert response.status == 200


async def test_text_errors_switch_error_bodies_to_plain_text(client: Client) -> None:
    session, base = client
    async with session.post(f"{base}/_sandbox/config", json={"text_errors": True}) as response:
        assert (await response.json())["text_errors"] is True
    async with session.get(f"{base}{API}/workflows/nope", headers=auth()) as response:
        assert response.status == 404
        assert response.content_type == "text/plain"
        assert await response.text() == "Workflow nope not found"


async def test_config_rejects_unknown_keys_and_bad_values(client: Client) -> None:
    session, base = client
    for body in ({"latncy": 1}, {"failure_rate": 2}, {"latency": -1}):
        async with session.post(f"{base}/_sandbox/config", json=body) as response:
            assert response.status == 400


async def test_populate_adds_pending_work_for_the_reviewer(client: Client) -> None:
    session, base = client
    body = {"workflows": 2, "requestsPerWorkflow": 3, "reviewer": "carol"}
    async with session.post(f"{base}/_sandbox/populate", json=body) as response:
        assert response.status == 201
        summary = await response.json()
    assert summary["requests"] == 6
    workflow_id = summary["workflowIds"][0]
    url = f"{base}{API}/workflows/{workflow_id}/requests"
    async with session.get(url, headers=auth("carol")) as response:
        requests = await response.json()
    assert len(requests) == 3
    assert all(r["status"] == "pending" and r["currentReviewers"] == ["carol"] for r in requests)


async def test_injected_request_and_status_change_are_visible_through_the_api(
    client: Client,
) -> None:
    session, base = client
    new = {"workflowId": "1003", "fields": {"Days": 2}, "submittedBy": "dave", "requestId": "900"}
    async with session.post(f"{base}/_sandbox/requests", json=new) as response:
        assert response.status == 201
        assert (await response.json())["currentReviewers"] == ["bob", "alice"]
    status_url = f"{base}/_sandbox/requests/1003/900/status"
    async with session.post(status_url, json={"status": "approved"}) as response:
        assert response.status == 200
    async with session.get(f"{base}{API}/workflows/1003/requests/900", headers=auth()) as response:
        request = await response.json()
    assert request["status"] == "approved"
    assert "currentStage" not in request


async def test_call_log_records_api_calls_and_can_be_cleared(client: Client) -> None:
    session, base = client
    url = f"{base}{API}/workflows/1001/requests/103/approve"
    async with session.post(url, headers=auth("bob"), json={"comment": "ok"}) as response:
        assert response.status == 200
    async with session.get(f"{base}{API}/users", headers=auth("bob")) as response:
        assert response.status == 403
    async with session.get(f"{base}/_sandbox/calls") as response:
        calls = await response.json()
    assert [(c["operation"], c["status"], c["username"]) for c in calls] == [
        ("approveRequest", 200, "bob"),
        ("listUsers", 403, "bob"),
    ]
    assert calls[0]["body"] == {"comment": "ok"}
    async with session.delete(f"{base}/_sandbox/calls") as response:
        assert response.status == 204
    async with session.get(f"{base}/_sandbox/calls") as response:
        assert await response.json() == []


async def test_credentials_list_the_demo_keys(client: Client) -> None:
    session, base = client
    async with session.get(f"{base}/_sandbox/credentials") as response:
        credentials = await response.json()
    assert credentials["apiKey"] == "sandbox-api-key"
    keys = {user["username"]: user["key"] for user in credentials["users"]}
    assert keys["cflow-bot"] == "cflow-bot-key"
