"""The shortcuts: "Request approval" on a message and "New Cflow request" from anywhere,
through signed `message_action` and `shortcut` payloads as Slack sends them under the
manifest, the modals submitted as Slack submits them, and the sandbox deciding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from bot.blocks.ids import Action, Input, Shortcut, View
from bot.blocks.origins import LINK_FIELD, MessageOrigin, message_text
from bot.blocks.shortcuts import PickState
from bot.devtools.slack_standin.payloads import (
    form,
    global_shortcut,
    message_shortcut,
    message_text_as_sent,
)
from bot.devtools.slack_standin.slack import SlackStandIn, StoredMessage
from bot.domain.refs import RequestRef
from tests.harness import CHANNEL, Bot, Sandbox, inputs, running_bot, submit_view, typed

MANIFEST = Path(__file__).resolve().parents[1] / "manifest.yml"
EXPENSES = "1001"  # one stage, bob's
# What carol writes, as she would type it: a mention, a link, and Slack's control characters.
TYPED = "Can @bob's team get 2 monitors from https://dell.com/p27 for <$1,200 & tax>?"
READABLE = "Can @bob's team get 2 monitors from https://dell.com/p27 for <$1,200 & tax>?"


def as_shortcut_sees(message: StoredMessage) -> dict[str, Any]:
    """The `message` of a message_action: what Slack keeps of it."""
    seen = {"user": message.user, "text": message.text, "ts": message.ts, "team": "T0TEST"}
    return seen | ({"thread_ts": message.thread_ts} if message.thread_ts else {})


async def request_approval(bot: Bot, user: str, message: StoredMessage) -> None:
    """`user` picks "Request approval" in the message's "…" menu."""
    bot.slack.clear()
    payload = message_shortcut(
        user,
        Shortcut.REQUEST_APPROVAL,
        as_shortcut_sees(message),
        channel=message.channel,
        channel_name="approvals",
        response_url=bot.slack.response_url(f"sc-{user}", channel=message.channel, user=user),
        trigger_id=bot.slack.trigger_for(user),
    )
    assert (await bot.post(form(payload))).status == 200


async def new_request_anywhere(bot: Bot, user: str) -> None:
    bot.slack.clear()
    payload = global_shortcut(user, Shortcut.NEW_REQUEST, trigger_id=bot.slack.trigger_for(user))
    assert (await bot.post(form(payload))).status == 200


async def shown(bot: Bot, callback_id: str) -> dict[str, Any]:
    """The modal the bot filled in (views.update) with this callback id, with its id."""
    calls = await bot.slack.wait_for(
        "views.update",
        predicate=lambda c: not c.failed and c.params["view"].get("callback_id") == callback_id,
    )
    return {**calls[-1].params["view"], "id": calls[-1].params["view_id"]}


def chosen(workflow_id: str) -> dict[str, Any]:
    option = {"text": {"type": "plain_text", "text": workflow_id}, "value": workflow_id}
    return {Input.WORKFLOW: {"type": "static_select", "selected_option": option}}


async def form_for(bot: Bot, user: str, workflow_id: str) -> dict[str, Any]:
    """The picker answered with `workflow_id`: the form that replaces it."""
    picker = await shown(bot, View.PICK_WORKFLOW)
    answer = await submit_view(bot, user, picker, chosen(workflow_id))
    assert answer["response_action"] == "update"  # "Asking Cflow…" while it asks
    from_message = PickState.decode(picker["private_metadata"]).origin is not None
    return await shown(bot, View.MESSAGE_REQUEST if from_message else View.NEW_REQUEST)


def carols_message(slack: SlackStandIn, **where: Any) -> StoredMessage:
    return slack.say("U0CAROL", CHANNEL, message_text_as_sent(TYPED, slack), **where)


def created(bot: Bot, user: str) -> Any:
    calls = [c for c in bot.sandbox.calls("createRequest") if c.status == 201]
    assert calls and calls[-1].username == user
    return calls[-1]


def newest(sandbox: Sandbox, workflow_id: str) -> str:
    return max(sandbox.state.requests[workflow_id], key=int)


async def thread_reply(bot: Bot, thread_ts: str) -> Any:
    calls = await bot.slack.wait_for(
        "chat.postMessage", predicate=lambda c: c.params.get("thread_ts") == thread_ts
    )
    return calls[0]


def thread_replies(bot: Bot, thread_ts: str) -> list[Any]:
    return [
        c
        for c in bot.slack.calls("chat.postMessage")
        if c.params.get("thread_ts") == thread_ts and not c.failed
    ]


# The whole path: a message becomes a request, and its thread follows the request


async def test_a_message_becomes_a_request_with_its_text_and_link_and_its_thread_follows_it(
    bot: Bot,
) -> None:
    await bot.link("U0DAVE")
    message = carols_message(bot.slack)
    assert "<@U0BOB>" in message.text and "&lt;$1,200 &amp; tax&gt;" in message.text
    await request_approval(bot, "U0DAVE", message)
    opened = await bot.slack.wait_for("views.open")
    assert not opened[0].failed  # within the trigger's 3 s, before Cflow was asked
    picker = await shown(bot, View.PICK_WORKFLOW)
    options = picker["blocks"][-1]["element"]["options"]
    assert [o["value"] for o in options] == ["1001", "1002", "1003"]  # the inactive one not
    form_view = await form_for(bot, "U0DAVE", EXPENSES)
    labels = inputs(form_view)
    first = next(b for b in form_view["blocks"] if b["type"] == "input")
    assert first["element"]["initial_value"] == READABLE
    assert "mode" not in json.dumps(form_view)  # sent for approval: no draft from a message
    permalink = f"https://test-team.slack.com/archives/{CHANNEL}/p{message.ts.replace('.', '')}"
    assert permalink in json.dumps(form_view["blocks"])
    values = {labels["Description"]: typed("Two monitors")}
    answer = await submit_view(bot, "U0DAVE", form_view, values)
    assert answer["response_action"] == "update" and "Sent" in json.dumps(answer["view"])
    sent = created(bot, "dave").body["fields"]
    assert sent[first["label"]["text"]] == READABLE and sent[LINK_FIELD] == permalink
    request_id = newest(bot.sandbox, EXPENSES)
    reply = await thread_reply(bot, message.ts)
    assert reply.response["channel"] == CHANNEL and f"#{request_id}|" not in reply.params["text"]
    url = bot.services.publisher.request_url(EXPENSES, request_id)
    assert f"<{url}|Expense Claim #{request_id}>" in reply.params["text"]
    assert "<@U0DAVE>" in reply.params["text"] and "Waiting" in reply.params["text"]

    await bot.cycles()  # the poller has seen it waiting
    bot.sandbox.state.approve(EXPENSES, request_id, "bob", "Fine")  # in Cflow's own app
    await bot.cycles()
    ts = reply.response["ts"]
    edits = [c for c in bot.slack.calls("chat.update") if c.params.get("ts") == ts]
    assert len(edits) == 1 and "Approved" in edits[0].params["text"]
    assert bot.slack.message(CHANNEL, ts).thread_ts == message.ts
    await bot.cycles()
    assert [c for c in bot.slack.calls("chat.update") if c.params.get("ts") == ts] == edits
    assert len(thread_replies(bot, message.ts)) == 1  # never a second reply
