"""The Cflow client against the sandbox over real HTTP: every operation, every error."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from bot.cflow import (
    CflowClient,
    CflowForbiddenError,
    CflowNotFoundError,
    CflowRateLimitedError,
    CflowRejectedError,
    CflowServerError,
    CflowUnauthorizedError,
    CflowUnavailableError,
    RetryPolicy,
)
from bot.cflow.client import NO_RETRY
from bot.cflow.reading import parse_requests
from tests.harness import FAST_RETRY, Sandbox

PURCHASE_ORDER = "1002"
EXPENSE = "1001"


def new_purchase_order(sandbox: Sandbox, **fields: object) -> str:
    """A fresh pending purchase order at its first stage (Manager review: bob)."""
    values = {"Vendor": "Acme", "Amount": 120, **fields}
    return sandbox.state.add_request(PURCHASE_ORDER, values, "dave").id


# Every operation, successfully


async def test_list_and_get_workflows(cflow: CflowClient, sandbox: Sandbox) -> None:
    workflows = await cflow.list_workflows(sandbox.creds("bob"))
    by_id = {workflow.id: workflow for workflow in workflows}
    assert {"1001", "1002", "1003", "1004"} <= set(by_id)
    purchase = await cflow.get_workflow(sandbox.creds("bob"), PURCHASE_ORDER)
    assert [stage.label for stage in purchase.ordered_stages] == [
        "Manager review",
        "Finance review",
        "Director approval",
    ]
    assert purchase.ordered_stages[1].reviewers == ["carol"]
    assert not by_id["1004"].is_active and purchase.is_active


async def test_list_and_get_requests(cflow: CflowClient, sandbox: Sandbox) -> None:
    request_id = new_purchase_order(sandbox, Description="Laptops")
    requests = await cflow.list_requests(sandbox.creds("cflow-bot"), PURCHASE_ORDER)
    assert request_id in {request.id for request in requests}
    request = await cflow.get_request(sandbox.creds("bob"), PURCHASE_ORDER, request_id)
    workflow = await cflow.get_workflow(sandbox.creds("bob"), PURCHASE_ORDER)
    assert request.is_pending and request.fields["Description"] == "Laptops"
    assert request.submitted_by == "dave" and request.created_at is not None
    assert workflow.find_stage(request.current_stage).label == "Manager review"
    assert request.reviewers(workflow) == ["bob"]


async def test_create_request_starts_at_the_first_stage(
    cflow: CflowClient, sandbox: Sandbox
) -> None:
    created = await cflow.create_request(
        sandbox.creds("dave"), PURCHASE_ORDER, {"Vendor": "Globex", "Amount": 99.5}
    )
    assert created.is_pending and created.submitted_by == "dave"
    assert created.fields == {"Vendor": "Globex", "Amount": 99.5}
    assert sandbox.state.requests[PURCHASE_ORDER][created.id].current_stage == created.current_stage


async def test_drafts_are_created_updated_and_deleted(cflow: CflowClient, sandbox: Sandbox) -> None:
    dave = sandbox.creds("dave")
    draft = await cflow.create_draft(dave, PURCHASE_ORDER, {"Vendor": "Initech"})
    assert draft.status == "draft" and draft.current_stage is None
    updated = await cflow.update_request(dave, PURCHASE_ORDER, draft.id, {"Amount": 10})
    assert updated.status == "draft" and updated.fields == {"Vendor": "Initech", "Amount": 10}
    await cflow.delete_request(dave, PURCHASE_ORDER, draft.id)
    with pytest.raises(CflowNotFoundError):
        await cflow.get_request(dave, PURCHASE_ORDER, draft.id)


async def test_approve_moves_through_every_stage(cflow: CflowClient, sandbox: Sandbox) -> None:
    request_id = new_purchase_order(sandbox)
    for reviewer in ("bob", "carol"):
        moved = await cflow.approve_request(
            sandbox.creds(reviewer), PURCHASE_ORDER, request_id, comment=f"ok from {reviewer}"
        )
        assert moved.is_pending
    done = await cflow.approve_request(sandbox.creds("alice"), PURCHASE_ORDER, request_id)
    assert done.status == "approved" and done.is_final and done.current_stage is None
    actions = [(c.operation, c.username) for c in sandbox.calls("approveRequest")]
    assert actions == [("approveRequest", u) for u in ("bob", "carol", "alice")]
    assert sandbox.calls("approveRequest")[0].body == {"comment": "ok from bob"}


async def test_reject_keeps_the_comment(cflow: CflowClient, sandbox: Sandbox) -> None:
    request_id = new_purchase_order(sandbox)
    rejected = await cflow.reject_request(
        sandbox.creds("bob"), PURCHASE_ORDER, request_id, comment="Over budget"
    )
    assert rejected.status == "rejected"
    assert rejected.model_extra["history"][-1]["comment"] == "Over budget"


async def test_reassign_hands_the_stage_to_someone_else(
    cflow: CflowClient, sandbox: Sandbox
) -> None:
    request_id = new_purchase_order(sandbox)
    handed = await cflow.approve_request(
        sandbox.creds("bob"), PURCHASE_ORDER, request_id, reassign_to="alice", comment="on leave"
    )
    workflow = await cflow.get_workflow(sandbox.creds("bob"), PURCHASE_ORDER)
    assert handed.is_pending and handed.reviewers(workflow) == ["alice"]
    assert sandbox.calls("approveRequest")[-1].body == {
        "comment": "on leave",
        "reassignTo": "alice",
    }
    with pytest.raises(CflowRejectedError, match="not a reviewer"):
        await cflow.approve_request(sandbox.creds("bob"), PURCHASE_ORDER, request_id)


async def test_list_users_and_roles(cflow: CflowClient, sandbox: Sandbox) -> None:
    users = await cflow.list_users(sandbox.creds("cflow-bot"))
    by_name = {user.username: user for user in users}
    assert by_name["bob"].email == "bob@example.com"
    assert not by_name["erin"].is_active
    roles = await cflow.list_roles(sandbox.creds("alice"))
    assert "Admin" in {role.name for role in roles}


# Every error class


async def test_wrong_user_key_is_unauthorized(cflow: CflowClient, sandbox: Sandbox) -> None:
    with pytest.raises(CflowUnauthorizedError) as caught:
        await cflow.list_workflows(sandbox.creds("bob", user_key="wrong"))
    assert caught.value.status == 401
    assert len(sandbox.calls("getWorkflows")) == 1, "a 401 is not retried"


async def test_non_admin_listing_users_is_forbidden(cflow: CflowClient, sandbox: Sandbox) -> None:
    with pytest.raises(CflowForbiddenError, match="Admin access required"):
        await cflow.list_users(sandbox.creds("dave"))


async def test_unknown_workflow_is_not_found(cflow: CflowClient, sandbox: Sandbox) -> None:
    with pytest.raises(CflowNotFoundError):
        await cflow.get_workflow(sandbox.creds("bob"), "no/such workflow")


async def test_rejected_input_carries_cflows_own_words(
    cflow: CflowClient, sandbox: Sandbox
) -> None:
    with pytest.raises(CflowRejectedError) as caught:
        await cflow.create_request(sandbox.creds("dave"), PURCHASE_ORDER, {"Vendor": "Acme"})
    assert "Amount" in caught.value.message and caught.value.status == 400
    assert "Amount" in caught.value.field_errors
    request_id = new_purchase_order(sandbox)
    with pytest.raises(CflowRejectedError, match="carol is not a reviewer"):
        await cflow.approve_request(sandbox.creds("carol"), PURCHASE_ORDER, request_id)


async def test_plain_text_error_bodies_are_read(cflow: CflowClient, sandbox: Sandbox) -> None:
    sandbox.state.text_errors = True
    request_id = new_purchase_order(sandbox)
    with pytest.raises(CflowRejectedError) as caught:
        await cflow.approve_request(sandbox.creds("carol"), PURCHASE_ORDER, request_id)
    assert "carol is not a reviewer" in caught.value.message


async def test_server_error_on_approve_is_ambiguous_and_not_retried(
    cflow: CflowClient, sandbox: Sandbox
) -> None:
    request_id = new_purchase_order(sandbox)
    sandbox.state.fail_next(1, status=500, operation="approveRequest")
    with pytest.raises(CflowServerError) as caught:
        await cflow.approve_request(sandbox.creds("bob"), PURCHASE_ORDER, request_id)
    assert caught.value.may_have_succeeded
    assert len(sandbox.calls("approveRequest")) == 1


async def test_rate_limited_approve_is_not_retried_and_not_ambiguous(
    cflow: CflowClient, sandbox: Sandbox
) -> None:
    request_id = new_purchase_order(sandbox)
    sandbox.state.fail_next(1, status=429, operation="approveRequest", retry_after=3)
    with pytest.raises(CflowRateLimitedError) as caught:
        await cflow.approve_request(sandbox.creds("bob"), PURCHASE_ORDER, request_id)
    assert caught.value.retry_after == 3 and not caught.value.may_have_succeeded
    assert len(sandbox.calls("approveRequest")) == 1


async def test_unreachable_cflow(http: aiohttp.ClientSession, sandbox: Sandbox) -> None:
    client = CflowClient(http, "http://127.0.0.1:9", timeout=1.0, retry=NO_RETRY)
    with pytest.raises(CflowUnavailableError) as caught:
        await client.list_workflows(sandbox.creds("bob"))
    assert not caught.value.may_have_succeeded


# Timeouts and retries


async def test_slow_read_times_out(http: aiohttp.ClientSession, sandbox: Sandbox) -> None:
    sandbox.state.latency = 1.0
    client = CflowClient(http, sandbox.url, timeout=0.2, retry=NO_RETRY)
    with pytest.raises(CflowUnavailableError, match=r"did not answer within 0\.2 s"):
        await client.list_workflows(sandbox.creds("bob"))


async def test_approve_that_times_out_is_sent_once_and_flagged_ambiguous(
    http: aiohttp.ClientSession, sandbox: Sandbox
) -> None:
    request_id = new_purchase_order(sandbox)
    sandbox.state.delay_after_commit = 1.0
    client = CflowClient(http, sandbox.url, timeout=0.3, retry=FAST_RETRY)
    with pytest.raises(CflowUnavailableError) as caught:
        await client.approve_request(sandbox.creds("bob"), PURCHASE_ORDER, request_id)
    assert caught.value.may_have_succeeded
    await asyncio.sleep(1.0)
    assert len(sandbox.calls("approveRequest")) == 1
    # It did go through: a caller must re-read before telling anyone anything.
    history = sandbox.state.requests[PURCHASE_ORDER][request_id].history
    assert (history[-1].action, history[-1].by) == ("approved", "bob")


async def test_reads_retry_until_cflow_recovers(cflow: CflowClient, sandbox: Sandbox) -> None:
    sandbox.state.fail_next(2, status=503, operation="listRequests")
    requests = await cflow.list_requests(sandbox.creds("cflow-bot"), EXPENSE)
    assert requests
    assert [c.status for c in sandbox.calls("listRequests")] == [503, 503, 200]


async def test_retry_after_is_honoured(http: aiohttp.ClientSession, sandbox: Sandbox) -> None:
    waits: list[float] = []

    async def observed_sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(seconds)

    client = CflowClient(http, sandbox.url, retry=RetryPolicy(max_delay=2), sleep=observed_sleep)
    sandbox.state.fail_next(1, status=429, operation="getWorkflows", retry_after=0.3)
    assert await client.list_workflows(sandbox.creds("bob"))
    assert waits == [0.3]


async def test_retries_stop_after_the_bounded_attempts(
    cflow: CflowClient, sandbox: Sandbox
) -> None:
    sandbox.state.fail_next(10, status=502, operation="getWorkflows")
    with pytest.raises(CflowServerError):
        await cflow.list_workflows(sandbox.creds("bob"))
    assert len(sandbox.calls("getWorkflows")) == FAST_RETRY.attempts


async def test_idempotent_update_is_retried(cflow: CflowClient, sandbox: Sandbox) -> None:
    draft = sandbox.state.add_request(PURCHASE_ORDER, {"Vendor": "A"}, "dave", status="draft")
    sandbox.state.fail_next(1, status=503, operation="updateRequest")
    updated = await cflow.update_request(
        sandbox.creds("dave"), PURCHASE_ORDER, draft.id, {"Amount": 1}
    )
    assert updated.fields["Amount"] == 1


async def test_create_is_never_retried(cflow: CflowClient, sandbox: Sandbox) -> None:
    sandbox.state.fail_next(1, status=503, operation="createRequest")
    with pytest.raises(CflowServerError):
        await cflow.create_request(sandbox.creds("dave"), EXPENSE, {"Amount": 5})
    assert len(sandbox.calls("createRequest")) == 1


# Credentials and secrets


async def test_each_call_carries_the_given_persons_credentials(
    cflow: CflowClient, sandbox: Sandbox
) -> None:
    await cflow.list_workflows(sandbox.creds("bob"))
    await cflow.list_workflows(sandbox.creds("carol"))
    assert [c.username for c in sandbox.calls("getWorkflows")] == ["bob", "carol"]


async def test_keys_never_reach_the_logs(
    cflow: CflowClient, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.state.fail_next(1, status=503, operation="getWorkflows")
    await cflow.list_workflows(sandbox.creds("bob"))
    with pytest.raises(CflowUnauthorizedError):
        await cflow.list_workflows(sandbox.creds("bob", user_key="wrong-secret"))
    logged = caplog.text
    assert "getWorkflows" in logged
    for secret in ("bob-key", "wrong-secret", sandbox.state.api_key):
        assert secret not in logged


def test_a_listing_parses_even_what_the_fast_parser_refuses() -> None:
    """Integers beyond 64 bits are JSON too: the id stays exact (orjson alone would
    make it a float)."""
    huge = 123456789012345678901234567890
    raw = (
        f'[{{"id": {huge}, "workflowId": "1", "status": "pending"}}, {{"id": "7", "status": "x"}}]'
    )
    found = parse_requests(raw.encode(), keep=lambda record: record["status"] == "pending")
    assert [r.id for r in found] == [str(huge)]
