"""Per-workflow policies as people meet them: set with `/cflow policy` as Slack sends it,
then clicked, typed and read through the running bot, the Slack stand-in and the sandbox.

What is checked is what Cflow was asked (nothing, where a policy says no), what the
person was told, and what each card shows to whom.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.blocks.home import BULK_BLOCK, HOME_ITEM
from bot.blocks.ids import Action, Input, View
from bot.cflow.models import Request
from bot.devtools.slack_standin.slack import SlackCall, StoredMessage
from bot.domain.policy import rules_line, web_only_reason
from bot.domain.refs import RequestRef
from bot.store.records import WorkflowPolicy
from tests.harness import (
    CHANNEL,
    Bot,
    Sandbox,
    button,
    has_button,
    mentions,
    new_expense,
    running_bot,
    submit_view,
)
from tests.test_clicks import answer_to, edits_of
from tests.test_commands import say
from tests.test_faults import snapshot
from tests.test_home import click, items, open_home, published, ticked

ADMIN = "U0ALICE"


@pytest.fixture
async def bot(sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path) -> AsyncIterator[Bot]:
    async with running_bot(
        sandbox, http, tmp_path, linked=(ADMIN, "U0BOB"), cflow_bot_admins=ADMIN
    ) as running:
        yield running


async def set_policy(bot: Bot, words: str) -> None:
    """`/cflow policy <words>` typed by the admin, as Slack sends it."""
    answer = await say(bot, ADMIN, f"policy {words}")
    assert "Only the bot" not in answer and "Usage" not in answer, answer


async def dm_of(bot: Bot, user: str, request_id: str) -> SlackCall:
    """The card of `request_id` posted in `user`'s DM."""
    dm = bot.slack.dm_channel(user)
    calls = await bot.slack.wait_for(
        "chat.postMessage",
        predicate=lambda c: c.landed_in == dm and mentions(c.params, request_id) and not c.failed,
    )
    return calls[0]


def shows(message: StoredMessage | SlackCall, text: str) -> bool:
    blocks = message.blocks if isinstance(message, StoredMessage) else message.params["blocks"]
    return text in json.dumps(blocks, ensure_ascii=False)


def call_has_button(call: SlackCall, action_id: str) -> bool:
    return f'"action_id": "{action_id}"' in json.dumps(call.params["blocks"])


# web-only


async def test_a_web_only_request_is_decided_in_cflow_and_a_replayed_click_calls_nothing(
    bot: Bot,
) -> None:
    posted_before = new_expense(bot.sandbox, Amount=50_000)
    old = snapshot(await bot.channel_card(posted_before))  # its buttons predate the policy
    assert has_button(old, Action.APPROVE)
    await set_policy(bot, "Expense Claim web-only Amount > 10000")
    large = new_expense(bot.sandbox, Amount="12,500.00")  # a string that parses as a number
    small = new_expense(bot.sandbox, Amount=500)
    odd = new_expense(bot.sandbox, Amount="about 20k")  # not a number: does not match

    card = await bot.channel_card(large)
    assert not has_button(card, Action.APPROVE) and not has_button(card, Action.REJECT)
    assert has_button(card, Action.OPEN_IN_CFLOW)
    assert shows(card, "Amount over 10,000: decide in Cflow")
    assert has_button(await bot.channel_card(small), Action.APPROVE)
    assert has_button(await bot.channel_card(odd), Action.APPROVE)
    dm = await dm_of(bot, "U0BOB", large)  # the reviewer's own DM says the same
    assert not call_has_button(dm, Action.APPROVE) and shows(dm, "decide in Cflow")

    await bot.click("U0BOB", old, Action.APPROVE)  # replayed from the card posted before
    assert "decide in Cflow" in await answer_to(bot, "U0BOB")
    await bot.click("U0BOB", old, Action.REJECT)
    assert "decide in Cflow" in await answer_to(bot, "U0BOB", 2)
    said = await say(bot, "U0BOB", f"approve 1001/{large} looks fine")
    assert "decide in Cflow" in said
    assert bot.sandbox.calls("approveRequest") == []
    assert bot.sandbox.calls("rejectRequest") == []
    assert bot.slack.calls("views.open") == []  # no reason asked for a refused rejection


# self-approval


async def test_no_self_approval_refuses_the_submitter_and_leaves_the_card_as_it_was(
    bot: Bot,
) -> None:
    await set_policy(bot, "Leave Request self-approval block")
    own = bot.sandbox.state.add_request("1003", {"Days": 2}, "bob").id  # bob or alice decide
    card = snapshot(await bot.channel_card(own))
    assert has_button(card, Action.APPROVE)  # the channel's card: alice may decide it
    assert shows(card, "No self-approval")

    await bot.click("U0BOB", card, Action.APPROVE)
    assert "your own request" in await answer_to(bot, "U0BOB")
    await bot.click("U0BOB", card, Action.REJECT)
    assert "your own request" in await answer_to(bot, "U0BOB", 2)
    await bot.cycles(2)
    assert bot.sandbox.calls("approveRequest") == [] and bot.sandbox.calls("rejectRequest") == []
    assert bot.slack.calls("views.open") == []
    assert edits_of(bot, card) == [], "the card stays as it was"

    bobs = await dm_of(bot, "U0BOB", own)
    alices = await dm_of(bot, ADMIN, own)
    assert not call_has_button(bobs, Action.APPROVE) and shows(bobs, "your own request")
    assert call_has_button(alices, Action.APPROVE)

    await bot.click(ADMIN, card, Action.APPROVE)  # another reviewer decides it as usual
    assert "Approved" in await answer_to(bot, ADMIN, 2)  # after the policy's answer
    assert [c.username for c in bot.sandbox.calls("approveRequest")] == ["alice"]


# comment


async def test_a_required_comment_is_asked_in_a_modal_and_reaches_cflow(bot: Bot) -> None:
    await set_policy(bot, "1001 comment both")
    request_id = new_expense(bot.sandbox)
    card = await bot.channel_card(request_id)
    assert shows(card, "Comment required")
    assert "confirm" not in button(card, Action.APPROVE), "the modal asks instead"

    said = await say(bot, "U0BOB", f"approve 1001/{request_id}")
    assert "comment" in said and bot.sandbox.calls("approveRequest") == []

    await bot.click("U0BOB", card, Action.APPROVE)
    opened = await bot.slack.wait_for("views.open", predicate=lambda c: not c.failed)
    modal = opened[0].response["view"]
    assert modal["callback_id"] == View.APPROVE_COMMENT
    blank = {Input.COMMENT: {"type": "plain_text_input", "value": "   "}}
    ack = await submit_view(bot, "U0BOB", modal, blank)
    assert ack.get("response_action") == "errors" and Input.COMMENT in ack["errors"]
    assert bot.sandbox.calls("approveRequest") == []

    written = {Input.COMMENT: {"type": "plain_text_input", "value": "Receipts checked"}}
    assert await submit_view(bot, "U0BOB", modal, written) == {}
    await bot.slack.wait_for("chat.update", predicate=lambda c: c.params.get("ts") == card.ts)
    approvals = bot.sandbox.calls("approveRequest")
    assert [(c.username, c.body) for c in approvals] == [("bob", {"comment": "Receipts checked"})]


async def test_comment_off_makes_the_reason_optional(bot: Bot) -> None:
    await set_policy(bot, "1001 comment off")
    request_id = new_expense(bot.sandbox)
    card = await bot.channel_card(request_id)
    await bot.click("U0BOB", card, Action.REJECT)
    opened = await bot.slack.wait_for("views.open", predicate=lambda c: not c.failed)
    modal = opened[0].response["view"]
    reason = next(b for b in modal["blocks"] if b.get("block_id") == Input.REASON)
    assert reason["optional"] is True
    nothing = {Input.REASON: {"type": "plain_text_input", "value": None}}
    assert await submit_view(bot, "U0BOB", modal, nothing) == {}
    await bot.slack.wait_for("chat.update", predicate=lambda c: c.params.get("ts") == card.ts)
    assert [c.username for c in bot.sandbox.calls("rejectRequest")] == ["bob"]


# channel-fields


async def test_a_channel_sees_only_its_fields_while_the_reviewers_dm_shows_them_all(
    bot: Bot,
) -> None:
    await set_policy(bot, "1001 channel-fields Amount")
    request_id = new_expense(bot.sandbox, Amount=4321, Vendor="Acme Secret Supplies")
    card = await bot.channel_card(request_id)
    assert shows(card, "4321") or shows(card, "4,321")
    assert not shows(card, "Acme Secret") and not shows(card, "Vendor")
    dm = await dm_of(bot, "U0BOB", request_id)
    assert shows(dm, "Acme Secret Supplies") and (shows(dm, "4321") or shows(dm, "4,321"))


async def test_channel_fields_none_keeps_the_rejection_reason_out_of_the_channel(
    bot: Bot,
) -> None:
    await set_policy(bot, "1001 channel-fields none")
    request_id = new_expense(bot.sandbox, Amount=777, Vendor="Hidden Vendor")
    card = await bot.channel_card(request_id)
    assert not shows(card, "Hidden Vendor") and not shows(card, "777")
    await bot.click("U0BOB", card, Action.REJECT)
    opened = await bot.slack.wait_for("views.open", predicate=lambda c: not c.failed)
    reason = {Input.REASON: {"type": "plain_text_input", "value": "Salary details inside"}}
    await submit_view(bot, "U0BOB", opened[0].response["view"], reason)
    lines = await bot.slack.wait_for(
        "chat.postMessage", predicate=lambda c: c.params.get("thread_ts") == card.ts
    )
    assert "rejected" in lines[0].params["text"].lower()
    assert "Salary details" not in lines[0].params["text"]
    await bot.cycles(2)
    final = bot.slack.message(CHANNEL, card.ts)
    assert shows(final, "Rejected") and not shows(final, "Salary details")
    assert [c.body for c in bot.sandbox.calls("rejectRequest")] == [
        {"comment": "Salary details inside"}
    ]


# bulk approve


async def test_bulk_approve_skips_what_a_policy_keeps_out_and_says_why(bot: Bot) -> None:
    await set_policy(bot, "1001 web-only Amount >= 1000")
    await set_policy(bot, "1003 comment approve")
    plain = new_expense(bot.sandbox, Amount=10)
    large = new_expense(bot.sandbox, Amount=1000)
    leave = bot.sandbox.state.add_request("1003", {"Days": 1}, "dave").id
    await bot.channel_card(leave)
    home = await open_home(bot, "U0BOB")
    assert "decide in Cflow" in json.dumps(home)
    assert not [b for b in items(home) if b["block_id"].endswith(large) and "accessory" in b]
    chosen = [b for b in items(home) if b["block_id"].endswith((plain, leave))]
    state = ticked(home, chosen)
    # A tick for the web-only one too, as a replayed (or older) tab would send it.
    stage = bot.sandbox.state.get_request("1001", large).current_stage
    replayed = RequestRef(workflow_id="1001", request_id=large, stage=stage).encode()
    option = {"text": {"type": "plain_text", "text": "Select"}, "value": replayed}
    state["state"]["values"][f"{HOME_ITEM}:{large}"] = {
        Action.HOME_SELECT: {"type": "checkboxes", "selected_options": [option]}
    }
    approve = {"type": "button", "action_id": Action.HOME_APPROVE_SELECTED, "value": "3"}
    before = len(bot.slack.calls("views.publish"))
    await click(bot, "U0BOB", state, approve | {"block_id": BULK_BLOCK})
    done = json.dumps(await published(bot, "U0BOB", before + 2), ensure_ascii=False)
    assert f"#{large}: skipped" in done and "decide in Cflow" in done
    assert f"#{leave}: skipped" in done and "comment" in done
    assert [c.path.split("/")[-2] for c in bot.sandbox.calls("approveRequest")] == [plain]


# What each setting means (pure)


@pytest.mark.parametrize(
    ("value", "matches"),
    [
        (10_001, True),
        ("10,001", True),
        (" 10001.5 ", True),
        (10_000, False),
        ("10000", False),
        (True, False),  # a bool is not a number
        ("NaN", False),
        ("Infinity", False),
        ("ten thousand", False),
        (None, False),
        ([10_001], False),
    ],
)
def test_web_only_matches_numbers_and_strings_that_parse_as_one(
    value: object, matches: bool
) -> None:
    policy = WorkflowPolicy("w", web_only_field="Amount", web_only_op=">", web_only_value="10000")
    request = Request(id="1", status="pending", fields={"amount": value})
    assert (web_only_reason(policy, request) is not None) is matches


def test_a_missing_field_never_matches_and_the_reason_names_the_limit() -> None:
    policy = WorkflowPolicy("w", web_only_field="Amount", web_only_op=">=", web_only_value="10000")
    assert web_only_reason(policy, Request(id="1", fields={})) is None
    reason = web_only_reason(policy, Request(id="1", fields={"Amount": 10_000}))
    assert reason == "Amount at least 10,000: decide in Cflow"


def test_the_rules_line_names_what_differs_from_the_defaults() -> None:
    assert rules_line(WorkflowPolicy("w")) is None
    both = WorkflowPolicy("w", comment="both", self_approval="block", undo_seconds=10)
    assert rules_line(both) == "Comment required · No self-approval · Undo 10 s"
