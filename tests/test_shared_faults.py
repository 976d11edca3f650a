"""Both stand-ins fail and log calls through one mechanism (bot/devtools/faults.py):
failures queued for a method, taken in order, and a log of what was called, with what,
and when; shown over real HTTP against each stand-in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.devtools.cflow_standin.seed import demo_state
from bot.devtools.cflow_standin.server import start_sandbox
from bot.devtools.cflow_standin.state import SandboxState
from bot.devtools.faults import CallLog, FaultQueue
from bot.devtools.slack_standin.slack import SlackStandIn

TOKEN = "xoxb-test-token"
CFLOW_API = "/integromat/api/cflow"
BOB = {"apikey": "sandbox-api-key", "username": "bob", "userkey": "bob-key"}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    async with SlackStandIn(TOKEN, rate_limits=False) as server:
        yield server


@pytest.fixture
async def cflow() -> AsyncIterator[tuple[SandboxState, str]]:
    state = demo_state()
    runner, url = await start_sandbox(state)
    try:
        yield state, url
    finally:
        await runner.cleanup()


async def post_to_slack(
    http: aiohttp.ClientSession, slack: SlackStandIn, method: str, **params: str
) -> tuple[int, str | None, dict]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with http.post(slack.api_url + method, json=params, headers=headers) as response:
        return response.status, response.headers.get("Retry-After"), await response.json()


async def get_from_cflow(http: aiohttp.ClientSession, url: str) -> tuple[int, str | None]:
    async with http.get(url, headers=BOB) as response:
        await response.read()
        return response.status, response.headers.get("Retry-After")


def test_both_stand_ins_hold_the_shared_queue_and_log() -> None:
    slack, cflow = SlackStandIn(), SandboxState()
    assert isinstance(slack.failures.errors, FaultQueue)
    assert isinstance(slack.failures.drops, FaultQueue)
    assert isinstance(slack.failures.lost_answers, FaultQueue)
    assert isinstance(cflow.failures, FaultQueue)
    assert isinstance(slack.log, CallLog)
    assert isinstance(cflow.calls, CallLog)


async def test_slack_takes_queued_failures_in_order_and_logs_every_call(
    http: aiohttp.ClientSession, slack: SlackStandIn
) -> None:
    slack.fail_next("chat.postMessage", "ratelimited", count=2, retry_after=3)
    slack.fail_next("chat.postMessage", "channel_not_found")
    assert slack.failures.errors.pending("chat.postMessage") == 3
    assert slack.failures.errors.pending("chat.update") == 0

    answers = [
        await post_to_slack(http, slack, "chat.postMessage", channel="C1", text=f"try {n}")
        for n in range(4)
    ]

    assert [(status, retry) for status, retry, _ in answers] == [
        (429, "3"),
        (429, "3"),
        (200, None),
        (200, None),
    ]
    assert [body.get("error") for _, _, body in answers] == [
        "ratelimited",
        "ratelimited",
        "channel_not_found",
        None,
    ]
    assert len(slack.failures.errors) == 0
    logged = slack.log.of("chat.postMessage")
    assert logged == slack.calls("chat.postMessage")
    assert [call.params["text"] for call in logged] == ["try 0", "try 1", "try 2", "try 3"]
    assert [call.failed for call in logged] == [True, True, True, False]
    assert [call.time for call in logged] == sorted(call.time for call in logged)


async def test_slack_failures_pick_their_calls_and_other_methods_go_through(
    http: aiohttp.ClientSession, slack: SlackStandIn
) -> None:
    slack.fail_next("chat.postMessage", "is_archived", where=lambda c: c.params["channel"] == "C2")

    to_c1 = await post_to_slack(http, slack, "chat.postMessage", channel="C1", text="a")
    auth = await post_to_slack(http, slack, "auth.test")
    to_c2 = await post_to_slack(http, slack, "chat.postMessage", channel="C2", text="b")

    assert (to_c1[2]["ok"], auth[2]["ok"], to_c2[2]["error"]) == (True, True, "is_archived")
    assert [call.name for call in slack.log] == [
        "chat.postMessage",
        "auth.test",
        "chat.postMessage",
    ]


async def test_cflow_takes_queued_failures_in_order_and_logs_every_call(
    http: aiohttp.ClientSession, cflow: tuple[SandboxState, str]
) -> None:
    state, url = cflow
    state.fail_next(2, status=503, operation="getWorkflows", retry_after=2)
    state.fail_next(1, status=500, operation="getWorkflows")
    assert state.failures.pending("getWorkflows") == 3

    answers = [await get_from_cflow(http, url + CFLOW_API + "/getworkflows") for _ in range(4)]

    assert answers == [(503, "2"), (503, "2"), (500, None), (200, None)]
    assert len(state.failures) == 0
    logged = state.calls.of("getWorkflows")
    assert [(call.status, call.username, call.method) for call in logged] == [
        (503, "bob", "GET"),
        (503, "bob", "GET"),
        (500, "bob", "GET"),
        (200, "bob", "GET"),
    ]
    assert [call.time for call in logged] == sorted(call.time for call in logged)


async def test_cflow_failures_pick_their_workflow_and_other_calls_go_through(
    http: aiohttp.ClientSession, cflow: tuple[SandboxState, str]
) -> None:
    state, url = cflow
    first, second = list(state.workflows)[:2]
    state.fail_next(1, status=502, operation="getWorkflow", workflow_id=second)

    other = await get_from_cflow(http, f"{url}{CFLOW_API}/workflows/{first}")
    picked = await get_from_cflow(http, f"{url}{CFLOW_API}/workflows/{second}")
    again = await get_from_cflow(http, f"{url}{CFLOW_API}/workflows/{second}")

    assert (other, picked, again) == ((200, None), (502, None), (200, None))
    assert [call.status for call in state.calls.of("getWorkflow")] == [200, 502, 200]


async def test_either_log_waits_for_a_call_still_on_its_way(
    http: aiohttp.ClientSession, slack: SlackStandIn, cflow: tuple[SandboxState, str]
) -> None:
    state, url = cflow

    async def later() -> None:
        await asyncio.sleep(0.05)
        await post_to_slack(http, slack, "auth.test")
        await get_from_cflow(http, url + CFLOW_API + "/getworkflows")

    calling = asyncio.create_task(later())
    [slack_call] = await slack.log.wait_for("auth.test", timeout=5)
    [cflow_call] = await state.calls.wait_for("getWorkflows", timeout=5)
    await calling
    assert (slack_call.name, cflow_call.name) == ("auth.test", "getWorkflows")
    with pytest.raises(AssertionError, match="waiting for 1 listUsers call"):
        await state.calls.wait_for("listUsers", timeout=0.05)


def test_a_fault_for_any_name_answers_the_next_call_whatever_it_is() -> None:
    queue: FaultQueue[str] = FaultQueue()
    queue.add("b", "for b")
    queue.add(None, "for anyone", count=2)
    queue.add("a", "for a, if odd", where=lambda n: n % 2 == 1)

    assert queue.take("a", 2) == "for anyone"
    assert queue.take("b", 0) == "for b"
    assert queue.take("c", 0) == "for anyone"
    assert queue.take("a", 2) is None  # what is left only takes odd calls of "a"
    assert queue.take("a", 3) == "for a, if odd"
    assert len(queue) == 0

    queue.add("a", "never fired", count=3)
    queue.clear()
    assert queue.take("a") is None
