"""`/cflow` subcommands through signed slash-command requests to the running app."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
from hypothesis import given
from hypothesis import strategies as st

from bot.slack.command_text import channel_id, parse, request_name, user_id
from bot.slack.ids import Action
from bot.testing.payloads import block_action, form, slash_command
from tests.conftest import Sandbox
from tests.test_approvals import CHANNEL, Bot, new_expense, running_bot
from tests.test_approvals import bot as bot  # the running-bot fixture, shared


async def say(bot: Bot, user: str, text: str, channel: str = CHANNEL) -> str:
    """Type `/cflow <text>` as `user`; returns the private answer as JSON text."""
    bot.slack.clear()
    body = slash_command(user, text, response_url=bot.slack.response_url(user), channel=channel)
    assert (await bot.post(body)).status == 200
    answers = await bot.slack.wait_for("response_url")
    assert answers[0].params.get("response_type") == "ephemeral"
    return json.dumps(answers[0].params)


# Parsing, whatever people type


@given(st.text())
def test_parsing_never_fails(text: str) -> None:
    parsed = parse(text)
    assert parsed.verb == parsed.verb.lower()
    assert all(arg.strip() for arg in parsed.args)


def test_parsing_is_forgiving() -> None:
    assert parse("  PENDING   “Purchase Order” ").args == ("Purchase Order",)
    assert parse('show "unbalanced').args == ("unbalanced",)
    assert parse("").verb == "help"
    assert channel_id("<#C0FIN|finance>") == "C0FIN" and channel_id("finance") is None
    assert user_id("<@U0BOB|bob>") == "U0BOB"
    assert request_name("1002/105").workflow_id == "1002"
    assert request_name("#105").request_id == "105" and request_name("/") is None


# Every subcommand


async def test_unknown_and_help_give_the_usage(bot: Bot) -> None:
    for text in ("", "help", "frobnicate <!channel>", "'"):
        answer = await say(bot, "U0BOB", text)
        assert "/cflow pending" in answer and "<!channel>" not in answer


async def test_an_unlinked_person_is_told_to_link_and_cflow_is_not_called(bot: Bot) -> None:
    for text in ("workflows", "pending", "show 105", "approve 105", "users"):
        answer = await say(bot, "U0DAVE", text)
        assert Action.LINK in answer
    assert not [c for c in bot.sandbox.state.calls if c.username == "dave"]


async def test_workflows_lists_stages_and_reviewers(bot: Bot) -> None:
    await bot.link("U0BOB")
    answer = await say(bot, "U0BOB", "workflows")
    assert "Purchase Order" in answer and "Finance review (carol)" in answer
    assert {c.username for c in bot.sandbox.calls("getWorkflows")} >= {"bob"}


async def test_show_by_full_name_and_by_id_alone(bot: Bot) -> None:
    await bot.link("U0BOB")
    request_id = new_expense(bot.sandbox, Description="Printer ink")
    answer = await say(bot, "U0BOB", f"show 1001/{request_id}")
    assert "Printer ink" in answer and Action.APPROVE in answer
    assert "Printer ink" in await say(bot, "U0BOB", f"show {request_id}")
    bot.sandbox.state.add_request("1003", {"Days": 1}, "dave", request_id="777")
    bot.sandbox.state.add_request("1001", {"Amount": 1}, "dave", request_id="777")
    assert "Several requests" in await say(bot, "U0BOB", "show 777")
    assert "No request" in await say(bot, "U0BOB", "show 424242")


async def test_approve_and_reject_from_the_command_line(bot: Bot) -> None:
    await bot.link("U0BOB")
    first, second = new_expense(bot.sandbox), new_expense(bot.sandbox)
    assert "Approved" in await say(bot, "U0BOB", f"approve 1001/{first} looks fine")
    assert [c.body for c in bot.sandbox.calls("approveRequest")] == [{"comment": "looks fine"}]
    assert "reason is required" in await say(bot, "U0BOB", f"reject {second}")
    assert "Rejected" in await say(bot, "U0BOB", f'REJECT {second} "over budget"')
    assert [c.body for c in bot.sandbox.calls("rejectRequest")] == [{"comment": "over budget"}]


async def test_pending_is_mine_by_default_all_on_request_and_narrowed_by_workflow(
    bot: Bot,
) -> None:
    await bot.link("U0CAROL")
    mine = bot.sandbox.state.add_request(
        "1002", {"Vendor": "Acme", "Amount": 3}, "dave", stage_id="1002-2"
    ).id
    answer = await say(bot, "U0CAROL", "pending")
    assert f"#{mine}" in answer and "Expense Claim" not in answer
    assert "Expense Claim" in await say(bot, "U0CAROL", "pending all")
    assert f"#{mine}" in await say(bot, "U0CAROL", "pending purch")
    assert "nothing waiting" in await say(bot, "U0CAROL", "pending leave")


async def test_pending_pages_with_show_more(bot: Bot) -> None:
    await bot.link("U0BOB")
    for _ in range(25):
        new_expense(bot.sandbox)
    first = await say(bot, "U0BOB", "pending expense")
    assert Action.SHOW_MORE in first and "Page 1 of 3" in first
    button = next(
        e
        for b in json.loads(first)["blocks"]
        for e in b.get("elements", [])
        if e.get("action_id") == Action.SHOW_MORE
    )
    bot.slack.clear()
    payload = block_action(
        "U0BOB",
        {
            "action_id": Action.SHOW_MORE,
            "block_id": "more",
            "value": button["value"],
            "type": "button",
        },
        channel=CHANNEL,
        message={"ts": "1.1", "text": "", "blocks": []},
        response_url=bot.slack.response_url("U0BOB"),
    )
    payload["container"]["is_ephemeral"] = True
    assert (await bot.post(form(payload))).status == 200
    second = (await bot.slack.wait_for("response_url"))[0].params
    assert second["replace_original"] is True and "Page 2 of 3" in json.dumps(second)


async def test_users_and_roles_as_cflow_allows(bot: Bot) -> None:
    await bot.link("U0ALICE")
    await bot.link("U0BOB")
    assert "carol@example.com" in await say(bot, "U0ALICE", "users")
    assert "Finance" in await say(bot, "U0ALICE", "roles")
    assert "Admin access required" in await say(bot, "U0BOB", "users")


async def test_subscriptions_are_for_admins_to_change_and_everyone_to_see(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with running_bot(sandbox, http, tmp_path, cflow_bot_admins="U0ALICE") as bot:
        await bot.link("U0ALICE")
        await bot.link("U0BOB")
        bot.slack.add_channel("C0FIN", "finance", bot_member=False)
        assert "Only the bot's admins" in await say(bot, "U0BOB", "subscribe purchase")
        answer = await say(bot, "U0ALICE", "subscribe Purchase Order <#C0FIN|finance>")
        assert "<#C0FIN>" in answer and "/invite" in answer
        subscriptions = await bot.running.services.store.subscriptions()
        assert subscriptions["1002"].channel_id == "C0FIN"
        assert "Purchase Order" in await say(bot, "U0BOB", "subscriptions")
        assert "now posts to" in await say(bot, "U0ALICE", "unsubscribe purchase order")
        assert await bot.running.services.store.subscriptions() == {}


async def test_a_subscribed_workflow_posts_to_its_channel(bot: Bot) -> None:
    from bot.store.base import Subscription

    await bot.running.services.store.subscribe(Subscription("1001", "C0FIN"))
    request_id = new_expense(bot.sandbox)
    posted = await bot.slack.wait_for(
        "chat.postMessage",
        predicate=lambda c: (
            c.params.get("channel") == "C0FIN" and f"#{request_id}" in json.dumps(c.params)
        ),
    )
    assert posted
