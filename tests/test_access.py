"""Who sees what, who may do what: the bot never shows or does more than Cflow would.

Each test goes through the running app (signed requests, the fake Slack, the sandbox
over HTTP) and shows one gap of the security review closed.
"""

from __future__ import annotations

import json

from bot.slack.ids import Action, MoreOption
from bot.store.base import request_lock
from tests.harness import CHANNEL, Bot, new_expense


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
