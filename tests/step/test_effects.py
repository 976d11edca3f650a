"""What a change of a request does in Slack, one step at a time: a new request's card and
DM, a request moved to its next stage, a decided request's buttons taken off, and a
reviewer's click deciding as them.

Each is read back from the Slack stand-in right after the step that made it: "nothing
more was sent" is the next step's record, with nothing waited for."""

from __future__ import annotations

import json

from bot.blocks.ids import Action
from bot.devtools.slack_standin.slack import StoredMessage
from tests.harness import CHANNEL, has_button
from tests.step.harness import SteppedBot, posts, rate_limited


def new_purchase(bot: SteppedBot) -> str:
    """A purchase order: bob reviews it, then carol, then alice; dave submitted it."""
    return bot.sandbox.state.add_request("1002", {"Vendor": "ACME", "Amount": 1200}, "dave").id


def card_of(bot: SteppedBot, request_id: str) -> StoredMessage:
    [call] = bot.cards_posted(request_id, CHANNEL)
    return bot.message_of(call)


def dm_of(bot: SteppedBot, user: str, request_id: str) -> StoredMessage:
    [call] = bot.dms_to(user, request_id)
    return bot.message_of(call)


async def test_a_new_request_gets_a_card_and_a_dm_to_its_reviewer(bot: SteppedBot) -> None:
    request_id = new_purchase(bot)
    await bot.step()
    assert has_button(card_of(bot, request_id), Action.APPROVE)
    assert has_button(dm_of(bot, "U0BOB", request_id), Action.APPROVE)
    assert [bot.dms_to(user) for user in ("U0CAROL", "U0ALICE", "U0DAVE")] == [[], [], []]
    await bot.step()
    assert len(posts(bot.slack)) == 2, "nothing more: the request is as it was"
    assert rate_limited(bot.slack) == []


async def test_a_request_moved_on_in_cflow_goes_to_its_next_reviewer(bot: SteppedBot) -> None:
    request_id = new_purchase(bot)
    await bot.step()
    bot.sandbox.state.approve("1002", request_id, "bob", "Fine by me")
    await bot.step()
    card = card_of(bot, request_id)
    assert "Finance review" in json.dumps(card.blocks) and has_button(card, Action.APPROVE)
    [line] = bot.thread_of(card.ts)
    assert "Moved on in Cflow" in line
    assert has_button(dm_of(bot, "U0CAROL", request_id), Action.APPROVE)
    assert not has_button(dm_of(bot, "U0BOB", request_id), Action.APPROVE), "no longer his"
    assert bot.dms_to("U0DAVE") == [], "the submitter hears of the outcome, not of each stage"


async def test_a_decided_request_loses_its_buttons_everywhere(bot: SteppedBot) -> None:
    request_id = new_purchase(bot)
    await bot.step()
    bot.sandbox.state.reject("1002", request_id, "bob", "Over budget")
    await bot.step()
    card = card_of(bot, request_id)
    assert not has_button(card, Action.APPROVE) and not has_button(card, Action.REJECT)
    assert not has_button(dm_of(bot, "U0BOB", request_id), Action.APPROVE)
    assert len(bot.thread_of(card.ts)) == 1
    [outcome] = bot.dms_to("U0DAVE", request_id)
    assert "rejected" in json.dumps(outcome.params).lower()
    await bot.step()
    assert len(bot.dms_to("U0DAVE")) == 1, "told once"


async def test_a_reviewers_click_decides_as_them(bot: SteppedBot) -> None:
    request_id = bot.sandbox.state.add_request("1001", {"Amount": 42}, "dave").id
    await bot.step()
    assert (await bot.click("U0BOB", card_of(bot, request_id), Action.APPROVE)).status == 200
    await bot.settle()
    [call] = bot.sandbox.calls("approveRequest")
    assert call.username == "bob" and request_id in call.path
    assert not has_button(card_of(bot, request_id), Action.APPROVE)
    assert not has_button(dm_of(bot, "U0BOB", request_id), Action.APPROVE)
    [line] = bot.thread_of(card_of(bot, request_id).ts)
    assert "<@U0BOB>" in line
    await bot.step()
    assert len(bot.sandbox.calls("approveRequest")) == 1
    assert len(bot.dms_to("U0DAVE", request_id)) == 1, "the submitter is told once"
