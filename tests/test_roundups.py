"""Slack's real limits: pacing, publishing off the poll cycle, and a burst in one roundup.

The fake Slack enforces Slack's published limits here as everywhere (429 with
Retry-After beyond them); these tests show that the bot stays within them, that a
cycle never waits for Slack, that a newer state replaces queued work, and that a
backlog becomes one summary per channel and one grouped DM per reviewer.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.ids import Action
from bot.blocks.roundup_items import RoundupItem
from bot.devtools.slack_standin.slack import SlackCall, SlackStandIn, StoredMessage
from bot.outbound.pacing import URGENCY, PacedWebClient, Pacer, Rank, Urgency
from bot.store.records import LEGACY_ROUNDUP, ROUNDUP, Card, RoundupMember
from bot.sync.delivery import CARD_EVENT
from bot.sync.results import Result
from bot.telemetry.metrics import Metrics
from tests.factories import make_request, make_workflow
from tests.harness import (
    CHANNEL,
    Bot,
    Sandbox,
    button,
    cycles_of,
    has_button,
    mentions,
    new_expense,
    running_bot,
)

BACKLOG = 12
BURST_LIMIT = 5
# The default burst limit, which the harness raises, at Slack's real rates: more new
# requests at once than that become a roundup (one summary, one grouped DM each)
ROUNDUPS: dict[str, Any] = {"cflow_burst_limit": BURST_LIMIT, "rate_scale": 1.0}


def kind_of(call: SlackCall) -> str | None:
    return ((call.params.get("metadata") or {}).get("event_payload") or {}).get("kind")


def rate_limited(slack: SlackStandIn) -> list[SlackCall]:
    return [call for call in slack.calls() if call.error == "ratelimited"]


def channel_posts(slack: SlackStandIn) -> list[SlackCall]:
    return [
        call
        for call in slack.calls("chat.postMessage")
        if not call.failed
        and call.response
        and call.response.get("channel") == CHANNEL
        and "thread_ts" not in call.params
    ]


async def posted(slack: SlackStandIn, kind: str, **where: str) -> StoredMessage:
    """The message of this kind the bot posted (waiting for it), as it is now."""
    calls = await slack.wait_for(
        "chat.postMessage",
        predicate=lambda c: (
            kind_of(c) == kind and all(c.params.get(k) == v for k, v in where.items())
        ),
        timeout=30,
    )
    found = slack.message(calls[0].response["channel"], calls[0].response["ts"])
    assert found is not None
    return found


async def until(check: Any, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    """Wait until `check()` holds (what the bot does next is asynchronous)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "it never came to pass"
        await asyncio.sleep(0.05)


def backlog(sandbox: Sandbox, count: int = BACKLOG) -> list[str]:
    return [new_expense(sandbox, Description=f"Backlog item {n}") for n in range(count)]


async def test_a_backlog_at_first_start_is_one_summary_and_one_grouped_dm(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    waiting = backlog(sandbox)
    async with running_bot(sandbox, http, tmp_path, linked=("U0BOB",), **ROUNDUPS) as bot:
        summary = await posted(bot.slack, "roundup", channel=CHANNEL)
        dm = await posted(bot.slack, "roundup_dm")
        await bot.cycles(3)
        assert len(channel_posts(bot.slack)) == 1, "one summary, not a card per request"
        text = json.dumps(summary.blocks)
        assert "new requests" in text and "bob" in text
        assert has_button(summary, Action.ROUNDUP_LIST)
        # bob's one DM lists them with Approve per item; nothing else was DMed to him
        assert all(f"#{rid}" in json.dumps(dm.blocks) for rid in waiting[:5])
        assert sum(1 for b in dm.blocks if b.get("type") == "actions") > 5
        to_bob = [
            c
            for c in bot.slack.calls("chat.postMessage")
            if c.response and c.response.get("channel") == dm.channel and not c.failed
        ]
        assert len(to_bob) == 1
        assert rate_limited(bot.slack) == [], "paced, not steered by 429s"
        async with bot.http.get(bot.running.url + "/metrics") as response:
            metrics = await response.text()
        assert 'cflow_bot_slack_wait_seconds_count{rank="REVIEWER_DM"}' in metrics
        assert "cflow_bot_slack_queue_depth" in metrics and "cflow_bot_outbox_depth" in metrics


async def test_a_roundup_stays_current_and_every_member_stays_decidable(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    waiting = backlog(sandbox)
    async with running_bot(sandbox, http, tmp_path, linked=("U0BOB",), **ROUNDUPS) as bot:
        summary = await posted(bot.slack, "roundup", channel=CHANNEL)
        dm = await posted(bot.slack, "roundup_dm")
        total = int((summary.text or "").split(" new requests")[0].split()[-1])

        def summary_says(text: str) -> bool:
            shown = bot.slack.message(CHANNEL, summary.ts)
            return shown is not None and text in (shown.text or "")

        # decided in Cflow: the summary counts it, the submitter is told
        sandbox.state.approve("1001", waiting[0], "bob", "ok")
        await until(lambda: summary_says(f"{total - 1} of {total} still waiting"))
        await bot.slack.wait_for(
            "chat.postMessage",
            predicate=lambda c: kind_of(c) == "outcome" and mentions(c.params, waiting[0]),
        )
        # approved from the grouped DM, as bob, with the card's own decision path
        current = bot.slack.message(dm.channel, dm.ts)
        assert current is not None
        item = f"cflow_burst_item:{waiting[1]}"
        await bot.click("U0BOB", current, Action.APPROVE, block_id=item)
        await until(lambda: sandbox.state.get_request("1001", waiting[1]).status != "pending")
        assert sandbox.state.get_request("1001", waiting[1]).status == "approved"
        await until(lambda: summary_says(f"{total - 2} of {total} still waiting"))

        def decided_item_lost_its_buttons() -> bool:
            shown = bot.slack.message(dm.channel, dm.ts)
            blocks = shown.blocks if shown else []
            ids = [b.get("block_id", "") for b in blocks if b.get("type") == "actions"]
            return not any(waiting[1] in i or waiting[0] in i for i in ids) and len(ids) > 3

        await until(decided_item_lost_its_buttons)
        assert rate_limited(bot.slack) == []


async def test_see_them_all_answers_privately_with_the_roundups_requests(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    waiting = backlog(sandbox)
    async with running_bot(sandbox, http, tmp_path, **ROUNDUPS) as bot:
        summary = await posted(bot.slack, "roundup", channel=CHANNEL)
        await bot.click("U0CAROL", summary, Action.ROUNDUP_LIST)
        answer = await bot.slack.wait_for("response_url")
        shown = json.dumps(answer[0].params)
        assert all(f"#{rid}" in shown for rid in waiting[:5])
        assert answer[0].params.get("response_type") == "ephemeral"
        assert not answer[0].params.get("replace_original"), "the summary stays for everyone"


@pytest.mark.slow
async def test_requests_that_arrive_one_by_one_keep_their_own_cards(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    backlog(sandbox, 3)  # with the demo's five pending: a burst at first start
    async with running_bot(sandbox, http, tmp_path, **ROUNDUPS) as bot:
        await posted(bot.slack, "roundup", channel=CHANNEL)
        for _ in range(BURST_LIMIT + 1):
            request_id = new_expense(bot.sandbox)
            card = await bot.channel_card(request_id)
            assert button(card, Action.APPROVE)
        roundups = [c for c in bot.slack.calls("chat.postMessage") if kind_of(c) == "roundup"]
        assert len(roundups) == 1


async def test_a_roundup_posted_before_its_rename_is_adopted_not_posted_again(bot: Bot) -> None:
    """A release before 0008 posted this summary (its metadata says "~burst" and "burst")
    and stopped before recording it; the upgrade renamed its claim. Found in the
    channel's history by those words, it is the roundup's message: not posted twice."""
    services, group = bot.services, "g-before"
    request, workflow = make_request(id="r1", workflowId="1001"), make_workflow(id="1001")
    item = RoundupItem.of(request, workflow).to_json()
    await services.store.add_roundup([RoundupMember(group, "1001", "r1", "channel", CHANNEL, item)])
    await services.store.claim_card(Card(ROUNDUP, group, CHANNEL, "roundup"))
    then = {"workflow_id": LEGACY_ROUNDUP, "request_id": group, "kind": "burst", "slot": ""}
    posted = await services.slack.chat_postMessage(
        channel=CHANNEL,
        text="1 new request",
        metadata={"event_type": CARD_EVENT, "event_payload": then},
    )
    aged = "UPDATE cards SET created_at = datetime('now', '-10 minutes') WHERE request_id = ?"
    async with bot.running.services.store.engine.begin() as connection:
        await connection.exec_driver_sql(aged, (group,))
    shown = await services.publisher.roundups.publish([group], services.directory.targets)
    assert shown[group].result is Result.DONE
    cards = await services.store.cards_for([(ROUNDUP, group)])
    assert [(c.kind, c.ts) for c in cards[(ROUNDUP, group)]] == [("roundup", posted["ts"])]
    assert [c for c in bot.slack.calls("chat.postMessage") if kind_of(c) == "roundup"] == []


@pytest.mark.slow
async def test_a_poll_cycle_never_waits_for_slack(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with running_bot(sandbox, http, tmp_path, **ROUNDUPS) as bot:
        await bot.cycles(1)
        bot.slack.set_latency(60.0, "chat.postMessage")  # Slack takes a minute to answer
        request_id = new_expense(bot.sandbox)
        await bot.slack.wait_for(
            "chat.postMessage", predicate=lambda c: mentions(c.params, request_id)
        )
        # cycles complete while that post is still unanswered
        await cycles_of(5, bot.services.poller_health, timeout=20)
        assert bot.services.publisher.queued > 0


@pytest.mark.slow
async def test_a_request_decided_while_its_card_waits_is_never_posted_with_buttons(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with running_bot(sandbox, http, tmp_path, **ROUNDUPS) as bot:
        await decided_while_waiting(bot)


async def decided_while_waiting(bot: Bot) -> None:
    # Five cards at once in one channel (not a burst): Slack takes one a second there,
    # so the last waits its turn for seconds; Cflow decides it meanwhile.
    await bot.cycles(1)
    requests = [new_expense(bot.sandbox) for _ in range(5)]
    last = requests[-1]
    await bot.channel_card(requests[0])
    bot.sandbox.state.approve("1001", last, "bob", "done in Cflow")
    await bot.cycles(3)
    for request_id in requests[:-1]:
        assert len(bot.cards_posted(request_id, CHANNEL)) == 1
    for call in bot.cards_posted(last):
        shown = bot.slack.message(call.response["channel"], call.response["ts"])
        assert shown is not None and not has_button(shown, Action.APPROVE)
    await bot.slack.wait_for(
        "chat.postMessage",
        predicate=lambda c: kind_of(c) == "outcome" and mentions(c.params, last),
    )
    assert rate_limited(bot.slack) == []


@pytest.mark.slow
async def test_paced_calls_stay_within_slacks_limits_most_urgent_first() -> None:
    async with SlackStandIn("xoxb-pace", rate_scale=10) as fake, aiohttp.ClientSession() as http:
        fake.add_channel("C1", "one")
        metrics = Metrics()
        client = PacedWebClient(
            token="xoxb-pace",
            base_url=fake.api_url,
            session=http,
            pacer=Pacer(metrics, scale=10),
            metrics=metrics,
        )
        ts = (await client.chat_postMessage(channel="C1", text="card"))["ts"]

        async def edit(rank: Rank, text: str) -> None:
            URGENCY.set(Urgency(rank))
            await client.chat_update(channel="C1", ts=ts, text=text)

        routine = [asyncio.create_task(edit(Rank.CHANNEL_CARD, f"edit {n}")) for n in range(20)]
        await asyncio.sleep(0)
        urgent = [asyncio.create_task(edit(Rank.BUTTONS_OFF, f"buttons off {n}")) for n in range(3)]
        await asyncio.gather(*routine, *urgent)
    texts = [c.params["text"] for c in fake.calls("chat.update") if not c.failed]
    assert len(texts) == 23 and rate_limited(fake) == []
    last_urgent = max(i for i, t in enumerate(texts) if t.startswith("buttons off"))
    assert last_urgent < len(texts) - 10, "the urgent edits jumped the queue"


@pytest.mark.slow
async def test_a_429_is_waited_out_and_the_call_made_once() -> None:
    async with (
        SlackStandIn("xoxb-pace", rate_limits=False) as fake,
        aiohttp.ClientSession() as http,
    ):
        fake.add_channel("C1", "one")
        fake.fail_next("chat.postMessage", "ratelimited", count=3, retry_after=1)
        metrics = Metrics()
        client: AsyncWebClient = PacedWebClient(
            token="xoxb-pace",
            base_url=fake.api_url,
            session=http,
            pacer=Pacer(metrics),
            metrics=metrics,
        )
        await client.chat_postMessage(channel="C1", text="card")
    assert [c.error for c in fake.calls("chat.postMessage")] == ["ratelimited"] * 3 + [None]
    assert len(fake.messages("C1")) == 1
