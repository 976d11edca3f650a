"""When people are told, by their own clock: a digest at the hour they chose, and a DM
held through their quiet hours until morning. Their time zone is Slack's (Los Angeles
for the stand-in's people); the hours pass in virtual time."""

from __future__ import annotations

import json

from bot.devtools.slack_standin.slack import SlackCall
from tests.harness import new_expense
from tests.step.harness import SteppedBot, la


def digests_to(bot: SteppedBot, user: str) -> list[SlackCall]:
    return [c for c in bot.dms_to(user) if "Cflow digest" in json.dumps(c.params)]


async def test_a_digest_comes_at_the_chosen_hour_with_everything_waiting(bot: SteppedBot) -> None:
    assert "One digest a day at 09:00" in await bot.command("U0BOB", "notify digest 09:00")
    first = new_expense(bot.sandbox, Description="Train tickets")
    second = bot.sandbox.state.add_request("1002", {"Vendor": "Acme", "Amount": 5}, "dave").id
    await bot.step()
    assert bot.dms_to("U0BOB") == [], "no DM per request"
    await bot.time.advance_to(la(2, 8, 59))
    await bot.step()
    assert digests_to(bot, "U0BOB") == []
    await bot.time.advance_to(la(2, 9))
    await bot.step()
    [digest] = digests_to(bot, "U0BOB")
    assert f"#{first}" in json.dumps(digest.params) and f"#{second}" in json.dumps(digest.params)
    await bot.time.advance_to(la(2, 15))
    await bot.step()
    assert len(digests_to(bot, "U0BOB")) == 1, "once a day"
    await bot.time.advance_to(la(3, 9, 1))
    await bot.step()
    assert len(digests_to(bot, "U0BOB")) == 2, "and the next day's"
    assert [c for c in bot.dms_to("U0BOB") if c not in digests_to(bot, "U0BOB")] == []


async def test_quiet_hours_hold_a_dm_until_morning(bot: SteppedBot) -> None:
    answer = await bot.command("U0BOB", "notify quiet 22:00-07:00")
    assert "quiet 22:00–07:00" in answer and "America/Los_Angeles" in answer
    await bot.time.advance_to(la(1, 23))
    request_id = new_expense(bot.sandbox, Description="Late taxi")
    await bot.step()
    assert len(bot.channel_posts()) == 1, "the channel is told at once"
    assert bot.dms_to("U0BOB", request_id) == []
    await bot.time.advance_to(la(2, 6, 59))
    await bot.step()
    assert bot.dms_to("U0BOB", request_id) == []
    await bot.time.advance_to(la(2, 7))
    await bot.step()
    assert len(bot.dms_to("U0BOB", request_id)) == 1
    await bot.time.advance_to(la(2, 8))
    await bot.step()
    assert len(bot.dms_to("U0BOB", request_id)) == 1, "once"
