"""Two instances, one workspace: how many Slack calls are answered 429.

Two `cflow-bot serve` processes on one PostgreSQL database, one Slack stand-in (one
workspace: its limits count the calls of both) and the sandbox in its own process. Each
instance gets half of the Approve clicks on a channel of cards, all at once: the busy
edits and the results (`chat.update`, Tier 3), the thread lines (one channel) and the
submitter's outcomes are more than Slack allows, for either instance alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import aiohttp
from cryptography.fernet import Fernet

from bot.devtools.slack_standin.payloads import sign, slash_command
from bot.devtools.slack_standin.slack import SlackStandIn, StoredMessage
from bot.outbound.limits import TIER_3
from tests.benchmarks.bench_clicks import approve_click, approve_value, decided
from tests.benchmarks.harness import report, sandbox_process
from tests.harness import BotProcess, run_cli_async, serving

CARDS = int(os.environ.get("BENCH_SHARED_CARDS", "100"))
SECRET = "bench-secret"
CHANNEL = "C0BENCH"
RATE_SCALE = 20  # Slack's limits 20 times faster on both sides: 200 edits in 12 s, not 4 min
TRIPS = "cflow_bot_slack_pace_reservations_total"


async def metric(http: aiohttp.ClientSession, instance: BotProcess, name: str) -> float:
    """The sum of a metric's samples on one instance's /metrics (0 when it has none)."""
    async with http.get(instance.url + "/metrics") as response:
        text = await response.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


async def test_two_instances_clicked_at_once(
    http: aiohttp.ClientSession, tmp_path: Path, postgres_url: str
) -> None:
    async with sandbox_process(http) as sandbox, SlackStandIn(rate_scale=RATE_SCALE) as slack:
        slack.add_user("U0BOB", "bob@example.com", "bob")
        populated = await sandbox.control(
            "POST", "populate", workflows=1, requestsPerWorkflow=CARDS, reviewer="bob"
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
            "CFLOW_BURST_LIMIT": str(CARDS * 2),  # a card each, to click on
            "SLACK_RATE_SCALE": str(RATE_SCALE),
            "DATABASE_URL": postgres_url,
            "CFLOW_BOT_SECRET_KEY": Fernet.generate_key().decode(),
        }
        code, _, err = await run_cli_async(
            "users", "link", "U0BOB", "bob", env=env, cwd=tmp_path, stdin=b"bob-key\n"
        )
        assert code == 0, err
        async with contextlib.AsyncExitStack() as stack:
            logs = [stack.enter_context((tmp_path / f"bot{n}.log").open("w")) for n in range(2)]
            instances = [
                await stack.enter_async_context(serving(env, tmp_path, http, stderr=log))
                for log in logs
            ]
            for instance in instances:
                await instance.healthy()
                await warm_up(http, slack, instance)
            cards = await channel_cards(slack, populated["workflowIds"][0])
            slack.clear()
            figures = await click_on_both(http, slack, cards, instances)
    report(f"two instances, {CARDS} Approve clicks at once, Slack x{RATE_SCALE}", figures)


async def warm_up(http: aiohttp.ClientSession, slack: SlackStandIn, instance: BotProcess) -> None:
    """Bolt checks the bot token (auth.test) on an instance's first request only, and with
    a client of its own, outside the pacing: not what is measured here."""
    body = slash_command("U0BOB", "help", response_url=slack.response_url("warm-up"))
    async with http.post(
        instance.url + "/slack/events", data=body, headers=sign(body, SECRET)
    ) as response:
        assert response.status == 200


async def channel_cards(slack: SlackStandIn, workflow_id: str) -> list[StoredMessage]:
    """The benchmark workflow's channel cards, once all are posted."""
    for _ in range(600):
        cards = [
            m
            for m in slack.messages(CHANNEL)
            if not m.thread_ts
            and (approve_value(m.blocks) or "").startswith(f'{{"w":"{workflow_id}"')
        ]
        if len(cards) >= CARDS:
            return cards
        await asyncio.sleep(0.1)
    raise AssertionError("the cards were never all posted")


async def click_on_both(
    http: aiohttp.ClientSession,
    slack: SlackStandIn,
    cards: list[StoredMessage],
    instances: list[BotProcess],
) -> dict[str, object]:
    clicked = {(card.channel, card.ts): approve_value(card.blocks) for card in cards[:CARDS]}
    trips_before = [
        await metric(http, i, "cflow_bot_slack_pace_reservations_total") for i in instances
    ]
    started = time.monotonic()

    async def click(n: int, body: str) -> None:
        url = instances[n % 2].url + "/slack/events"
        async with http.post(url, data=body, headers=sign(body, SECRET)) as response:
            assert response.status == 200

    bodies = [approve_click(card, slack) for card in cards[:CARDS]]
    await asyncio.gather(*(click(n, body) for n, body in enumerate(bodies)))
    while decided(slack, clicked) < CARDS:
        assert time.monotonic() - started < 300, f"{decided(slack, clicked)} of {CARDS} done"
        await asyncio.sleep(0.1)
    took = time.monotonic() - started
    calls = [c for c in slack.calls() if c.method != "response_url"]
    limited = [c for c in calls if c.error == "ratelimited"]
    updates = [c for c in calls if c.method == "chat.update" and not c.failed]
    trips = sum([await metric(http, i, TRIPS) for i in instances]) - sum(trips_before)
    floor = TIER_3.floor_seconds(len(updates)) / RATE_SCALE
    return {
        "Slack calls": len(calls),
        "answered 429": len(limited),
        "answered 429, %": 100 * len(limited) / len(calls),
        "chat.update done": len(updates),
        "every card updated after, s": took,
        "floor for the chat.update alone, s": floor,
        "store round trips of the shared pace": int(trips),
        "store round trips per Slack call": trips / len(calls),
    }
