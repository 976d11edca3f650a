"""Who sees what, who may do what: the bot never shows or does more than Cflow would.

Each test goes through the running app (signed requests, the fake Slack, the sandbox
over HTTP) and shows one gap of the security review closed.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import aiohttp

from bot.slack.ids import Action, MoreOption
from bot.standin.payloads import slash_command
from bot.store.base import request_lock
from tests.harness import CHANNEL, Bot, Sandbox, new_expense, running_bot
from tests.test_bursts import BURSTS, backlog, posted


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
    body = slash_command(user, text, response_url=bot.slack.response_url(user))
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
    async with running_bot(sandbox, http, tmp_path, **BURSTS) as bot:
        summary = await posted(bot.slack, "burst", channel=CHANNEL)
        elsewhere = replace(summary, channel="C0ELSEWHERE")
        await bot.click("U0CAROL", elsewhere, Action.BURST_LIST)
        [answer] = await bot.slack.wait_for("response_url")
        shown = json.dumps(answer.params)
        assert "only in the channel it was posted in" in shown
        assert "requests of this burst" not in shown and "Expense Claim" not in shown
        await bot.click("U0CAROL", summary, Action.BURST_LIST)  # where it was posted: listed
        await bot.slack.wait_for("response_url", count=2)
        listed = json.dumps(bot.slack.calls("response_url")[-1].params)
        assert "requests of this burst" in listed and "Expense Claim" in listed
