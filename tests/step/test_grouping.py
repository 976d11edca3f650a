"""Grouping at Slack's real limits: more new requests than the group limit (5) in one cycle
share one summary in the channel and one grouped DM per reviewer, kept current as they
are decided; a request arriving alone afterwards has its own card again."""

from __future__ import annotations

import json

from bot.blocks.ids import Action
from tests.harness import CHANNEL, has_button, new_expense
from tests.step.harness import SteppedBot, rate_limited

LIMIT = 5  # CFLOW_BURST_LIMIT's default, which the step tier keeps


async def test_more_than_the_limit_share_one_summary_and_one_grouped_dm(bot: SteppedBot) -> None:
    waiting = [new_expense(bot.sandbox, Description=f"Taxi {n}") for n in range(12)]
    await bot.step()
    [summary_call] = bot.channel_posts()
    summary = bot.message_of(summary_call)
    assert has_button(summary, Action.ROUNDUP_LIST)
    assert "12 new requests" in json.dumps(summary.blocks)
    [grouped] = bot.dms_to("U0BOB")
    listed = json.dumps(grouped.params["blocks"])
    assert all(f"#{r}" in listed for r in waiting[:LIMIT]), "each with its own buttons"
    assert all(bot.cards_posted(r) == [] for r in waiting), "no card, no DM of its own"
    assert rate_limited(bot.slack) == []

    bot.sandbox.state.approve("1001", waiting[0], "bob")
    await bot.step()
    assert "11 of 12 still waiting" in json.dumps(bot.message_of(summary_call).blocks)
    assert len(bot.channel_posts()) == 1 and len(bot.dms_to("U0BOB")) == 1, "edited, not sent"

    alone = new_expense(bot.sandbox, Description="One more")
    await bot.step()
    assert len(bot.cards_posted(alone, CHANNEL)) == 1 and len(bot.dms_to("U0BOB", alone)) == 1
