"""Cflow's hook: a signed-by-secret hint makes the bot read a workflow at once.

Through the running bot: real HTTP calls to /cflow/hook, the sandbox's record of Cflow
calls, and the Slack stand-in's messages. The poll interval is long (30 s), so a card
that appears before any further cycle completes came through the hook.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.domain.buckets import TokenBuckets
from bot.inbound.hook import BURST, RATE
from bot.runtime.server import RunningBot
from tests.harness import Bot, Sandbox, mentions, new_expense, running_bot

SECRET = "a-hook-secret-of-at-least-24"
SLOW = {"cflow_poll_interval": 30.0, "cflow_hook_secret": SECRET}


@pytest.fixture
async def bot(sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path) -> AsyncIterator[Bot]:
    async with running_bot(sandbox, http, tmp_path, **SLOW) as running:
        await running.cycles(1)
        yield running


async def hook(
    bot: Bot | RunningBot, path: str = f"/{SECRET}", *, http: aiohttp.ClientSession, **options: Any
) -> tuple[int, dict[str, Any]]:
    base = bot.running.url if isinstance(bot, Bot) else bot.url
    async with http.post(f"{base}/cflow/hook{path}", **options) as response:
        return response.status, await response.json()


async def test_a_hint_publishes_the_new_request_without_waiting_for_a_cycle(bot: Bot) -> None:
    cycles = bot.services.poller_health.cycles
    request_id = new_expense(bot.sandbox, Description="Hooked")
    status, body = await hook(
        bot, http=bot.http, json={"workflowId": "1001", "requestId": request_id}
    )
    assert (status, body) == (202, {"accepted": True})
    await bot.channel_card(request_id)
    assert bot.services.poller_health.cycles == cycles, "no cycle: the hint did it"
    listed = [c for c in bot.sandbox.calls("listRequests") if "/1001/" in c.path + "/"]
    assert listed, "it read the hinted workflow"


async def test_the_secret_may_come_in_a_header_and_the_hint_as_a_form(bot: Bot) -> None:
    request_id = new_expense(bot.sandbox, Description="By header")
    status, _ = await hook(
        bot,
        "",
        http=bot.http,
        data={"workflow_id": "1001", "id": request_id},
        headers={"X-Cflow-Hook-Secret": SECRET},
    )
    assert status == 202
    await bot.channel_card(request_id)
    bearer = {"Authorization": f"Bearer {SECRET}"}
    assert (await hook(bot, "", http=bot.http, json={}, headers=bearer))[0] == 202


async def test_forged_or_malformed_calls_make_no_cflow_call(bot: Bot) -> None:
    before = len(bot.sandbox.calls())
    forged = [
        await hook(bot, "/not-the-secret", http=bot.http, json={"workflowId": "1001"}),
        await hook(bot, "", http=bot.http, json={"workflowId": "1001"}),
        await hook(bot, "", http=bot.http, headers={"X-Cflow-Hook-Secret": SECRET[:-1] + "x"}),
    ]
    assert [status for status, _ in forged] == [401, 401, 401]
    broken = await hook(
        bot, http=bot.http, data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken[0] == 400
    assert len(bot.sandbox.calls()) == before, "refused calls read nothing"
    request_id = new_expense(bot.sandbox, Description="The one real hint")
    assert (await hook(bot, http=bot.http, json={"workflowId": "1001"}))[0] == 202
    await bot.channel_card(request_id)
    read = [c.operation for c in bot.sandbox.calls()[before:]]
    assert read.count("listRequests") == 1, read


def refilled_by_nothing(bot: Bot) -> None:
    """The hook's limits as they are, on a clock that stands still: a flood is then a flood
    however slowly a busy machine sends it (at RATE a second, a refill would let a slow
    one through). What these tests show is whose bucket a call draws from."""
    bot.services.hook_limits = TokenBuckets(RATE, BURST, clock=lambda: 0.0)


async def test_a_flood_from_one_source_is_limited(bot: Bot) -> None:
    refilled_by_nothing(bot)
    statuses = [(await hook(bot, http=bot.http, json={"workflowId": "1001"}))[0] for _ in range(40)]
    assert statuses[:20] == [202] * 20 and 429 in statuses


async def flood(bot: Bot, count: int, forwarded_for: Callable[[int], str]) -> list[int]:
    """`count` hints at once, the n-th with `X-Forwarded-For: forwarded_for(n)`."""

    async def one(n: int) -> int:
        headers = {"X-Forwarded-For": forwarded_for(n)}
        return (await hook(bot, http=bot.http, json={"workflowId": "1001"}, headers=headers))[0]

    return list(await asyncio.gather(*(one(n) for n in range(count))))


async def test_sources_behind_a_trusted_proxy_are_limited_each_on_its_own(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    proxies = "10.9.8.7, 127.0.0.0/8"  # the bot's callers here come from 127.0.0.1
    async with running_bot(sandbox, http, tmp_path, **SLOW, cflow_trusted_proxies=proxies) as bot:
        refilled_by_nothing(bot)
        first = await flood(bot, 2 * BURST, lambda n: "203.0.113.1")
        # Whatever a caller writes left of the address the proxy saw is not its source.
        spoofed = await flood(bot, 10, lambda n: f"198.51.100.{n}, 203.0.113.1")
        # Behind two trusted proxies: the right-most address that is not one of them.
        second = await flood(bot, 2 * BURST, lambda n: f"192.0.2.{n}, 203.0.113.2, 10.9.8.7")
    assert 429 in first and 429 in spoofed
    assert second.count(202) >= BURST, "another source, another bucket"


async def test_an_untrusted_peer_cannot_pick_its_bucket_by_x_forwarded_for(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with running_bot(
        sandbox, http, tmp_path, **SLOW, cflow_trusted_proxies="10.0.0.0/8"
    ) as bot:
        refilled_by_nothing(bot)
        statuses = await flood(bot, 3 * BURST, lambda n: f"203.0.113.{n}")
    assert 429 in statuses and statuses.count(202) < 2 * BURST, statuses


async def test_a_hint_without_a_known_workflow_runs_a_cycle(bot: Bot) -> None:
    cycles = bot.services.poller_health.cycles
    request_id = new_expense(bot.sandbox, Description="Any workflow")
    assert (await hook(bot, http=bot.http, data=b"ping"))[0] == 202
    await bot.channel_card(request_id)
    assert bot.services.poller_health.cycles == cycles + 1


async def test_the_hook_is_off_without_its_secret(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with running_bot(sandbox, http, tmp_path) as bot:
        assert (await hook(bot, "/anything", http=http, json={}))[0] == 404


async def test_a_hint_received_by_another_instance_reaches_the_poller(bot: Bot) -> None:
    async with RunningBot(bot.running.settings, host="127.0.0.1", port=0, poll=False) as other:
        cycles = bot.services.poller_health.cycles
        request_id = new_expense(bot.sandbox, Description="Via the other instance")
        status, _ = await hook(other, http=bot.http, json={"workflowId": "1001"})
        assert status == 202
        card = await bot.channel_card(request_id)
        assert mentions({"blocks": card.blocks}, request_id)
        assert bot.services.poller_health.cycles == cycles


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.02)


async def test_hints_start_at_most_one_whole_cycle_an_interval(bot: Bot) -> None:
    health, listed = bot.services.poller_health, len(bot.sandbox.calls("getWorkflows"))
    cycles = health.cycles
    for n in range(5):
        assert (await hook(bot, http=bot.http, json={"workflowId": f"9{n}"}))[0] == 202
        assert (await hook(bot, http=bot.http, data=b"ping"))[0] == 202
    await until(lambda: health.cycles > cycles)  # the one cycle hints may start
    for n in range(5):
        assert (await hook(bot, http=bot.http, json={"workflowId": f"8{n}"}))[0] == 202
    request_id = new_expense(bot.sandbox, Description="A known workflow, read at once")
    assert (await hook(bot, http=bot.http, json={"workflowId": "1001"}))[0] == 202
    await bot.channel_card(request_id)  # the hints before it have been taken by now
    assert health.cycles == cycles + 1
    assert len(bot.sandbox.calls("getWorkflows")) == listed + 1
