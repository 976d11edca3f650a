"""`/cflow` subcommands through signed slash-command requests to the running app."""

from __future__ import annotations

import json
import random
import string
from pathlib import Path
from typing import Any

import aiohttp
from hypothesis import given
from hypothesis import strategies as st

from bot.blocks.command_text import channel_id, mention_of, parse, request_name, user_id
from bot.blocks.ids import Action, Input, View
from bot.cflow.client import OPERATIONS
from bot.devtools.slack_standin.payloads import as_slack_sends, block_action, form, slash_command
from bot.domain.refs import RequestRef
from tests.harness import (
    CHANNEL,
    Bot,
    Sandbox,
    inputs,
    new_expense,
    open_form,
    running_bot,
    submit_view,
    typed,
)


async def say(bot: Bot, user: str, text: str, channel: str = CHANNEL) -> str:
    """Type `/cflow <text>` as `user` (sent as Slack sends it, under the manifest);
    returns the private answer as JSON text."""
    bot.slack.clear()
    sent = as_slack_sends(text, bot.slack)
    body = slash_command(user, sent, response_url=bot.slack.response_url(user), channel=channel)
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
    assert user_id("<@W0GRID>") == "W0GRID"  # an Enterprise Grid user
    assert user_id("<@C0FIN>") is None and user_id("@bob") is None
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
    answer = await say(bot, "U0BOB", f"show 1001/{request_id}")  # read at once, as bob
    assert "Printer ink" in answer and Action.APPROVE in answer
    bot.sandbox.state.add_request("1003", {"Days": 1}, "dave", request_id="777")
    bot.sandbox.state.add_request("1001", {"Amount": 1}, "dave", request_id="777")
    await bot.cycles(1)  # an id alone is found in the poller's latest listing
    assert "Printer ink" in await say(bot, "U0BOB", f"show {request_id}")
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


async def test_a_request_newer_than_the_shared_listing_is_found_by_its_id_alone(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """The listing an instance that does not poll read a moment ago has not seen a
    request added since: `/cflow approve <id>` looks in the person's own workflows,
    with their own key, rather than answering that there is no such request."""
    async with running_bot(
        sandbox, http, tmp_path, linked=("U0BOB",), poll=False, cflow_poll_interval=30
    ) as bot:
        assert "No request" in await say(bot, "U0BOB", "show 424242")  # the listing is read
        listed = len(bot.sandbox.calls("listRequests"))
        request_id = new_expense(bot.sandbox)
        assert "Approved" in await say(bot, "U0BOB", f"approve {request_id} fine")
        assert len(bot.sandbox.calls("listRequests")) == listed, "the listing was not read again"
        approved = bot.sandbox.calls("approveRequest")
        assert [(c.username, c.body) for c in approved] == [("bob", {"comment": "fine"})]
        looked = {c.username for c in bot.sandbox.calls("getRequest")}
        assert looked == {"bob"}, "looked for with bob's own key only"


async def test_looking_beyond_the_listing_counts_against_the_persons_limit(bot: Bot) -> None:
    """Each id the listing does not know costs a read of every workflow: ten in a burst
    are answered, the eleventh is asked to wait and reads nothing from Cflow."""
    await bot.link("U0BOB")
    said = [await say(bot, "U0BOB", f"approve {424242 + n} ok") for n in range(10)]
    assert all("No request" in answer for answer in said)
    reads = len(bot.sandbox.calls())
    assert "asking quickly" in await say(bot, "U0BOB", "approve 525252 ok")
    by_bob = [c for c in bot.sandbox.calls()[reads:] if c.username == "bob"]
    assert by_bob == [] and not bot.sandbox.calls("approveRequest")


def test_mentions_arrive_in_either_of_slacks_forms_and_the_rest_as_typed() -> None:
    """With `should_escape: true` a mention comes with or without its name, and `&<>`
    typed elsewhere come as entities, which the bot reads back as typed."""
    for person in ("<@U0BOB|bob>", "<@U0BOB>"):
        assert user_id(parse(f"away until 2026-12-10 to {person}").args[3]) == "U0BOB"
    for channel in ("<#C0FIN|finance>", "<#C0FIN|>"):
        assert channel_id(parse(f"subscribe expense {channel}").args[1]) == "C0FIN"
    group = parse("escalate x <!subteam^S0FIN|@finance>").args[1]
    assert mention_of(group) == "<!subteam^S0FIN>"
    reason = parse("reject 1001/5 R&amp;D &lt;too&gt; costly &amp;lt;")
    assert reason.rest(1) == "R&D <too> costly &lt;"
    links = parse("approve 1 <https://x.example/?a=1&amp;b=2> <http://y.example|y.example>")
    assert links.rest(1) == "https://x.example/?a=1&b=2 y.example"
    named = parse("approve 1 <https://x.example/d|the doc> for <@U0BOB|bob> in <#C0FIN|>")
    assert named.rest(1) == "the doc (https://x.example/d) for @bob in #C0FIN"


async def test_a_reason_and_a_comment_reach_cflow_as_typed(bot: Bot) -> None:
    await bot.link("U0BOB")
    first, second = new_expense(bot.sandbox), new_expense(bot.sandbox)
    typed = "R&D <too> costly, see https://x.example/?a=1&b=2 & ask @carol"
    assert "Rejected" in await say(bot, "U0BOB", f"reject 1001/{first} {typed}")
    assert [c.body for c in bot.sandbox.calls("rejectRequest")] == [{"comment": typed}]
    assert "Approved" in await say(bot, "U0BOB", f"approve 1001/{second} fine <3 & done")
    assert [c.body for c in bot.sandbox.calls("approveRequest")] == [{"comment": "fine <3 & done"}]


async def test_pending_is_mine_by_default_all_on_request_and_narrowed_by_workflow(
    bot: Bot,
) -> None:
    await bot.link("U0CAROL")
    await bot.link("U0DAVE")
    mine = bot.sandbox.state.add_request(
        "1002", {"Vendor": "Acme", "Amount": 3}, "dave", stage_id="1002-2"
    ).id
    await bot.cycles(1)  # lists come from the poller's latest listing
    answer = await say(bot, "U0CAROL", "pending")
    assert f"#{mine}" in answer and "Expense Claim" not in answer
    assert "Expense Claim" not in await say(bot, "U0CAROL", "pending all"), "bob's, not hers"
    submitted = await say(bot, "U0DAVE", "pending all")  # what dave submitted, waiting
    assert "Expense Claim" in submitted and f"#{mine}" in submitted
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
        answer = await say(bot, "U0ALICE", "subscribe Purchase Order #finance")
        assert "<#C0FIN>" in answer and "/invite" in answer
        subscriptions = await bot.running.services.store.subscriptions()
        assert subscriptions["1002"].channel_id == "C0FIN"
        assert "Purchase Order" in await say(bot, "U0BOB", "subscriptions")
        assert "<#C0FIN>" in await say(bot, "U0ALICE", "subscribe expense #finance")
        assert (await bot.running.services.store.subscriptions())["1001"].channel_id == "C0FIN"
        answer = await say(bot, "U0ALICE", "subscribe expense #nowhere")
        assert "no channel named #nowhere" in answer
        assert (await bot.running.services.store.subscriptions())["1001"].channel_id == "C0FIN"
        await say(bot, "U0ALICE", "unsubscribe expense")
        assert "now posts to" in await say(bot, "U0ALICE", "unsubscribe purchase order")
        assert await bot.running.services.store.subscriptions() == {}


async def test_a_subscribed_workflow_posts_to_its_channel(bot: Bot) -> None:
    from bot.store.records import Subscription

    await bot.running.services.store.subscribe(Subscription("1001", "C0FIN"))
    request_id = new_expense(bot.sandbox)
    posted = await bot.slack.wait_for(
        "chat.postMessage",
        predicate=lambda c: (
            c.params.get("channel") == "C0FIN" and f"#{request_id}" in json.dumps(c.params)
        ),
    )
    assert posted


async def test_new_request_shows_cflows_validation_errors_inline_then_sends(bot: Bot) -> None:
    await bot.link("U0DAVE")
    form_view = await open_form(bot, "U0DAVE", "new purchase")
    assert form_view["callback_id"] == View.NEW_REQUEST
    ids = inputs(form_view)
    assert {"Vendor", "Amount"} <= set(ids)
    answer = await submit_view(bot, "U0DAVE", form_view, {ids["Vendor"]: typed("Acme")})
    assert answer["response_action"] == "errors" and ids["Amount"] in answer["errors"]
    assert bot.sandbox.calls("createRequest")[-1].status == 400
    values = {ids["Vendor"]: typed("Acme"), ids["Amount"]: typed("250")}
    answer = await submit_view(bot, "U0DAVE", form_view, values)
    assert answer["response_action"] == "update" and "Sent" in json.dumps(answer["view"])
    created = bot.sandbox.calls("createRequest")[-1]
    assert created.username == "dave" and created.body == {
        "fields": {"Vendor": "Acme", "Amount": "250"}
    }
    await bot.slack.wait_for(
        "chat.postMessage", predicate=lambda c: c.params.get("channel") == "U0DAVE"
    )


async def test_a_draft_is_saved_edited_and_deleted(bot: Bot) -> None:
    await bot.link("U0DAVE")
    form_view = await open_form(bot, "U0DAVE", "new expense")
    ids = inputs(form_view)
    values = {
        ids["Another field: name"]: typed("Purpose"),
        ids["Its value"]: typed("Conference"),
        "mode": {"type": "radio_buttons", "selected_option": {"value": "draft"}},
    }
    answer = await submit_view(bot, "U0DAVE", form_view, values)
    assert "draft" in json.dumps(answer["view"])
    draft_id = bot.sandbox.calls("createDraftRequest")[-1]
    draft = next(
        r
        for r in bot.sandbox.state.requests["1001"].values()
        if r.status == "draft" and r.fields.get("Purpose")
    )
    listing = await say(bot, "U0DAVE", "drafts")
    assert (
        "Conference" in listing and Action.EDIT_DRAFT in listing and Action.DELETE_DRAFT in listing
    )
    value = json.dumps({"w": "1001", "r": draft.id}, separators=(",", ":"))
    await click_button(bot, "U0DAVE", Action.EDIT_DRAFT, value)
    editor = await bot.slack.wait_for("views.update", predicate=lambda c: not c.failed)
    editor_view = {**editor[-1].params["view"], "id": editor[-1].params["view_id"]}
    assert editor_view["callback_id"] == View.EDIT_DRAFT and "Conference" in json.dumps(editor_view)
    answer = await submit_view(
        bot, "U0DAVE", editor_view, {inputs(editor_view)["Purpose"]: typed("Summit")}
    )
    assert "Saved" in json.dumps(answer["view"])
    assert bot.sandbox.state.requests["1001"][draft.id].fields["Purpose"] == "Summit"
    assert bot.sandbox.state.requests["1001"][draft.id].status == "draft"
    await click_button(bot, "U0DAVE", Action.DELETE_DRAFT, value)
    await bot.slack.wait_for("response_url", predicate=lambda c: "Deleted" in json.dumps(c.params))
    assert draft.id not in bot.sandbox.state.requests["1001"]
    assert draft_id.username == "dave"


async def click_button(bot: Bot, user: str, action_id: str, value: str) -> None:
    bot.slack.clear()
    payload = block_action(
        user,
        {"action_id": action_id, "block_id": "b", "value": value, "type": "button"},
        channel=CHANNEL,
        message={"ts": "1.1", "text": "", "blocks": []},
        response_url=bot.slack.response_url(user),
    )
    payload["container"]["is_ephemeral"] = True
    assert (await bot.post(form(payload))).status == 200


async def test_every_cflow_operation_is_reached_from_slack(bot: Bot) -> None:
    """The whole tour in one place: all 12 operations, each from a Slack path."""
    await bot.link("U0ALICE")
    await bot.link("U0BOB")
    await bot.link("U0DAVE")
    await say(bot, "U0ALICE", "workflows")  # getWorkflows
    await say(bot, "U0ALICE", "users")  # listUsers
    await say(bot, "U0ALICE", "roles")  # listRoles
    first, second = new_expense(bot.sandbox), new_expense(bot.sandbox)
    await say(bot, "U0BOB", f"show 1001/{first}")  # getWorkflow, getRequest
    await say(bot, "U0BOB", "pending all")  # listRequests
    await say(bot, "U0BOB", f"approve 1001/{first}")  # approveRequest
    await say(bot, "U0BOB", f"reject 1001/{second} no")  # rejectRequest
    form_view = await open_form(bot, "U0DAVE", "new purchase")
    ids = inputs(form_view)
    values = {ids["Vendor"]: typed("A"), ids["Amount"]: typed("1")}
    await submit_view(bot, "U0DAVE", form_view, values)  # createRequest
    draft_mode = {"mode": {"type": "radio_buttons", "selected_option": {"value": "draft"}}}
    form_view = await open_form(bot, "U0DAVE", "new purchase")
    await submit_view(bot, "U0DAVE", form_view, values | draft_mode)  # createDraftRequest
    draft = bot.sandbox.calls("createDraftRequest")[-1]
    draft_id = next(
        r.id
        for r in bot.sandbox.state.requests["1002"].values()
        if r.status == "draft" and r.submitted_by == "dave"
    )
    value = json.dumps({"w": "1002", "r": draft_id}, separators=(",", ":"))
    await click_button(bot, "U0DAVE", Action.EDIT_DRAFT, value)
    editor = await bot.slack.wait_for("views.update", predicate=lambda c: not c.failed)
    editor_view = {**editor[-1].params["view"], "id": editor[-1].params["view_id"]}
    changed = {inputs(editor_view)["Vendor"]: typed("B")}
    await submit_view(bot, "U0DAVE", editor_view, changed)  # updateRequest
    await click_button(bot, "U0DAVE", Action.DELETE_DRAFT, value)  # deleteRequest
    await bot.slack.wait_for("response_url", predicate=lambda c: "Deleted" in json.dumps(c.params))
    assert draft.username == "dave"
    used = {call.operation for call in bot.sandbox.state.calls if call.username != "cflow-bot"}
    assert used == set(OPERATIONS), f"not reached from Slack: {set(OPERATIONS) - used}"


NASTY = [
    "<!channel>",
    "<@U0BOB|bob>",
    "<#C0FIN|finance>",
    '"',
    "'",
    "“",
    "\\",
    "\x00",
    "🙂" * 50,
    "show",
    "show /",
    "show ////",
    "approve",
    "reject 1",
    "pending 999999999999",
    "new",
    "subscribe",
    "unsubscribe <#C0X|x>",
    "users users users",
    "%s %d {0}",
    "a" * 3000,
    "PENDING ALL 2",
    "show 1001/",
    "drafts 1",
    "roles --help",
    "help me",
    "\n\t",
]


async def test_whatever_is_typed_gets_a_private_answer_and_no_traceback(bot: Bot) -> None:
    await bot.link("U0BOB")
    rng = random.Random(7)
    alphabet = string.printable + "“”‘’<>|@#!&🙂é"
    generated = [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(25)
    ]
    for text in NASTY + generated:
        bot.slack.clear()
        body = slash_command("U0BOB", text, response_url=bot.slack.response_url("U0BOB"))
        assert (await bot.post(body)).status == 200
        if parse(text).verb == "new" and parse(text).args:
            continue  # opens a modal rather than answering
        answers = await bot.slack.wait_for("response_url")
        shown = json.dumps(answers[0].params)
        assert answers[0].params.get("response_type") == "ephemeral", text
        assert "Traceback" not in shown and "<!channel>" not in shown, text


def listed_ids(blocks: list[dict[str, Any]]) -> set[str]:
    """The requests that have buttons in these blocks."""
    return {
        ref.request_id
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if (ref := RequestRef.decode(e.get("value")))
    }


def listed_click(bot: Bot, user: str, listing: dict[str, Any], request_id: str, action_id: str):
    """A click on a request's button in an ephemeral `/cflow pending` answer, as Slack
    sends it: the container says ephemeral, and the message itself is not included."""
    block = next(b for b in listing["blocks"] if request_id in listed_ids([b]))
    element = next(e for e in block["elements"] if e["action_id"] == action_id)
    action = {"action_id": action_id, "block_id": block["block_id"], "type": "button"}
    payload = block_action(
        user,
        action | {"value": element["value"]},
        channel=CHANNEL,
        message={"ts": "1.1"},
        response_url=bot.slack.response_url(user),
    )
    payload["container"]["is_ephemeral"] = True
    del payload["message"]
    return element, form(payload)


async def test_pending_buttons_ask_first_and_go_dead_once_used(bot: Bot) -> None:
    await bot.link("U0BOB")
    first, second = new_expense(bot.sandbox), new_expense(bot.sandbox)
    await bot.cycles(1)  # lists come from the poller's latest listing
    listing = json.loads(await say(bot, "U0BOB", "pending"))
    approve, body = listed_click(bot, "U0BOB", listing, first, Action.APPROVE)
    assert approve["confirm"]["confirm"]["text"] == "Approve"
    bot.slack.clear()
    assert (await bot.post(body)).status == 200
    answers = await bot.slack.wait_for("response_url", count=2)
    busy, relisted = (a.params for a in answers[:2])
    assert busy["replace_original"] is True and Action.APPROVE not in json.dumps(busy)
    assert relisted["replace_original"] is True
    assert len(bot.sandbox.calls("approveRequest")) == 1
    still = listed_ids(relisted["blocks"])
    assert first not in still and second in still

    _, body = listed_click(bot, "U0BOB", relisted, second, Action.REJECT)
    bot.slack.clear()
    assert (await bot.post(body)).status == 200
    (opened,) = await bot.slack.wait_for("views.open")
    view = opened.params["view"]
    answer = await submit_view(bot, "U0BOB", view, {Input.REASON: typed("No receipt")})
    assert answer == {}
    (after,) = await bot.slack.wait_for("response_url")
    assert after.params["replace_original"] is True and "Rejected" in after.params["text"]
    assert listed_ids(after.params["blocks"]) == still - {second}
    assert bot.sandbox.state.requests["1001"][second].status == "rejected"


async def test_the_draft_editor_gives_back_exactly_what_it_was_given(bot: Bot) -> None:
    await bot.link("U0DAVE")
    notes = "word " * 700  # 3,500 characters: more than a Slack input holds
    fields = {
        "Billable": True,
        "Nights": 3,
        "Tags": ["travel", "q4"],
        "Purpose": "Conference",
        "Notes": notes,
        "Hotel": "Ritz",
    }
    draft = bot.sandbox.state.add_request("1001", fields, "dave", status="draft")
    value = json.dumps({"w": "1001", "r": draft.id}, separators=(",", ":"))
    await click_button(bot, "U0DAVE", Action.EDIT_DRAFT, value)
    editor = await bot.slack.wait_for("views.update", predicate=lambda c: not c.failed)
    view = {**editor[-1].params["view"], "id": editor[-1].params["view_id"]}
    ids = inputs(view)
    assert "Notes" not in ids and "longer than a Slack input holds" in json.dumps(view)
    changes = {ids["Nights"]: typed("4"), ids["Hotel"]: typed("")}  # a change, a clearing
    answer = await submit_view(bot, "U0DAVE", view, changes)
    assert "Saved" in json.dumps(answer["view"])
    (update,) = bot.sandbox.calls("updateRequest")
    saved = bot.sandbox.state.requests["1001"][draft.id].fields
    assert saved == fields | {"Nights": 4, "Hotel": ""}
    assert saved["Billable"] is True and saved["Tags"] == ["travel", "q4"]
    assert saved["Notes"] == notes
    assert update.username == "dave"
