"""200 simultaneous clicks against a slow Cflow: acknowledgement latency, time to done.

The bot runs as `cflow-bot serve` in its own process, as in production; the clicks are
signed HTTP requests; Cflow (the sandbox, in another process) takes 2 s per call.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.fernet import Fernet

from bot.devtools.slack_standin.payloads import block_action, form, sign, slash_command
from bot.devtools.slack_standin.slack import SlackStandIn, StoredMessage
from tests.benchmarks.harness import percentile, report, sandbox_process
from tests.harness import run_cli_async, serving

CLICKS = int(os.environ.get("BENCH_CLICKS", "200"))
CFLOW_LATENCY = 2.0
SECRET = "bench-secret"
CHANNEL = "C0BENCH"
# Slack's limits, 20 times faster on both sides: at 1x the 200 cards alone would take
# 200 s to post (one a second in a channel) and their 600 edits 12 minutes (Tier 3).
RATE_SCALE = 20


def approve_click(card: StoredMessage, slack: SlackStandIn) -> str:
    button = next(
        {**element, "block_id": block.get("block_id")}
        for block in card.blocks or []
        for element in block.get("elements", [])
        if element.get("action_id") == "cflow_approve"
    )
    action = {"action_id": "cflow_approve", "block_id": button["block_id"], "type": "button"}
    return form(
        block_action(
            "U0BOB",
            action | {"value": button["value"]},
            channel=card.channel,
            message={"ts": card.ts, "text": card.text, "blocks": card.blocks},
            response_url=slack.response_url("U0BOB"),
        )
    )


async def timed_post(http: aiohttp.ClientSession, url: str, body: str) -> float:
    started = time.monotonic()
    async with http.post(url, data=body, headers=sign(body, SECRET)) as response:
        await response.read()
        assert response.status == 200
    return time.monotonic() - started


def approve_value(blocks: Any) -> str | None:
    for block in blocks or []:
        for element in block.get("elements", []):
            if element.get("action_id") == "cflow_approve":
                return element.get("value")
    return None


def decided(slack: SlackStandIn, clicked: dict[tuple[str, str], str | None]) -> int:
    """Cards showing the approval's result: not busy, and at another stage than clicked."""
    done = 0
    for (channel, ts), value in clicked.items():
        message = slack.message(channel, ts)
        if message is None or "cflow_busy" in json.dumps(message.blocks):
            continue
        done += approve_value(message.blocks) != value
    return done


async def test_200_simultaneous_clicks(http: aiohttp.ClientSession, tmp_path: Path) -> None:
    async with sandbox_process(http) as sandbox, SlackStandIn(rate_scale=RATE_SCALE) as slack:
        slack.add_user("U0BOB", "bob@example.com", "bob")
        populated = await sandbox.control(
            "POST", "populate", workflows=1, requestsPerWorkflow=CLICKS, reviewer="bob"
        )
        env = {
            "CFLOW_BASE_URL": sandbox.url,
            "CFLOW_API_KEY": "sandbox-api-key",
            "CFLOW_USERNAME": "cflow-bot",
            "CFLOW_USER_KEY": "cflow-bot-key",
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.api_url,
            "CFLOW_NOTIFY_CHANNEL": CHANNEL,
            "CFLOW_POLL_INTERVAL": "1",
            "CFLOW_BURST_LIMIT": str(CLICKS * 2),  # a card each, to click on
            "SLACK_RATE_SCALE": str(RATE_SCALE),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'bench.db'}",
            "CFLOW_BOT_SECRET_KEY": Fernet.generate_key().decode(),
        }
        code, _, err = await run_cli_async(
            "users", "link", "U0BOB", "bob", env=env, cwd=tmp_path, stdin=b"bob-key\n"
        )
        assert code == 0, err
        log_file = (tmp_path / "bot.log").open("w")  # the bot's log, kept to read afterwards
        async with serving(env, tmp_path, http, stderr=log_file) as bot:
            await bot.healthy()
            cards = await all_cards(slack, populated["workflowIds"][0])
            await sandbox.control("POST", "config", latency=CFLOW_LATENCY)
            figures = await click_all(http, slack, cards, bot.url + "/slack/events")
    report(
        f"{CLICKS} simultaneous Approve clicks, Cflow at {CFLOW_LATENCY:g} s per call",
        figures,
    )


async def all_cards(slack: SlackStandIn, workflow_id: str) -> list[StoredMessage]:
    """The channel cards of the benchmark's workflow (not the demo data's)."""
    marker = json.dumps({"w": workflow_id}, separators=(",", ":"))[:-1]
    for _ in range(600):
        cards = [
            m
            for m in slack.messages(CHANNEL)
            if not m.thread_ts and (approve_value(m.blocks) or "").startswith(marker)
        ]
        if len(cards) >= CLICKS:
            return cards
        await asyncio.sleep(0.1)
    raise AssertionError("the cards were never all posted")


async def click_all(
    http: aiohttp.ClientSession, slack: SlackStandIn, cards: list[StoredMessage], url: str
) -> dict[str, Any]:
    # Bolt checks the bot token (auth.test) on the first request after a start only.
    warm_up = slash_command("U0BOB", "help", response_url=slack.response_url("warm-up"))
    await timed_post(http, url, warm_up)
    bodies = [approve_click(card, slack) for card in cards[:CLICKS]]
    clicked = {(card.channel, card.ts): approve_value(card.blocks) for card in cards[:CLICKS]}
    started = time.monotonic()
    acks = await asyncio.gather(*(timed_post(http, url, body) for body in bodies))
    while decided(slack, clicked) < CLICKS:
        waited = time.monotonic() - started
        assert waited < 300, f"{decided(slack, clicked)} of {CLICKS} cards updated in {waited:.0f}s"
        await asyncio.sleep(0.1)
    return {
        "acknowledgement p50, ms": percentile(acks, 0.5) * 1000,
        "acknowledgement p99, ms (target < 250)": percentile(acks, 0.99) * 1000,
        "acknowledgement max, ms": max(acks) * 1000,
        "every card updated after, s": time.monotonic() - started,
    }
