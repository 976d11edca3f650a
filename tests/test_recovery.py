"""Recovery in seconds: what a stopped instance left is taken over at once, and a card
whose post may have reached Slack never keeps live buttons once its request moved on.

Real processes where a process must die (`cflow-bot serve`, SIGKILL), the running app
in-process otherwise; the Slack stand-in loses answers after the call took effect.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp
import pytest

from bot.blocks.ids import Action
from bot.devtools.slack_standin.payloads import sign, slash_command
from bot.devtools.slack_standin.slack import SlackStandIn
from bot.runtime.server import RunningBot
from tests.harness import (
    RATE_SCALE,
    SECRET,
    Bot,
    Sandbox,
    has_button,
    mentions,
    new_expense,
    process_cycles,
    running_bot,
    serving,
)
from tests.test_cli import bot_env

pytestmark = pytest.mark.slow  # every test here takes seconds

INTERVAL = 2.0


def dm_of(bot: Bot, user: str, request_id: str) -> list:
    return [
        m
        for m in bot.slack.messages(bot.slack.dm_channel(user))
        if mentions({"blocks": m.blocks}, request_id)
    ]


async def test_a_dm_whose_answer_was_lost_loses_its_buttons_once_decided(bot: Bot) -> None:
    await bot.link("U0BOB")
    await bot.cycles(2)  # the demo's DMs are out: the next one to bob is this request's
    bob = bot.slack.dm_channel("U0BOB")
    bot.slack.lose_answer_of_next(
        "chat.postMessage",
        where=lambda call: (
            call.params.get("channel") in ("U0BOB", bob)
            and "Answer lost" in json.dumps(call.params)
        ),
    )
    request_id = new_expense(bot.sandbox, Description="Answer lost")
    await bot.channel_card(request_id)
    await bot.slack.wait_for(
        "chat.postMessage",
        predicate=lambda c: (
            c.params.get("channel") in ("U0BOB", bob) and mentions(c.params, request_id)
        ),
    )
    [dm] = dm_of(bot, "U0BOB", request_id)
    assert has_button(dm, Action.APPROVE), "it reached Slack; the bot does not know"
    bot.sandbox.state.approve("1001", request_id, "bob", "done in the web app")
    await bot.slack.wait_for(
        "chat.update",
        predicate=lambda c: c.params.get("ts") == dm.ts and not c.failed,
        timeout=30,
    )
    await bot.cycles(2)
    [dm] = dm_of(bot, "U0BOB", request_id)
    assert not has_button(dm, Action.APPROVE), "found in Slack and brought in line"
    cards = (await bot.services.store.cards_for([("1001", request_id)]))[("1001", request_id)]
    assert all(c.ts for c in cards if c.kind == "dm"), "adopted, not left in flight"


async def test_after_a_sigkill_every_request_is_carded_within_two_intervals_once(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    waiting = [new_expense(sandbox, Description=f"Before the kill {n}") for n in range(8)]
    async with SlackStandIn(latency=0.2, rate_scale=RATE_SCALE) as slack:
        env = bot_env(sandbox, slack, tmp_path, CFLOW_POLL_INTERVAL=str(INTERVAL))
        env |= {"CFLOW_BURST_LIMIT": "100", "SLACK_SIGNING_SECRET": "recovery-secret"}
        async with serving(env, tmp_path, http) as first:
            await slack.wait_for("chat.postMessage", count=3, timeout=30)
            first.process.kill()  # SIGKILL mid-delivery: no clean-up of any kind
            await first.process.wait()
        posted = {rid for rid in waiting if channel_cards(slack, rid)}
        assert len(posted) < len(waiting), "killed before every card was out"
        slack.set_latency(0.0)
        async with serving(env, tmp_path, http) as second:
            await second.healthy(timeout=30)
            restarted = time.monotonic()
            while not all(channel_cards(slack, rid) for rid in waiting):
                assert time.monotonic() - restarted < 2 * INTERVAL, "not within two intervals"
                await asyncio.sleep(0.05)  # waiting for it to happen, against a deadline
            await process_cycles(2, second)
        counts = {rid: len(channel_cards(slack, rid)) for rid in waiting}
    assert counts == {rid: 1 for rid in waiting}, "each once"


def channel_cards(slack: SlackStandIn, request_id: str) -> list:
    return [
        m
        for m in slack.messages("C0NOTIFY")
        if not m.thread_ts and f"#{request_id}" in json.dumps(m.blocks)
    ]


async def test_a_decision_on_one_instance_stops_what_another_has_queued(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path, postgres_url: str
) -> None:
    async with (
        running_bot(sandbox, http, tmp_path, database_url=postgres_url, linked=("U0BOB",)) as bot,
        RunningBot(bot.running.settings, host="127.0.0.1", port=0, poll=False) as other,
    ):
        await bot.cycles(2)
        bot.slack.fail_next("chat.postMessage", "ratelimited", retry_after=3)
        request_id = new_expense(bot.sandbox, Description="Queued on the poller")
        await bot.slack.wait_for("chat.postMessage", predicate=lambda c: c.error == "ratelimited")
        typed = slash_command(
            "U0BOB", f"approve 1001/{request_id}", response_url=bot.slack.response_url("U0BOB")
        )
        async with http.post(
            other.url + "/slack/events", data=typed, headers=sign(typed, SECRET)
        ) as answer:
            assert answer.status == 200
        await bot.slack.wait_for(
            "response_url", predicate=lambda c: "Approved" in json.dumps(c.params)
        )
        decided = len(bot.slack.calls())
        await bot.services.publisher.delivered()  # the poller's queue, after its 429
        late = [
            c
            for c in bot.slack.calls()[decided:]
            if c.method == "chat.postMessage"
            and not c.failed
            and mentions(c.params, request_id)
            and Action.APPROVE in json.dumps(c.params)
        ]
    assert late == [], "nothing with live buttons after the decision, from either instance"
