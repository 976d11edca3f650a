"""Every click ends in a consistent card and an answer, whatever fails after Slack was
acknowledged: the store, Slack or Cflow.

Through the running bot: signed clicks and submissions over HTTP, the Slack stand-in's
injected faults, the sandbox's latency, and PostgreSQL behind a proxy that is cut. What
is checked is what people see: the HTTP answer Slack gets, the private answer, and the
card, which ends with its buttons or its outcome and never stays "⏳ busy".
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from bot.blocks.ids import Action, Input, View
from bot.devtools.slack_standin.slack import SlackCall, StoredMessage
from tests.harness import CHANNEL, Bot, Sandbox, has_button, new_expense, running_bot
from tests.tcp_proxy import TcpProxy
from tests.test_approvals import submit
from tests.test_faults import snapshot, through
from tests.test_hook import until


def busy(message: StoredMessage | None) -> bool:
    return message is not None and "cflow_busy" in json.dumps(message.blocks)


def leave_request(bot: Bot) -> str:
    """A request whose one stage bob and alice both review (either one decides it)."""
    return bot.sandbox.state.add_request("1003", {"Days": 2}, "dave").id


async def answer_to(bot: Bot, user: str, count: int = 1) -> str:
    """The private answers (through the response_url) `user` has had, once there are
    `count` of them, as one text."""
    calls = await bot.slack.wait_for(
        "response_url", count=count, predicate=lambda c: c.token == user
    )
    return json.dumps([c.params for c in calls])


def edits_of(bot: Bot, card: StoredMessage) -> list[SlackCall]:
    return [c for c in bot.slack.calls("chat.update") if c.params.get("ts") == card.ts]


@pytest.mark.slow
async def test_a_click_on_a_request_someone_is_deciding_leaves_the_card_alone(
    bot: Bot,
) -> None:
    await bot.link("U0BOB")
    await bot.link("U0ALICE")
    card = snapshot(await bot.channel_card(leave_request(bot)))
    await bot.cycles(2)
    bot.sandbox.state.latency = 1.0  # bob's decision is with Cflow a while
    await bot.click("U0BOB", card, Action.APPROVE)
    await bot.slack.wait_for(
        "chat.update", predicate=lambda c: c.params.get("ts") == card.ts and not c.failed
    )
    assert (await bot.click("U0ALICE", card, Action.APPROVE)).status == 200
    said = await answer_to(bot, "U0ALICE")
    assert "deciding" in said, said
    assert "Approved" in await answer_to(bot, "U0BOB")
    assert not any("as <@U0ALICE>" in json.dumps(c.params) for c in edits_of(bot, card))
    final = bot.slack.message(CHANNEL, card.ts)
    assert not busy(final) and "Approved" in json.dumps(final.blocks)
    assert len(bot.sandbox.calls("approveRequest")) == 1


@pytest.mark.slow
async def test_a_click_as_the_decision_goes_out_to_slack_ends_in_the_outcome(bot: Bot) -> None:
    await bot.link("U0BOB")
    await bot.link("U0ALICE")
    card = snapshot(await bot.channel_card(leave_request(bot)))
    await bot.cycles(2)
    # The decision's thread line and the submitter's DM wait for Slack a while: the
    # decision lock is not held for them.
    bot.slack.set_latency(1.5, "chat.postMessage")
    await bot.click("U0BOB", card, Action.APPROVE)
    await bot.slack.wait_for(
        "chat.update",
        predicate=lambda c: (
            c.params.get("ts") == card.ts and "Approved" in json.dumps(c.params) and not c.failed
        ),
    )
    await bot.click("U0ALICE", card, Action.APPROVE)  # the card as she still saw it
    said = await answer_to(bot, "U0ALICE")
    assert "moved on" in said and "Nothing was done" in said, said
    assert "Approved" in await answer_to(bot, "U0BOB")
    final = bot.slack.message(CHANNEL, card.ts)
    assert not busy(final), "alice's click left the card busy"
    assert "Approved" in json.dumps(final.blocks) and not has_button(final, Action.APPROVE)
    assert len(bot.sandbox.calls("approveRequest")) == 1


async def test_slack_failing_the_busy_edit_stops_no_approval(bot: Bot) -> None:
    await bot.link("U0BOB")
    request_id = new_expense(bot.sandbox)
    card = snapshot(await bot.channel_card(request_id))
    await bot.cycles(2)
    bot.slack.fail_next("chat.update", "internal_error")  # the busy edit
    response = await bot.click("U0BOB", card, Action.APPROVE)
    assert response.status == 200
    said = await answer_to(bot, "U0BOB")
    assert "Approved" in said and "error id" not in said, said
    assert [c.path.split("/")[-2] for c in bot.sandbox.calls("approveRequest")] == [request_id]
    final = bot.slack.message(CHANNEL, card.ts)
    assert not busy(final) and "Approved" in json.dumps(final.blocks)


async def test_a_restore_slack_refuses_still_answers_the_clicker(bot: Bot) -> None:
    await bot.link("U0BOB")
    card = snapshot(await bot.channel_card(new_expense(bot.sandbox)))
    await bot.cycles(2)
    bot.sandbox.state.deny("bob", "getRequest")
    bot.sandbox.state.deny("cflow-bot", "getRequest")  # nor can the cards be re-rendered

    def putting_back(call: SlackCall) -> bool:
        return call.params.get("ts") == card.ts and "cflow_busy" not in json.dumps(call.params)

    bot.slack.fail_next("chat.update", "internal_error", where=putting_back)
    assert (await bot.click("U0BOB", card, Action.APPROVE)).status == 200
    said = await answer_to(bot, "U0BOB")
    assert "would not show you" in said, said


async def test_a_result_dm_slack_refuses_is_logged_and_the_rejection_stands(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    await bot.link("U0BOB")
    request_id = new_expense(bot.sandbox)
    card = await bot.channel_card(request_id)
    await bot.cycles(2)
    bot.slack.refuse("U0BOB", "user_disabled", methods={"chat.postMessage"})
    await bot.click("U0BOB", snapshot(card), Action.REJECT)
    (opened,) = await bot.slack.wait_for("views.open")
    modal = opened.params["view"]
    assert modal["callback_id"] == View.REJECT
    reason = {"type": "plain_text_input", "value": "Over budget"}
    with caplog.at_level(logging.WARNING):
        response = await submit(
            bot, "U0BOB", View.REJECT, {Input.REASON: reason}, modal["private_metadata"]
        )
        assert response.status == 200
        await bot.slack.wait_for(
            "chat.postMessage",
            predicate=lambda c: c.params.get("channel") == "U0BOB" and "Rejected" in str(c.params),
        )
        await bot.slack.wait_for(
            "views.publish", predicate=lambda c: c.params["user_id"] == "U0BOB"
        )
    assert bot.sandbox.state.requests["1001"][request_id].status == "rejected"
    told = [r for r in caplog.records if "user_disabled" in r.getMessage()]
    assert told and all(r.levelno == logging.WARNING for r in told), told
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.slow
async def test_a_click_while_the_database_is_away_is_acknowledged_and_answered(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path, postgres_url: str
) -> None:
    target = urlsplit(postgres_url)
    async with (
        TcpProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy,
        running_bot(sandbox, http, tmp_path, database_url=through(proxy, postgres_url)) as bot,
    ):
        await bot.link("U0BOB")
        request_id = new_expense(sandbox)
        card = snapshot(await bot.channel_card(request_id))
        await bot.cycles(2)
        proxy.cut()
        try:
            response = await bot.click("U0BOB", card, Action.APPROVE)
            assert response.status == 200, "Bolt kept the acknowledgement"
            said = await answer_to(bot, "U0BOB")
            assert "error id" in said, said
        finally:
            proxy.restore()
        assert edits_of(bot, card) == [], "the card was never shown busy"
        assert sandbox.calls("approveRequest") == []
        await bot.click("U0BOB", card, Action.APPROVE)  # once it is back, the click works
        assert "Approved" in await answer_to(bot, "U0BOB", count=2)


@pytest.mark.slow
async def test_a_decision_the_store_missed_shows_seconds_after_the_store_is_back(
    sandbox: Sandbox,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    postgres_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Cflow approved, but the store was away when the outcome was to be recorded and the
    request released: the poller, which leaves a held request alone, must not wait for
    the lock to lapse (a minute and more) before the card shows what Cflow did."""
    target = urlsplit(postgres_url)
    async with (
        TcpProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy,
        running_bot(sandbox, http, tmp_path, database_url=through(proxy, postgres_url)) as bot,
    ):
        await bot.link("U0BOB")
        request_id = new_expense(sandbox)
        card = snapshot(await bot.channel_card(request_id))
        assert "waiting for bob" in card.text
        await bot.cycles(2)
        sandbox.state.delay_after_commit = 1.0  # Cflow has decided; its answer is on its way
        request = sandbox.state.requests["1001"][request_id]
        stage = request.current_stage
        with caplog.at_level(logging.WARNING, logger="bot.people.decisions"):
            await bot.click("U0BOB", card, Action.APPROVE)
            await until(lambda: request.current_stage != stage)
            proxy.cut()
            try:
                await until(
                    lambda: any("Could not release" in r.getMessage() for r in caplog.records)
                )
            finally:
                proxy.restore()
        sandbox.state.delay_after_commit = 0.0
        await bot.cycles(3)
        shown = bot.slack.message(CHANNEL, card.ts)
        assert shown is not None and not busy(shown), "the card shows Cflow's outcome"
        assert "waiting for bob" not in shown.text, shown.text
