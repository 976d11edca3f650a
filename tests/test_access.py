"""Who sees what, who may do what: the bot never shows or does more than Cflow would.

Each test goes through the running app (signed requests, the fake Slack, the sandbox
over HTTP) and shows one gap of the security review closed.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from bot.blocks.ids import Action, MoreOption
from bot.devtools.slack_standin.payloads import as_slack_sends, event_callback, slash_command
from bot.devtools.slack_standin.slack import SlackStandIn, StoredMessage
from bot.store.records import request_lock
from tests.harness import CHANNEL, Bot, Sandbox, has_button, mentions, new_expense, running_bot
from tests.test_roundups import ROUNDUPS, backlog, posted


async def test_a_non_reviewers_click_answers_privately_and_touches_nothing(bot: Bot) -> None:
    await bot.link("U0CAROL")  # carol is linked, but the expense waits on bob
    request_id = new_expense(bot.sandbox)
    card = await bot.channel_card(request_id)
    await bot.cycles(1)
    shown = json.dumps(card.blocks)  # the stand-in edits its stored message in place
    bot.slack.clear()
    bot.sandbox.state.clear_calls()

    for action, option in (
        (Action.APPROVE, None),
        (Action.REJECT, None),
        (Action.MORE, MoreOption.APPROVE_WITH_COMMENT.value),
    ):
        assert (await bot.click("U0CAROL", card, action, option)).status == 200
    answers = await bot.slack.wait_for("response_url", count=3)
    assert all("not a reviewer" in json.dumps(a.params) for a in answers)
    assert all(a.params.get("replace_original") is False for a in answers)

    locks = await bot.services.store.held_locks([request_lock(("1001", request_id))])
    assert not locks
    assert [c for c in bot.sandbox.calls() if c.username == "carol"] == []
    assert bot.slack.calls("views.open") == []
    edits = [c for c in bot.slack.calls("chat.update") if c.params.get("ts") == card.ts]
    assert edits == [], "the shared card never showed carol as approving"
    assert json.dumps(bot.slack.message(CHANNEL, card.ts).blocks) == shown


async def test_the_reviewer_still_decides_after_a_strangers_click(bot: Bot) -> None:
    await bot.link("U0CAROL")
    await bot.link("U0BOB")
    request_id = new_expense(bot.sandbox)
    card = await bot.channel_card(request_id)
    await bot.cycles(1)
    await bot.click("U0CAROL", card, Action.APPROVE)
    await bot.click("U0BOB", card, Action.APPROVE)
    await bot.slack.wait_for("response_url", predicate=lambda c: "Approved" in json.dumps(c.params))
    assert [c.username for c in bot.sandbox.calls("approveRequest")] == ["bob"]


async def answer_to(bot: Bot, user: str, text: str) -> str:
    """`/cflow <text>` as `user`: the whole private answer, blocks and all."""
    before = len(bot.slack.calls("response_url"))
    sent = as_slack_sends(text, bot.slack)  # as the manifest makes Slack send it
    body = slash_command(user, sent, response_url=bot.slack.response_url(user))
    assert (await bot.post(body)).status == 200
    answers = await bot.slack.wait_for("response_url", count=before + 1)
    return json.dumps(answers[-1].params, ensure_ascii=False)


async def test_stats_show_no_request_to_the_unlinked_and_only_ones_own_to_others(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with running_bot(
        sandbox, http, tmp_path, linked=("U0CAROL", "U0ALICE"), cflow_bot_admins="U0ALICE"
    ) as bot:
        await bot.cycles(2)  # the demo's pending requests are on record, waiting on bob
        unlinked = await answer_to(bot, "U0BOB", "stats")
        assert "link" in unlinked.lower() and "Waiting longest" not in unlinked
        assert "Taxi" not in unlinked and "Leave" not in unlinked
        carols = await answer_to(bot, "U0CAROL", "stats")
        assert "requests you took part in" in carols
        assert "Purchase Order #102" in carols, "waiting on carol herself"
        assert "#103" not in carols and "#105" not in carols, "bob's, not hers"
        admins = await answer_to(bot, "U0ALICE", "stats")
        assert "#103" in admins and "requests you took part in" not in admins
        assert "from 1 to 365" in await answer_to(bot, "U0ALICE", "stats 3660")


async def test_see_them_all_replayed_from_another_channel_shows_nothing(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    backlog(sandbox)
    async with running_bot(sandbox, http, tmp_path, **ROUNDUPS) as bot:
        summary = await posted(bot.slack, "roundup", channel=CHANNEL)
        elsewhere = replace(summary, channel="C0ELSEWHERE")
        await bot.click("U0CAROL", elsewhere, Action.ROUNDUP_LIST)
        [answer] = await bot.slack.wait_for("response_url")
        shown = json.dumps(answer.params)
        assert "only in the channel it was posted in" in shown
        assert "requests in this roundup" not in shown and "Expense Claim" not in shown
        await bot.click("U0CAROL", summary, Action.ROUNDUP_LIST)  # where it was posted: listed
        await bot.slack.wait_for("response_url", count=2)
        listed = json.dumps(bot.slack.calls("response_url")[-1].params)
        assert "requests in this roundup" in listed and "Expense Claim" in listed


def dms_of(bot: Bot, user: str, text: str) -> list[StoredMessage]:
    return [m for m in bot.slack.messages(bot.slack.dm_channel(user)) if text in (m.text or "")]


@pytest.mark.slow
async def test_a_workflow_created_after_start_waits_for_an_admin_to_route_it(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with running_bot(
        sandbox, http, tmp_path, linked=("U0CAROL",), cflow_bot_admins="U0ALICE,U0DAVE"
    ) as bot:
        await bot.cycles(2)
        bot.sandbox.state.add_workflow("2002", "Medical Leave", [("HR", ["carol"])])
        request_id = bot.sandbox.state.add_request("2002", {"Reason": "surgery"}, "dave").id
        await bot.slack.wait_for(  # its reviewer is told meanwhile
            "chat.postMessage",
            predicate=lambda c: (
                c.landed_in == bot.slack.dm_channel("U0CAROL") and mentions(c.params, request_id)
            ),
        )
        await bot.cycles(3)
        assert bot.cards_posted(request_id, CHANNEL) == [], "no channel shows it yet"
        [asked] = dms_of(bot, "U0ALICE", "Medical Leave")
        assert len(dms_of(bot, "U0DAVE", "Medical Leave")) == 1, "each admin, once"
        assert has_button(asked, Action.ROUTE_DEFAULT)

        await bot.click("U0BOB", asked, Action.ROUTE_DEFAULT)  # not an admin
        [refused] = await bot.slack.wait_for("response_url")
        assert "Only the bot's admins" in json.dumps(refused.params)
        await bot.cycles(2)
        assert bot.cards_posted(request_id, CHANNEL) == []

        await bot.click("U0ALICE", asked, Action.ROUTE_DEFAULT)
        await bot.channel_card(request_id)  # now it is carded where the admin chose
        for admin in ("U0ALICE", "U0DAVE"):
            [dm] = dms_of(bot, admin, "Medical Leave")
            assert not has_button(dm, Action.ROUTE_DEFAULT), "the question is answered"
            assert "chosen by <@U0ALICE>" in dm.text
        route = (await bot.services.store.workflow_routes())["2002"]
        assert (route.route, route.set_by) == ("default", "U0ALICE")


async def test_subscribe_routes_a_waiting_workflow_and_keep_to_dms_routes_none(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    def finance(slack: SlackStandIn) -> None:
        slack.add_channel("C0FINANCE", "finance")

    async with running_bot(
        sandbox,
        http,
        tmp_path,
        before_start=finance,
        linked=("U0ALICE",),
        cflow_bot_admins="U0ALICE",
    ) as bot:
        await bot.cycles(2)
        bot.sandbox.state.add_workflow("2002", "Medical Leave", [("HR", ["carol"])])
        bot.sandbox.state.add_workflow("2003", "Salary Review", [("HR", ["carol"])])
        await bot.cycles(2)
        answer = await answer_to(bot, "U0ALICE", "subscribe Medical #finance")
        assert "now posts to <#C0FINANCE>" in answer
        leave = bot.sandbox.state.add_request("2002", {"Reason": "surgery"}, "dave").id
        assert bot.cards_posted(leave, CHANNEL) == []
        await bot.slack.wait_for(
            "chat.postMessage",
            predicate=lambda c: (
                c.params.get("channel") == "C0FINANCE" and mentions(c.params, leave)
            ),
        )
        [salary_question] = dms_of(bot, "U0ALICE", "Salary Review")
        await bot.click("U0ALICE", salary_question, Action.ROUTE_DMS)
        await bot.slack.wait_for(
            "chat.update", predicate=lambda c: "no channel" in json.dumps(c.params)
        )
        salary = bot.sandbox.state.add_request("2003", {"Amount": 1}, "dave").id
        await bot.cycles(3)
        in_channels = [c for c in bot.cards_posted(salary) if (c.landed_in or "D")[0] in "CG"]
        assert in_channels == [], "kept to DMs: no channel shows it"


async def open_home(bot: Bot, user: str) -> None:
    body = event_callback({"type": "app_home_opened", "user": user, "tab": "home"})
    assert (await bot.post(body, content_type="application/json")).status == 200


async def test_desks_and_lists_cost_no_cflow_call_per_person(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    people = ("U0BOB", "U0CAROL", "U0ALICE", "U0DAVE")
    async with running_bot(sandbox, http, tmp_path, linked=people) as bot:
        request_id = new_expense(bot.sandbox, Description="Printer ink")
        await bot.cycles(2)
        bot.sandbox.state.clear_calls()
        for user in people:
            await open_home(bot, user)
            await open_home(bot, user)
        await bot.slack.wait_for("views.publish", count=len(people) * 2)
        assert f"#{request_id}" in json.dumps(bot.slack.home_view("U0BOB"))
        assert f"#{request_id}" not in json.dumps(bot.slack.home_view("U0CAROL")), "not hers"
        assert f"#{request_id}" in await answer_to(bot, "U0BOB", "pending")
        assert "1 waiting" in await answer_to(bot, "U0CAROL", "digest"), "her purchase order"
        by_people = [c for c in bot.sandbox.calls() if c.username != "cflow-bot"]
        assert by_people == [], "each desk is the shared listing, filtered"


async def test_an_instance_that_does_not_poll_reads_once_for_everyone(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    people = ("U0BOB", "U0CAROL", "U0ALICE", "U0DAVE")
    async with running_bot(
        sandbox, http, tmp_path, linked=people, poll=False, cflow_poll_interval=30
    ) as bot:
        await asyncio.gather(*(open_home(bot, user) for user in people * 2))
        await bot.slack.wait_for("views.publish", count=len(people) * 2)
        assert "Leave Request" in json.dumps(bot.slack.home_view("U0BOB"))
        assert len(bot.sandbox.calls("getWorkflows")) == 1, "one read, shared"
        active = [w for w in bot.sandbox.state.list_workflows() if w.status == "active"]
        assert len(bot.sandbox.calls("listRequests")) == len(active)
        assert {c.username for c in bot.sandbox.calls()} == {"cflow-bot"}


async def test_a_person_asking_too_fast_is_answered_politely(bot: Bot) -> None:
    await bot.link("U0BOB")
    said = [await answer_to(bot, "U0BOB", "pending") for _ in range(12)]
    assert "asking quickly" in said[-1]
    assert all("asking quickly" not in answer for answer in said[:10])
