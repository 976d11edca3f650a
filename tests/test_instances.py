"""Several `cflow-bot serve` processes on one PostgreSQL database.

Real processes, a real database: each card is posted exactly once, a double click on
two instances makes one Cflow call, and when the polling instance is killed another
takes over within two poll intervals.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.fernet import Fernet

from bot.devtools.slack_standin.payloads import block_action, form, sign
from bot.devtools.slack_standin.slack import SlackStandIn
from tests.harness import (
    RATE_SCALE,
    BotProcess,
    Sandbox,
    process_cycles,
    run_cli_async,
    serving,
)

pytestmark = pytest.mark.slow  # every test here takes seconds

SECRET = "multi-instance-secret"
INTERVAL = 0.5
CHANNEL = "C0NOTIFY"


async def leader(instances: list[BotProcess]) -> BotProcess:
    for _ in range(100):
        for instance in instances:
            if (await instance.health())[1].get("polling_here"):
                return instance
        await asyncio.sleep(0.1)
    raise AssertionError("no instance took the poller lease")


def cards_per_request(slack: SlackStandIn, request_ids: set[str]) -> dict[str, int]:
    counts = dict.fromkeys(request_ids, 0)
    for message in slack.messages(CHANNEL):
        header = json.dumps((message.blocks or [])[:1])
        for rid in request_ids:
            if f'#{rid}"' in header:
                counts[rid] += 1
    return counts


async def click(
    instance: BotProcess, http: aiohttp.ClientSession, slack: SlackStandIn, card: Any
) -> None:
    button = next(
        {**element, "block_id": block.get("block_id")}
        for block in card.blocks
        for element in block.get("elements", [])
        if element.get("action_id") == "cflow_approve"
    )
    action = {"action_id": "cflow_approve", "block_id": button["block_id"], "type": "button"}
    payload = block_action(
        "U0BOB",
        action | {"value": button["value"]},
        channel=card.channel,
        message={"ts": card.ts, "text": card.text, "blocks": card.blocks},
        response_url=slack.response_url("U0BOB"),
    )
    body = form(payload)
    async with http.post(
        instance.url + "/slack/events", data=body, headers=sign(body, SECRET)
    ) as r:
        assert r.status == 200


async def link_bob(env: dict[str, str], cwd: Path) -> None:
    code, _, err = await run_cli_async(
        "users", "link", "U0BOB", "bob", env=env, cwd=cwd, stdin=b"bob-key\n"
    )
    assert code == 0, err


async def test_two_instances_share_one_database(
    sandbox: Sandbox, http: aiohttp.ClientSession, postgres_url: str, tmp_path: Path
) -> None:
    async with SlackStandIn(rate_scale=RATE_SCALE) as slack:
        slack.add_user("U0BOB", "bob@example.com", "bob")
        env = {
            "SLACK_RATE_SCALE": str(RATE_SCALE),
            "CFLOW_BURST_LIMIT": "20",  # the ten added at once get a card each
            "CFLOW_BASE_URL": sandbox.url,
            "CFLOW_API_KEY": sandbox.state.api_key,
            "CFLOW_USERNAME": "cflow-bot",
            "CFLOW_USER_KEY": "cflow-bot-key",
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.api_url,
            "CFLOW_NOTIFY_CHANNEL": CHANNEL,
            "CFLOW_POLL_INTERVAL": str(INTERVAL),
            "CFLOW_BOT_SECRET_KEY": Fernet.generate_key().decode(),
        }
        # One instance writes the URL as Heroku does, the other in the libpq spelling.
        heroku_url = postgres_url.replace("postgresql://", "postgres://", 1)
        async with contextlib.AsyncExitStack() as stack:
            serve = stack.enter_async_context
            instances = [
                await serve(serving({**env, "DATABASE_URL": url}, tmp_path, http))
                for url in (heroku_url, postgres_url)
            ]
            for instance in instances:
                await instance.healthy()
            await each_card_once(sandbox, slack, instances)
            await link_bob({**env, "DATABASE_URL": postgres_url}, tmp_path)
            await double_click_makes_one_call(sandbox, slack, http, instances)
            await takeover_after_kill(sandbox, slack, instances)


async def each_card_once(
    sandbox: Sandbox, slack: SlackStandIn, instances: list[BotProcess]
) -> None:
    added = {sandbox.state.add_request("1001", {"Amount": n}, "dave").id for n in range(10)}
    pending = {
        rid
        for rid, request in sandbox.state.requests["1001"].items()
        if request.status == "pending"
    }
    for _ in range(100):
        if all(cards_per_request(slack, added).values()):
            break
        await asyncio.sleep(0.1)
    await process_cycles(3, *instances)  # more cycles, on either instance
    assert cards_per_request(slack, pending) == dict.fromkeys(pending, 1)


async def double_click_makes_one_call(
    sandbox: Sandbox, slack: SlackStandIn, http: aiohttp.ClientSession, instances: list[BotProcess]
) -> None:
    request_id = sandbox.state.add_request("1001", {"Amount": 99}, "dave").id
    for _ in range(100):
        if cards_per_request(slack, {request_id})[request_id]:
            break
        await asyncio.sleep(0.1)
    card = next(
        m for m in slack.messages(CHANNEL) if f'#{request_id}"' in json.dumps((m.blocks or [])[:1])
    )
    sandbox.state.latency = 0.3
    await asyncio.gather(*(click(i, http, slack, card) for i in instances))
    await slack.wait_for("response_url", count=2, timeout=15)
    sandbox.state.latency = 0.0
    assert len(sandbox.calls("approveRequest")) == 1


async def takeover_after_kill(
    sandbox: Sandbox, slack: SlackStandIn, instances: list[BotProcess]
) -> None:
    polling = await leader(instances)
    polling.process.kill()  # SIGKILL: the lease is not given back
    await polling.process.wait()
    killed_at = time.monotonic()
    request_id = sandbox.state.add_request("1001", {"Amount": 7}, "dave").id
    while not cards_per_request(slack, {request_id})[request_id]:
        assert time.monotonic() - killed_at < 10, "nobody took over"
        await asyncio.sleep(0.05)
    took = time.monotonic() - killed_at
    print(f"take-over: the first card after the kill came {took:.2f}s later")
    survivor = next(i for i in instances if i is not polling)
    assert (await survivor.health())[1]["polling_here"]
    # Take-over within two intervals, plus one cycle to list and post.
    assert took < 2 * INTERVAL + 1.5, f"took {took:.2f}s"
