"""The shortcuts: "Request approval" on a message and "New Cflow request" from anywhere,
through signed `message_action` and `shortcut` payloads as Slack sends them under the
manifest, the modals submitted as Slack submits them, and the sandbox deciding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bot.blocks.ids import Action, Input, Shortcut, View
from bot.blocks.origins import LINK_FIELD, MessageOrigin, message_text
from bot.blocks.request_forms import FormTarget
from bot.blocks.shortcuts import PickState
from bot.devtools.slack_standin.payloads import (
    form,
    global_shortcut,
    message_shortcut,
    message_text_as_sent,
)
from bot.devtools.slack_standin.slack import SlackStandIn, StoredMessage
from tests.harness import CHANNEL, Bot, Sandbox, inputs, submit_view, typed

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


async def test_a_message_in_a_thread_is_answered_in_that_thread(bot: Bot) -> None:
    await bot.link("U0DAVE")
    parent = bot.slack.say("U0BOB", CHANNEL, "Monitors for the design team?")
    message = carols_message(bot.slack, thread_ts=parent.ts)
    await request_approval(bot, "U0DAVE", message)
    form_view = await form_for(bot, "U0DAVE", EXPENSES)
    origin = FormTarget.decode(form_view["private_metadata"]).origin
    assert origin is not None and origin.thread == parent.ts and "thread_ts=" in origin.permalink
    await submit_view(bot, "U0DAVE", form_view, {})
    reply = await thread_reply(bot, parent.ts)
    assert bot.slack.message(CHANNEL, reply.response["ts"]).thread_ts == parent.ts
    assert not thread_replies(bot, message.ts)


async def test_someone_not_linked_is_told_to_link_as_cflow_new_tells_them(bot: Bot) -> None:
    message = carols_message(bot.slack)
    await request_approval(bot, "U0DAVE", message)
    answers = await bot.slack.wait_for("response_url")
    assert answers[0].params["response_type"] == "ephemeral" and Action.LINK in json.dumps(
        answers[0].params
    )
    assert bot.slack.ephemerals(CHANNEL, "U0DAVE")  # only dave sees it, where he clicked
    await new_request_anywhere(bot, "U0DAVE")
    opened = await bot.slack.wait_for("views.open")
    assert opened[0].params["view"]["callback_id"] == View.LINK  # no channel to answer in
    await bot.cycles()
    assert not [c for c in bot.sandbox.state.calls if c.username == "dave"]
    assert not bot.slack.calls("views.update")


async def test_the_global_shortcut_opens_the_same_form_as_cflow_new(bot: Bot) -> None:
    await bot.link("U0DAVE")
    await new_request_anywhere(bot, "U0DAVE")
    picker = await shown(bot, View.PICK_WORKFLOW)
    assert LINK_FIELD not in json.dumps(picker)
    form_view = await form_for(bot, "U0DAVE", "1002")
    ids = inputs(form_view)
    assert {"Vendor", "Amount"} <= set(ids) and "mode" in json.dumps(form_view)
    answer = await submit_view(bot, "U0DAVE", form_view, {ids["Vendor"]: typed("Acme")})
    assert answer["response_action"] == "errors" and ids["Amount"] in answer["errors"]
    values = {ids["Vendor"]: typed("Acme"), ids["Amount"]: typed("250")}
    answer = await submit_view(bot, "U0DAVE", form_view, values)
    assert "Sent" in json.dumps(answer["view"])
    assert created(bot, "dave").body == {"fields": {"Vendor": "Acme", "Amount": "250"}}
    request_id = newest(bot.sandbox, "1002")
    assert (await bot.services.store.threads_for([("1002", request_id)]))[
        ("1002", request_id)
    ] == []


async def test_where_the_bot_may_not_reply_the_request_is_made_and_its_maker_told(
    bot: Bot,
) -> None:
    await bot.link("U0DAVE")
    bot.slack.add_channel("C0CAROL", "carols-corner", bot_member=False)
    bot.slack.strict_membership = True
    message = bot.slack.say("U0CAROL", "C0CAROL", message_text_as_sent(TYPED, bot.slack))
    await request_approval(bot, "U0DAVE", message)
    form_view = await form_for(bot, "U0DAVE", EXPENSES)
    await submit_view(bot, "U0DAVE", form_view, {})
    request_id = newest(bot.sandbox, EXPENSES)
    refused = await thread_reply(bot, message.ts)
    assert refused.failed and refused.error == "not_in_channel"
    told = await bot.slack.wait_for(
        "chat.postMessage",
        predicate=lambda c: (
            c.params.get("channel") == "U0DAVE" and "could not reply" in c.params["text"]
        ),
    )
    url = bot.services.publisher.request_url(EXPENSES, request_id)
    assert url in told[0].params["text"] and "not_in_channel" in told[0].params["text"]
    threads = await bot.services.store.threads_for([(EXPENSES, request_id)])
    assert threads[(EXPENSES, request_id)] == []  # nothing left to keep current


async def test_a_decision_in_slack_shows_in_the_thread_with_who_made_it(bot: Bot) -> None:
    await bot.link("U0DAVE")
    await bot.link("U0BOB")
    message = carols_message(bot.slack)
    await request_approval(bot, "U0DAVE", message)
    form_view = await form_for(bot, "U0DAVE", EXPENSES)
    await submit_view(bot, "U0DAVE", form_view, {})
    request_id = newest(bot.sandbox, EXPENSES)
    reply = await thread_reply(bot, message.ts)
    posted = await bot.slack.wait_for(
        "chat.postMessage", predicate=lambda c: bool(bot.cards_posted(request_id, CHANNEL))
    )
    card = bot.slack.message(CHANNEL, bot.cards_posted(request_id, CHANNEL)[0].response["ts"])
    assert posted and card is not None
    await bot.click("U0BOB", card, Action.REJECT)
    opened = await bot.slack.wait_for(
        "views.open", predicate=lambda c: c.params["view"].get("callback_id") == View.REJECT
    )
    modal = opened[-1].params["view"]
    reason = {Input.REASON: typed("Not in this quarter's <!channel> budget")}
    await submit_view(bot, "U0BOB", {**modal, "id": "V0TEST"}, reason)
    edits = await bot.slack.wait_for(
        "chat.update", predicate=lambda c: c.params.get("ts") == reply.response["ts"]
    )
    text = json.dumps(edits[0].params)
    assert "Rejected by <@U0BOB>" in text and "&lt;!channel&gt;" in text
    await bot.cycles()
    assert (
        len(
            [
                c
                for c in bot.slack.calls("chat.update")
                if c.params.get("ts") == reply.response["ts"]
            ]
        )
        == 1
    )


# The pieces: the manifest, Slack's text, the metadata's limit, the stand-in's triggers


def test_the_manifest_offers_both_shortcuts_with_the_ids_the_bot_answers() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    offered = {s["callback_id"]: s for s in manifest["features"]["shortcuts"]}
    assert offered[Shortcut.REQUEST_APPROVAL]["type"] == "message"
    assert offered[Shortcut.NEW_REQUEST]["type"] == "global"
    for shortcut in offered.values():
        assert len(shortcut["name"]) <= 24 and len(shortcut["description"]) <= 80


def test_slacks_markup_becomes_the_text_its_author_wrote() -> None:
    sent = (
        "Hi <@U0BOB> and <@U0NOBODY>, see <https://x.io/a?b=1&amp;c=2|the quote> in "
        "<#C0FIN|finance>, <!here> &amp; <!subteam^S1|@buyers>: 3 &lt; 4 &gt; 2 &amp;lt;"
    )
    assert message_text(sent, {"U0BOB": "bob"}, 3000) == (
        "Hi @bob and @U0NOBODY, see the quote (https://x.io/a?b=1&c=2) in #finance, @here & "
        "@buyers: 3 < 4 > 2 &lt;"
    )
    assert len(message_text("x" * 5000, {}, 3000)) == 3000


def test_a_long_message_is_cut_to_fit_the_modals_metadata() -> None:
    origin = MessageOrigin(
        channel=CHANNEL, ts="1.2", permalink="https://test-team.slack.com/archives/C/p12"
    )
    state = PickState(origin=origin, text='é"<' * 1500)
    raw = state.encode()
    assert len(raw) <= 3000 and PickState.decode(raw).origin == origin
    assert PickState.decode(raw).text.endswith("…")


async def test_a_trigger_id_opens_one_modal_within_three_seconds() -> None:
    now = [100.0]
    async with SlackStandIn(clock=lambda: now[0]) as slack, aiohttp.ClientSession() as http:
        view = {"type": "modal", "title": {"type": "plain_text", "text": "x"}, "blocks": []}

        async def open_with(trigger: str) -> dict[str, Any]:
            body = {"trigger_id": trigger, "view": view}
            headers = {"Authorization": f"Bearer {slack.bot_token}"}
            async with http.post(slack.api_url + "views.open", json=body, headers=headers) as r:
                return await r.json()

        fresh, late = slack.trigger_for("U1"), slack.trigger_for("U1")
        assert (await open_with(fresh))["ok"]
        assert (await open_with(fresh))["error"] == "exchanged_trigger_id"
        now[0] += 3.5
        assert (await open_with(late))["error"] == "expired_trigger_id"
        assert (await open_with(""))["error"] == "invalid_trigger_id"
        assert len(slack.modal_stack("U1")) == 1


async def test_a_request_decided_before_the_poller_lists_it_still_ends_its_thread(
    bot: Bot,
) -> None:
    """The poller passes over a request it first sees decided: the thread reply of one
    approved before any poll listed it pending is still brought to its outcome."""
    await bot.link("U0DAVE")
    message = carols_message(bot.slack)
    await request_approval(bot, "U0DAVE", message)
    form_view = await form_for(bot, "U0DAVE", EXPENSES)
    labels = inputs(form_view)
    bot.sandbox.state.fail_next(10_000, status=500, operation="listRequests", workflow_id=EXPENSES)
    await submit_view(bot, "U0DAVE", form_view, {labels["Description"]: typed("Two monitors")})
    request_id = newest(bot.sandbox, EXPENSES)
    reply = await thread_reply(bot, message.ts)
    bot.sandbox.state.approve(EXPENSES, request_id, "bob", "Fine")  # before any listing
    bot.sandbox.state.failures.clear()
    await bot.cycles(3)
    ts = reply.response["ts"]
    edits = [c for c in bot.slack.calls("chat.update") if c.params.get("ts") == ts]
    assert len(edits) == 1 and "Approved" in edits[0].params["text"]
    assert len(thread_replies(bot, message.ts)) == 1
