"""What comes due with time, after hours and days of virtual time: reminders, an
escalation, and the hand-over of an away reviewer's requests to their delegate.

The bot's follow-ups run after each cycle from its clock; here that clock is virtual,
so a day is `advance(hours=24)` and one step, and "not yet" is the step just before."""

from __future__ import annotations

import json

from bot.devtools.slack_standin.slack import SlackCall
from tests.harness import CHANNEL, mentions, new_expense
from tests.step.conftest import StartBot
from tests.step.harness import SteppedBot, la, ts_of


def reminders_to(bot: SteppedBot, user: str, request_id: str) -> list[SlackCall]:
    return [c for c in bot.dms_to(user, request_id) if "Reminder" in json.dumps(c.params)]


async def test_reminders_come_after_the_hours_set_then_every_day_at_most_twice(
    start: StartBot,
) -> None:
    bot = await start(cflow_remind_after=2, cflow_remind_every=24, cflow_remind_max=2)
    request_id = new_expense(bot.sandbox, Description="Hotel")
    await bot.step()
    await bot.advance(hours=1, minutes=59)
    await bot.step()
    assert reminders_to(bot, "U0BOB", request_id) == []
    await bot.advance(minutes=2)
    await bot.step()
    assert len(reminders_to(bot, "U0BOB", request_id)) == 1
    await bot.advance(hours=23)
    await bot.step()
    assert len(reminders_to(bot, "U0BOB", request_id)) == 1, "not every cycle"
    await bot.advance(hours=1)
    await bot.step()
    assert len(reminders_to(bot, "U0BOB", request_id)) == 2
    await bot.advance(hours=48)
    await bot.step()
    assert len(reminders_to(bot, "U0BOB", request_id)) == 2, "at most CFLOW_REMIND_MAX"


async def test_a_decided_request_is_reminded_no_more(start: StartBot) -> None:
    bot = await start(cflow_remind_after=2)
    request_id = new_expense(bot.sandbox, Description="Taxi")
    await bot.step()
    await bot.advance(hours=1)
    bot.sandbox.state.approve("1001", request_id, "bob")
    await bot.step()
    await bot.advance(hours=72)
    await bot.step()
    assert reminders_to(bot, "U0BOB", request_id) == []


async def test_an_escalation_comes_once_in_the_cards_thread(start: StartBot) -> None:
    bot = await start(cflow_escalate_after=4)
    request_id = new_expense(bot.sandbox, Description="Flights")
    await bot.step()
    [card] = bot.cards_posted(request_id, CHANNEL)

    def escalations() -> list[str]:
        return [line for line in bot.thread_of(ts_of(card)) if "⏫" in line]

    await bot.advance(hours=3, minutes=59)
    await bot.step()
    assert escalations() == []
    await bot.advance(minutes=2)
    await bot.step()
    [line] = escalations()
    assert "<@U0BOB>" in line and "4 hours" in line
    await bot.advance(hours=24)
    await bot.step()
    assert len(escalations()) == 1


async def test_an_away_reviewers_request_is_handed_to_their_delegate(bot: SteppedBot) -> None:
    answer = await bot.command("U0BOB", "away until 2026-12-10 to @carol")
    assert "away through Thu 10 Dec" in answer and "<@U0CAROL>" in answer
    request_id = new_expense(bot.sandbox, Description="While bob is away")
    await bot.step()
    [call] = bot.sandbox.calls("approveRequest")
    assert call.username == "bob" and call.body["reassignTo"] == "carol", "as bob himself"
    assert bot.sandbox.state.get_request("1001", request_id).current_reviewers == ["carol"]
    [card] = bot.cards_posted(request_id, CHANNEL)
    lines = bot.thread_of(ts_of(card))
    assert any("Handed to carol for bob (away until Thu 10 Dec)" in line for line in lines)
    [told] = bot.dms_to("U0CAROL", request_id)
    assert mentions(told.params, request_id)
    await bot.step()
    assert len(bot.sandbox.calls("approveRequest")) == 1, "handed once"

    await bot.time.advance_to(la(11, 9))  # bob is back: his requests stay his
    later = new_expense(bot.sandbox, Description="After bob is back")
    await bot.step()
    assert bot.sandbox.state.get_request("1001", later).current_reviewers == ["bob"]
    assert len(bot.sandbox.calls("approveRequest")) == 1
