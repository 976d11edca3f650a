"""Link previews (unfurls) of Cflow requests: links read from CFLOW_REQUEST_URL's
template, the store's unfurls, and `link_shared` delivered signed into the running bot,
with the Slack stand-in recording `chat.unfurl` and the Cflow sandbox answering as the
sharer."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from bot.blocks.ids import Action
from bot.devtools.slack_standin.payloads import (
    block_action,
    event_callback,
    form,
    unfurl_action,
)
from bot.devtools.slack_standin.slack import SlackStandIn, StoredMessage
from bot.domain.request_links import LinkedRequest, link_host, request_in_link
from bot.settings import load_settings
from bot.store import open_store
from bot.store.records import Link, Unfurl, WorkflowPolicy
from tests.harness import CHANNEL, Bot, Sandbox, running_bot, submit_view, typed

TEMPLATE = "https://cflow.example.com/app/{workflow_id}/requests/{request_id}"
DOMAIN = "cflow.example.com"
BOB, CAROL, ALICE = "U0BOB", "U0CAROL", "U0ALICE"
WITHIN = 5.0  # the promise: a shared link unfurls within 5 s


def link_to(workflow_id: str, request_id: str) -> str:
    return TEMPLATE.format(workflow_id=workflow_id, request_id=request_id)


# Reading links (pure)


def test_a_link_names_the_request_its_template_built() -> None:
    assert request_in_link(link_to("1001", "103"), TEMPLATE) == LinkedRequest("1001", "103")
    # As people paste them: another scheme, the host's case, a slash, a query, a fragment.
    for variant in (
        "http://cflow.example.com/app/1001/requests/103",
        "https://CFLOW.Example.com/app/1001/requests/103/",
        "https://cflow.example.com/app/1001/requests/103?tab=history#top",
    ):
        assert request_in_link(variant, TEMPLATE) == LinkedRequest("1001", "103")


@pytest.mark.parametrize(
    "url",
    [
        "https://cflow.example.com/app/1001/requests/",
        "https://cflow.example.com/app/1001/requests/103/more",
        "https://cflow.example.com/app/1001/103",
        "https://evil.example.com/app/1001/requests/103",
        "https://cflow.example.com.evil.com/app/1001/requests/103",
        "ftp://cflow.example.com/app/1001/requests/103",
        "",
    ],
)
def test_other_links_name_no_request(url: str) -> None:
    assert request_in_link(url, TEMPLATE) is None


def test_without_a_template_with_both_ids_nothing_is_read() -> None:
    assert request_in_link(link_to("1", "2"), None) is None
    assert request_in_link("https://cflow.example.com/", "https://cflow.example.com/") is None
    assert link_host(TEMPLATE) == DOMAIN
    assert link_host("https://user@Cflow.Example.com:8443/x/{request_id}") == DOMAIN
    assert link_host(None) is None


def test_ids_in_a_query_and_repeated_placeholders() -> None:
    template = "https://cflow.example.com/r?w={workflow_id}&id={request_id}"
    found = request_in_link("https://cflow.example.com/r?w=7&amp;id=9&utm=x", template)
    assert found == LinkedRequest("7", "9")
    twice = "https://cflow.example.com/{workflow_id}/{request_id}/{workflow_id}"
    assert request_in_link("https://cflow.example.com/1/2/1", twice) == LinkedRequest("1", "2")
    assert request_in_link("https://cflow.example.com/1/2/3", twice) is None


@given(
    workflow_id=st.text(min_size=1, max_size=20).filter(str.strip),
    request_id=st.text(min_size=1, max_size=20).filter(str.strip),
)
def test_every_link_the_buttons_build_reads_back(workflow_id: str, request_id: str) -> None:
    settings = load_settings(None, cflow_request_url=TEMPLATE)
    built = settings.request_url(workflow_id, request_id)
    assert request_in_link(built, TEMPLATE) == LinkedRequest(workflow_id, request_id)


# The store


async def test_unfurls_are_kept_per_link_and_message(database_url: str, key: str) -> None:
    store = await open_store(database_url, [key])
    try:
        at = datetime(2026, 12, 5, 17, 0, tzinfo=UTC)
        first = Unfurl("C1", "1.000100", link_to("1001", "103"), "1001", "103", BOB, at)
        other = Unfurl("C2", "2.000200", link_to("1001", "103"), "1001", "103", CAROL, at)
        elsewhere = Unfurl("C1", "1.000100", link_to("1002", "104"), "1002", "104", BOB, at)
        for unfurl in (first, other, elsewhere):
            await store.record_unfurl(unfurl)
        await store.record_unfurl(first)  # shared again (an edited message): one row
        found = await store.unfurls_for([("1001", "103"), ("1001", "999")])
        assert found == {("1001", "103"): [first, other]}
        await store.fail_unfurl(other, "message_not_found")
        assert await store.unfurls_for([("1001", "103")]) == {("1001", "103"): [first]}
    finally:
        await store.close()


# Through the running bot


@pytest.fixture
async def bot(sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path) -> AsyncIterator[Bot]:
    """bob, alice and dave are linked; carol is not. The stand-in unfurls the template's
    host, as the manifest's unfurl_domains would have Slack do."""

    def domains(slack: SlackStandIn) -> None:
        slack.unfurls.set_domains([DOMAIN])

    async with running_bot(
        sandbox,
        http,
        tmp_path,
        before_start=domains,
        linked=(BOB, ALICE, "U0DAVE"),
        cflow_request_url=TEMPLATE,
    ) as started:
        yield started


async def share(bot: Bot, user: str, text: str, channel: str = CHANNEL) -> StoredMessage:
    """`user` posts `text`: Slack stores it and tells the bot of its links."""
    message, event = bot.slack.unfurls.post(user, channel, text)
    assert event is not None, "no link on the unfurl domains"
    response = await bot.post(event_callback(event), content_type="application/json")
    assert response.status == 200
    return message


async def settled(bot: Bot) -> None:
    """Every listener Bolt started has finished (what it did not do, it will not)."""
    await bot.services.listener_tasks.drain(30)


def unfurled(bot: Bot, message: StoredMessage) -> list[Any]:
    """The successful chat.unfurl calls for `message`."""
    return [
        call
        for call in bot.slack.calls("chat.unfurl")
        if not call.failed and call.params.get("ts") == message.ts
    ]


async def unfurl_saying(bot: Bot, text: str) -> None:
    """Until a chat.unfurl has shown `text` (the poller's first cycle refreshes too)."""
    await bot.slack.wait_for(
        "chat.unfurl", predicate=lambda c: not c.failed and text in json.dumps(c.params)
    )


def preview(bot: Bot, message: StoredMessage) -> dict[str, Any]:
    """The one app unfurl on `message`, as Slack shows it now."""
    shown = bot.slack.message(message.channel, message.ts)
    assert shown is not None and shown.attachments, "no preview"
    (attachment,) = shown.attachments
    return attachment


def buttons(attachment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for block in attachment["blocks"]:
        for element in block.get("elements", []):
            if element.get("type") == "button":
                found[element["action_id"]] = element | {"block_id": block.get("block_id")}
    return found


async def click(bot: Bot, user: str, message: StoredMessage, action_id: str) -> None:
    """`user` clicks a button of the preview: Slack's payload for a click in an unfurl."""
    attachment = preview(bot, message)
    element = buttons(attachment)[action_id]
    action = {"action_id": action_id, "block_id": element["block_id"], "type": "button"}
    action |= {"value": element.get("value"), "text": element["text"]}
    payload = unfurl_action(
        user,
        action,
        channel=message.channel,
        message_ts=message.ts,
        attachment=attachment,
        response_url=bot.slack.response_url(
            f"u{time.time_ns()}", channel=message.channel, user=user
        ),
        trigger_id=bot.slack.trigger_for(user),
    )
    assert (await bot.post(form(payload))).status == 200


async def test_a_linked_reviewer_shares_a_link_and_everyone_sees_the_request(bot: Bot) -> None:
    url = link_to("1001", "103")
    started = time.monotonic()
    message = await share(bot, BOB, f"Could someone look at {url} today?")
    (call,) = await bot.slack.wait_for("chat.unfurl", timeout=WITHIN)
    assert time.monotonic() - started < WITHIN
    assert call.params["channel"] == CHANNEL and call.params["ts"] == message.ts
    assert list(call.params["unfurls"]) == [url]  # keyed by the link as Slack sent it
    attachment = preview(bot, message)
    shown = json.dumps(attachment["blocks"])
    assert "Expense Claim" in shown and "#103" in shown
    assert "Waiting for" in shown and "bob" in shown and "Manager approval" in shown
    assert {Action.APPROVE, Action.REJECT, Action.OPEN_IN_CFLOW} <= set(buttons(attachment))
    assert buttons(attachment)[Action.OPEN_IN_CFLOW]["url"] == url
    # Read as bob, the sharer: his own Cflow user, never the service account.
    reads = [c for c in bot.sandbox.calls("getRequest") if c.path.endswith("/103")]
    assert any(c.username == "bob" for c in reads)
    kept = await bot.services.store.unfurls_for([("1001", "103")])
    assert [(u.channel, u.message_ts, u.url, u.shared_by) for u in kept[("1001", "103")]] == [
        (CHANNEL, message.ts, url, BOB)
    ]


async def test_approve_in_a_preview_decides_as_the_clicker_and_the_preview_shows_it(
    bot: Bot,
) -> None:
    message = await share(bot, ALICE, f"FYI {link_to('1001', '103')}")  # alice reviews not
    await bot.slack.wait_for("chat.unfurl")
    await click(bot, BOB, message, Action.APPROVE)
    await unfurl_saying(bot, "Approved")
    assert bot.sandbox.state.get_request("1001", "103").status == "approved"
    approvals = bot.sandbox.calls("approveRequest")
    assert [c.username for c in approvals] == ["bob"]  # the clicker, not the sharer
    after = preview(bot, message)
    assert "Approved" in json.dumps(after["blocks"])
    assert not {Action.APPROVE, Action.REJECT} & set(buttons(after))
    # As on a card, the click first took the buttons off ("Approving as …"), so that
    # nobody clicks twice, in the preview itself.
    shown = [json.dumps(c.params) for c in unfurled(bot, message)]
    busy = next(i for i, text in enumerate(shown) if "Approving as" in text)
    assert Action.APPROVE not in shown[busy]
    assert busy < next(i for i, text in enumerate(shown) if "Approved" in text)
    # Someone else's message is never edited; bob is told privately what was done.
    assert [c for c in bot.slack.calls("chat.update") if c.params.get("ts") == message.ts] == []
    told = await bot.slack.wait_for("response_url", predicate=lambda c: "Approved" in str(c.params))
    assert told[0].params["response_type"] == "ephemeral"


async def test_a_click_by_someone_not_linked_decides_nothing(bot: Bot) -> None:
    message = await share(bot, BOB, link_to("1001", "103"))
    await bot.slack.wait_for("chat.unfurl")
    await click(bot, CAROL, message, Action.APPROVE)
    await bot.slack.wait_for("response_url", predicate=lambda c: "link" in str(c.params).lower())
    await settled(bot)
    assert bot.sandbox.calls("approveRequest") == []
    assert bot.sandbox.state.get_request("1001", "103").status == "pending"


async def test_reject_in_a_preview_opens_the_same_modal(bot: Bot) -> None:
    message = await share(bot, BOB, link_to("1001", "103"))
    await bot.slack.wait_for("chat.unfurl")
    await click(bot, BOB, message, Action.REJECT)
    (opened,) = await bot.slack.wait_for("views.open", predicate=lambda c: not c.failed)
    view = opened.params["view"]
    reason = next(b["block_id"] for b in view["blocks"] if b["type"] == "input")
    await submit_view(bot, BOB, view, {reason: typed("No receipt")})
    await unfurl_saying(bot, "Rejected")
    assert bot.sandbox.state.get_request("1001", "103").status == "rejected"
    after = json.dumps(preview(bot, message)["blocks"])
    assert "Rejected" in after and "No receipt" in after
    assert Action.REJECT not in buttons(preview(bot, message))


async def test_the_preview_follows_the_request_when_it_moves_in_cflow(bot: Bot) -> None:
    message = await share(bot, BOB, link_to("1002", "104"))  # a purchase order at bob's
    await bot.slack.wait_for("chat.unfurl")
    await bot.cycles(1)
    bot.sandbox.state.approve("1002", "104", "bob")  # in Cflow's web app: on to carol
    await unfurl_saying(bot, "at *Finance review*")  # its status line, not its path
    shown = json.dumps(preview(bot, message)["blocks"])
    assert "at *Finance review*" in shown and "carol" in shown
    assert Action.APPROVE in buttons(preview(bot, message))  # still waiting: for carol


async def test_a_stale_preview_approves_nothing(bot: Bot) -> None:
    message = await share(bot, BOB, link_to("1002", "104"))
    await bot.slack.wait_for("chat.unfurl")
    before = preview(bot, message)
    bot.sandbox.state.approve("1002", "104", "bob")
    # bob clicks the preview as it was, before the bot saw the move.
    attachment = before
    element = buttons(attachment)[Action.APPROVE]
    action = {"action_id": Action.APPROVE, "block_id": element["block_id"], "type": "button"}
    payload = unfurl_action(
        BOB,
        action | {"value": element["value"]},
        channel=message.channel,
        message_ts=message.ts,
        attachment=attachment,
        response_url=bot.slack.response_url("stale", channel=message.channel, user=BOB),
        trigger_id=bot.slack.trigger_for(BOB),
    )
    assert (await bot.post(form(payload))).status == 200
    await bot.slack.wait_for("response_url", predicate=lambda c: "moved on" in str(c.params))
    assert bot.sandbox.calls("approveRequest") == []


async def test_an_unlinked_sharer_is_asked_to_link_and_nothing_shows(bot: Bot) -> None:
    message = await share(bot, CAROL, f"see {link_to('1001', '103')}")
    (call,) = await bot.slack.wait_for("chat.unfurl")
    assert call.params["user_auth_required"] is True
    assert "unfurls" not in call.params
    await settled(bot)
    assert bot.slack.message(CHANNEL, message.ts).attachments is None  # nothing of it
    assert all(c.username != "carol" for c in bot.sandbox.calls())
    (prompt,) = bot.slack.ephemerals(CHANNEL, CAROL)
    assert bot.slack.ephemerals(CHANNEL, BOB) == []
    link_button = next(
        e for b in prompt.blocks for e in b.get("elements", []) if e["action_id"] == Action.LINK
    )
    assert link_button["type"] == "button"
    # Its button opens the /cflow link modal, for carol.
    payload = block_action(
        CAROL,
        {"action_id": Action.LINK, "block_id": "b", "type": "button"},
        channel=CHANNEL,
        message={"ts": prompt.ts, "text": prompt.text, "blocks": prompt.blocks},
        response_url=bot.slack.response_url("prompt", channel=CHANNEL, user=CAROL),
        trigger_id=bot.slack.trigger_for(CAROL),
        is_ephemeral=True,
    )
    assert (await bot.post(form(payload))).status == 200
    await bot.slack.wait_for("views.open", predicate=lambda c: not c.failed)
    assert bot.slack.modal_stack(CAROL)[-1]["callback_id"] == "cflow_link_modal"


async def test_a_sharer_cflow_refuses_gets_no_preview(bot: Bot) -> None:
    bot.sandbox.state.deny("alice", "getRequest")
    message = await share(bot, ALICE, link_to("1001", "103"))
    await bot.sandbox.state.calls.wait_for("getRequest", predicate=lambda c: c.username == "alice")
    await settled(bot)
    assert unfurled(bot, message) == []
    assert bot.slack.calls("chat.unfurl") == []
    assert bot.slack.message(CHANNEL, message.ts).attachments is None
    assert await bot.services.store.unfurls_for([("1001", "103")]) == {}


async def test_the_channel_fields_rule_decides_what_a_preview_shows(bot: Bot) -> None:
    policy = WorkflowPolicy("1001", channel_fields=("Amount",))
    await bot.services.store.save_policy(policy, [])
    request_id = bot.sandbox.state.add_request(
        "1001", {"Amount": 42, "Card number": "4111-SECRET"}, "dave"
    ).id
    message = await share(bot, BOB, link_to("1001", request_id))
    await bot.slack.wait_for("chat.unfurl")
    shown = json.dumps(preview(bot, message)["blocks"])
    assert "Amount" in shown and "42" in shown
    assert "SECRET" not in shown and "Card number" not in shown


async def test_cflow_text_is_escaped_in_a_preview(bot: Bot) -> None:
    request_id = bot.sandbox.state.add_request(
        "1001", {"Title": "<!channel> pay <https://evil.com|me>", "Amount": 1}, "dave"
    ).id
    message = await share(bot, BOB, link_to("1001", request_id))
    await bot.slack.wait_for("chat.unfurl")
    shown = json.dumps(preview(bot, message)["blocks"])
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown


async def test_a_composer_preview_is_shown_but_not_kept(bot: Bot) -> None:
    url = link_to("1001", "103")
    event = bot.slack.unfurls.compose(BOB, CHANNEL, f"draft {url}")
    assert event is not None
    response = await bot.post(event_callback(event), content_type="application/json")
    assert response.status == 200
    (call,) = await bot.slack.wait_for("chat.unfurl")
    assert call.params["unfurl_id"] == event["unfurl_id"]
    assert call.params["source"] == "composer"
    assert "channel" not in call.params
    assert Action.APPROVE in json.dumps(bot.slack.unfurls.draft_unfurls(event["unfurl_id"]))
    assert await bot.services.store.unfurls_for([("1001", "103")]) == {}


async def test_links_that_name_no_request_are_left_to_slack(bot: Bot) -> None:
    message = await share(bot, BOB, "https://cflow.example.com/help and nothing else")
    await settled(bot)
    assert unfurled(bot, message) == []
    assert bot.slack.calls("chat.unfurl") == []


async def test_several_links_in_one_message_one_call(bot: Bot) -> None:
    first, second = link_to("1001", "103"), link_to("1003", "105")
    message = await share(bot, BOB, f"{first} and {second} and {first} again")
    (call,) = await bot.slack.wait_for("chat.unfurl")
    assert set(call.params["unfurls"]) == {first, second}
    shown = bot.slack.message(CHANNEL, message.ts)
    assert shown is not None and len(shown.attachments or []) == 2


async def test_a_sharer_whose_key_cflow_refuses_is_asked_to_link_again(bot: Bot) -> None:
    await bot.services.store.save_link(Link(BOB, "bob", SecretStr("not-bobs-key")))
    message = await share(bot, BOB, link_to("1001", "103"))
    (call,) = await bot.slack.wait_for("chat.unfurl")
    assert call.params["user_auth_required"] is True and "unfurls" not in call.params
    assert "no longer accepts" in call.params["user_auth_message"]
    await settled(bot)
    assert bot.slack.message(CHANNEL, message.ts).attachments is None
    link = await bot.services.store.link_for(BOB)
    assert link is not None and link.key_refused_at is not None  # DMs invite to relink too
