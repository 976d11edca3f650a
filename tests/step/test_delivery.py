"""Delivery at Slack's real limits, in virtual time: a failure tried again after its
backoff, a 429's Retry-After waited out, and a channel's one message a second kept to.

The stand-in enforces Slack's published limits unscaled, counted in the same virtual
seconds the bot paces by: a minute of Slack's pace is a step, not a minute."""

from __future__ import annotations

from bot.outbound.limits import POSTING
from tests.harness import CHANNEL, new_expense
from tests.step.conftest import StartBot
from tests.step.harness import SteppedBot, rate_limited


def to_channel(call: object) -> bool:
    return getattr(call, "params", {}).get("channel") == CHANNEL


async def test_a_post_slack_failed_is_tried_again_after_its_backoff(bot: SteppedBot) -> None:
    bot.slack.fail_next("chat.postMessage", "internal_error", where=to_channel)
    request_id = new_expense(bot.sandbox)
    await bot.step()
    assert bot.cards_posted(request_id, CHANNEL) == [], "Slack failed it"
    assert len(bot.dms_to("U0BOB", request_id)) == 1, "the DM went all the same"
    await bot.step()
    await bot.advance(seconds=2)
    await bot.step()
    assert bot.cards_posted(request_id, CHANNEL) == [], "not before its backoff (2.5 to 5 s)"
    await bot.advance(seconds=3)
    await bot.step()
    assert len(bot.cards_posted(request_id, CHANNEL)) == 1
    assert len(bot.dms_to("U0BOB", request_id)) == 1, "what went is not sent again"
    await bot.step()
    assert len(bot.cards_posted(request_id, CHANNEL)) == 1


async def test_slacks_retry_after_delays_a_card_and_loses_nothing(bot: SteppedBot) -> None:
    bot.slack.fail_next("chat.postMessage", "ratelimited", retry_after=30, where=to_channel)
    request_id = new_expense(bot.sandbox)
    before = bot.time.monotonic()
    await bot.step()
    assert bot.time.monotonic() - before >= 30, "the bucket Slack named waited its 30 s"
    assert len(bot.cards_posted(request_id, CHANNEL)) == 1
    assert len(rate_limited(bot.slack)) == 1, "Slack's own, and no other"


async def test_sixty_cards_go_at_one_a_second_without_a_429(start: StartBot) -> None:
    bot = await start(cflow_burst_limit=100)  # each its own card, not one summary
    assert "No DMs" in await bot.command("U0BOB", "notify off")  # the channel alone
    made = [new_expense(bot.sandbox, Description=f"Item {n}") for n in range(60)]
    before = bot.time.monotonic()
    await bot.step()
    took = bot.time.monotonic() - before
    assert all(len(bot.cards_posted(r, CHANNEL)) == 1 for r in made)
    assert rate_limited(bot.slack) == []
    floor = POSTING.floor_seconds(60)  # what Slack allows: 57 s beyond its burst of 3
    assert floor <= took <= 1.1 * floor, took
