"""Nothing waits forever: reminders, escalation, out of office, and how long approvals take.

Through the running bot with an injected clock, which the sandbox's Cflow follows too
(its requests' times are the test's): signed `/cflow` commands and clicks, what reaches
each person read back from the Slack stand-in, "nothing was sent" shown by completed
poll cycles. The stand-in's people live in Los Angeles.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC
from pathlib import Path

import aiohttp
import pytest

from bot.blocks.ids import Action, Input
from bot.devtools.slack_standin.payloads import slash_command
from bot.devtools.slack_standin.slack import SlackCall
from tests.harness import (
    Bot,
    Sandbox,
    mentions,
    new_expense,
    run_cli_async,
    running_bot,
    submit_view,
)
from tests.test_home import click, open_home
from tests.test_notify import Clock, block_with, command, dms_to, la

PEOPLE = ("U0BOB", "U0CAROL", "U0DAVE", "U0ALICE")


@pytest.fixture
def clock() -> Clock:
    return Clock(la(4, 10))  # Friday 4 December 2026, 10:00 in Los Angeles


@pytest.fixture
async def bot(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path, clock: Clock
) -> AsyncIterator[Bot]:
    sandbox.state.clock = clock  # Cflow's times are the test's too
    async with running_bot(
        sandbox,
        http,
        tmp_path,
        linked=PEOPLE,
        clock=clock,
        cflow_bot_admins="U0ALICE",
        cflow_remind_after=25,
        cflow_remind_every=24,
        cflow_remind_max=2,
        cflow_escalate_after=0,
    ) as running:
        await running.cycles(2)
        yield running


def reminders_to(bot: Bot, user: str, request_id: str) -> list[SlackCall]:
    return dms_to(
        bot, user, lambda c: "Reminder" in json.dumps(c.params) and mentions(c.params, request_id)
    )


@pytest.mark.slow
async def test_25_working_hours_remind_once_never_at_night_or_on_sunday(
    bot: Bot, clock: Clock
) -> None:
    await command(bot, "U0BOB", "notify quiet 18:00-09:00")
    await command(bot, "U0BOB", "notify days mon-fri")
    request_id = new_expense(bot.sandbox, Description="Hotel")
    await bot.channel_card(request_id)
    # Friday 10-18 is 8 working hours, Monday 9; 25 are reached on Tuesday at 17:00.
    for moment in (la(5, 2), la(6, 12), la(7, 2), la(7, 18), la(8, 16, 59)):
        clock.set(moment)
        await bot.cycles(2)
        assert reminders_to(bot, "U0BOB", request_id) == [], moment
    clock.set(la(8, 17))
    await bot.cycles(2)
    assert len(reminders_to(bot, "U0BOB", request_id)) == 1
    clock.set(la(9, 10))
    await bot.cycles(2)
    assert len(reminders_to(bot, "U0BOB", request_id)) == 1  # once, not every cycle
    bot.sandbox.state.approve("1001", request_id, "bob")
    await bot.cycles(2)
    clock.set(la(11, 12))  # past the second reminder's time: approved, none comes
    await bot.cycles(3)
    assert len(reminders_to(bot, "U0BOB", request_id)) == 1


@pytest.mark.slow
async def test_a_reminder_can_be_put_off_for_an_hour(bot: Bot, clock: Clock) -> None:
    request_id = new_expense(bot.sandbox, Description="Taxi")
    await bot.channel_card(request_id)
    clock.set(la(5, 11, 1))  # 25 hours on: bob has no quiet hours
    await bot.cycles(2)
    [reminder] = reminders_to(bot, "U0BOB", request_id)
    message = bot.slack.message(reminder.landed_in or "", reminder.response["ts"])
    assert message is not None
    await bot.click("U0BOB", message, Action.SNOOZE)  # the first: "in 1 hour"
    answer = await bot.slack.wait_for("response_url")
    assert "remind you again Sat 12:01" in answer[-1].params["text"]
    await bot.cycles(2)
    assert len(reminders_to(bot, "U0BOB", request_id)) == 1
    clock.set(la(5, 12, 2))
    await bot.cycles(2)
    assert len(reminders_to(bot, "U0BOB", request_id)) == 2


@pytest.mark.slow
async def test_an_escalation_mentions_the_contacts_once(bot: Bot, clock: Clock) -> None:
    bot.slack.add_user_group("S0FINANCE", "finance")
    answer = await command(bot, "U0ALICE", "escalate Expense @carol @finance after 48")
    assert "calling on <@U0CAROL> <!subteam^S0FINANCE>" in answer
    assert "Only the bot's admins" in await command(bot, "U0BOB", "escalate Expense off")
    request_id = new_expense(bot.sandbox, Description="Flights")
    card = await bot.channel_card(request_id)

    def escalations() -> list[SlackCall]:
        return [
            c
            for c in bot.slack.calls("chat.postMessage")
            if c.params.get("thread_ts") == card.ts and "⏫" in c.params.get("text", "")
        ]

    clock.set(la(6, 9))  # 47 hours
    await bot.cycles(2)
    assert escalations() == []
    clock.set(la(6, 10, 1))
    await bot.cycles(2)
    [line] = escalations()
    text = line.params["text"]
    assert "Waiting 2 days" in text and "<@U0BOB>" in text
    assert "<@U0CAROL>" in text and "<!subteam^S0FINANCE>" in text
    clock.set(la(7, 10))
    await bot.cycles(2)
    assert len(escalations()) == 1
    metrics = bot.services.metrics.render().decode()
    assert 'cflow_bot_followups_total{how="thread",kind="escalation"} 1.0' in metrics


@pytest.mark.slow
async def test_stats_show_the_medians_of_what_was_decided(
    bot: Bot, clock: Clock, tmp_path: Path
) -> None:
    made = [new_expense(bot.sandbox, Description=f"Stats {n}") for n in range(3)]
    for request_id in made:
        await bot.channel_card(request_id)
    for hours, request_id in zip((1, 2, 6), made, strict=True):
        clock.set(la(4, 10 + hours))
        bot.sandbox.state.approve("1001", request_id, "bob")
        await bot.cycles(2)
    answer = json.dumps(await stats_answer(bot, "U0BOB", "stats Expense 7"), ensure_ascii=False)
    assert "3 decided, median 2 hours, 90% within 6 hours" in answer
    assert "Waiting longest" in answer  # the demo's own requests still wait
    # The same record, for a spreadsheet: one row per stay at a stage.
    env = {"DATABASE_URL": bot.running.settings.database_url}
    code, out, err = await run_cli_async("export", "--since", "2026-12-01", env=env, cwd=tmp_path)
    assert code == 0, err
    rows = {row["request_id"]: row for row in csv.DictReader(io.StringIO(out))}
    assert [rows[r]["waited_hours"] for r in made] == ["1.00", "2.00", "6.00"]
    assert {rows[r]["outcome"] for r in made} == {"approved"}


async def stats_answer(bot: Bot, user: str, text: str) -> dict:
    await command(bot, user, text)
    return bot.slack.calls("response_url")[-1].params


@pytest.mark.slow
async def test_an_away_reviewers_request_goes_to_their_delegate_as_them(
    bot: Bot, clock: Clock
) -> None:
    answer = await command(bot, "U0BOB", "away until 2026-12-10 to @carol")
    assert "away through Thu 10 Dec" in answer and "<@U0CAROL>" in answer
    request_id = new_expense(bot.sandbox, Description="While bob is away")
    card = await bot.channel_card(request_id)
    handed = await bot.slack.wait_for(
        "chat.postMessage",
        predicate=lambda c: (
            c.params.get("thread_ts") == card.ts and "Handed to" in c.params["text"]
        ),
    )
    assert "Handed to carol for bob (away until Thu 10 Dec)" in handed[0].params["text"]
    [call] = [c for c in bot.sandbox.calls("approveRequest") if request_id in c.path]
    assert call.username == "bob" and call.body["reassignTo"] == "carol", "as bob himself"
    assert bot.sandbox.state.get_request("1001", request_id).current_reviewers == ["carol"]
    await bot.slack.wait_for(  # and carol, whose it is now, is told
        "chat.postMessage",
        predicate=lambda c: (
            c.landed_in == bot.slack.dm_channel("U0CAROL") and mentions(c.params, request_id)
        ),
    )
    await bot.cycles(3)
    assert len([c for c in bot.sandbox.calls("approveRequest") if request_id in c.path]) == 1
    metrics = bot.services.metrics.render().decode().splitlines()
    handed = 'cflow_bot_followups_total{how="handed",kind="handover"}'
    counted = [line.split()[-1] for line in metrics if line.startswith(handed)]
    reassigned = 'cflow_bot_actions_total{action="reassigned",outcome="done"}'
    reassigned_count = [line.split()[-1] for line in metrics if line.startswith(reassigned)]
    assert counted == reassigned_count != [], "each hand-over (the demo's too) counted once"
    clock.set(la(11, 9))  # back: nothing is handed any more
    later = new_expense(bot.sandbox, Description="After bob is back")
    await bot.channel_card(later)
    await bot.cycles(3)
    assert bot.sandbox.state.get_request("1001", later).current_reviewers == ["bob"]


async def test_a_delegate_never_makes_a_loop_nor_is_oneself(bot: Bot) -> None:
    await command(bot, "U0CAROL", "away until 2026-12-10 to @bob")
    looping = await command(bot, "U0BOB", "away until 2026-12-10 to @carol")
    assert "that would loop" in looping
    assert "someone else" in await command(bot, "U0BOB", "away until 2026-12-10 to @bob")
    assert "YYYY-MM-DD" in await command(bot, "U0BOB", "away until next week")


@pytest.mark.slow
async def test_a_delegates_own_delegate_is_never_followed(bot: Bot) -> None:
    """bob away -> carol, carol away -> dave: bob's request is never dave's (bob never
    named him, and dave submitted it); it waits, and bob's DM says why."""
    await command(bot, "U0BOB", "away until 2026-12-10 to @carol")
    await command(bot, "U0CAROL", "away until 2026-12-09 to @dave")
    again = await command(bot, "U0BOB", "away until 2026-12-10 to @carol")
    assert "<@U0CAROL> is away too (back Thu 10 Dec): until then your requests wait" in again
    request_id = new_expense(bot.sandbox, Description="dave's own")
    await bot.channel_card(request_id)
    why = await bot.slack.wait_for(
        "chat.postMessage",
        predicate=lambda c: (
            c.landed_in == bot.slack.dm_channel("U0BOB")
            and "waits for you" in c.params.get("text", "")
            and mentions(c.params, request_id)
        ),
    )
    assert "<@U0CAROL> is away too (back Thu 10 Dec)" in why[0].params["text"]
    await bot.cycles(3)
    assert [c for c in bot.sandbox.calls("approveRequest") if request_id in c.path] == []
    assert bot.sandbox.state.get_request("1001", request_id).current_reviewers == ["bob"]
    told = dms_to(
        bot,
        "U0BOB",
        lambda c: "waits for you" in json.dumps(c.params) and mentions(c.params, request_id),
    )
    assert len(told) == 1, "once per stage visit, not once per cycle"


async def test_a_request_is_never_handed_to_its_own_submitter(bot: Bot) -> None:
    await command(bot, "U0BOB", "away until 2026-12-10 to @dave")
    request_id = new_expense(bot.sandbox, Description="submitted by dave")
    await bot.channel_card(request_id)
    why = await bot.slack.wait_for(
        "chat.postMessage",
        predicate=lambda c: (
            c.landed_in == bot.slack.dm_channel("U0BOB") and mentions(c.params, request_id)
        ),
    )
    assert "<@U0DAVE> submitted it" in why[0].params["text"]
    await bot.cycles(3)
    assert [c for c in bot.sandbox.calls("approveRequest") if request_id in c.path] == []
    mine = bot.sandbox.state.add_request("1001", {"Amount": 5}, "alice").id
    await bot.channel_card(mine)
    # Alice's request does go to dave, as bob chose. Not timed: on a busy machine (four
    # test processes on two cores) it was once seen to take the slower way, through
    # Slack's history and the delivery's retries (up to 5, 10, 20 s apart), past 20 s.
    await bot.slack.wait_for(
        "chat.postMessage",
        predicate=lambda c: "Handed to dave for bob" in c.params.get("text", ""),
        timeout=60,
    )
    assert bot.sandbox.state.get_request("1001", mine).current_reviewers == ["dave"]


async def test_away_to_at_bob_works_as_the_manifest_makes_slack_send_it(bot: Bot) -> None:
    """The README's `/cflow away until DATE to @person`, typed as a person types it."""
    answer = await command(bot, "U0CAROL", "away until 2026-12-10 to @bob")
    assert "handed to <@U0BOB> in Cflow" in answer
    assert (await bot.services.notify.of("U0CAROL")).delegate == "U0BOB"
    # Slack's newer form of a mention carries no name: the same person.
    await command(bot, "U0CAROL", "back")
    bot.slack.clear()
    body = slash_command(
        "U0CAROL",
        "away until 2026-12-10 to <@U0BOB>",
        response_url=bot.slack.response_url("U0CAROL"),
    )
    assert (await bot.post(body)).status == 200
    [answer] = await bot.slack.wait_for("response_url")
    assert "handed to <@U0BOB> in Cflow" in answer.params["text"]
    assert (await bot.services.notify.of("U0CAROL")).delegate == "U0BOB"


@pytest.mark.slow
async def test_without_a_delegate_their_dms_wait_and_the_card_says_so(
    bot: Bot, clock: Clock
) -> None:
    await command(bot, "U0BOB", "away until 2026-12-07")
    request_id = new_expense(bot.sandbox, Description="Nobody to hand it to")
    card = await bot.channel_card(request_id)
    assert "Away: bob until Mon 07 Dec" in json.dumps(card.blocks)
    await bot.cycles(3)
    assert dms_to(bot, "U0BOB", lambda c: mentions(c.params, request_id)) == []
    assert "Welcome back" in await command(bot, "U0BOB", "back")
    await bot.cycles(2)
    assert len(dms_to(bot, "U0BOB", lambda c: mentions(c.params, request_id))) == 1


async def test_out_of_office_from_the_home_tab(bot: Bot) -> None:
    view = await open_home(bot, "U0BOB")
    assert "In the office" in json.dumps(view["blocks"])
    away = {"action_id": Action.AWAY, "block_id": block_with(view, Action.AWAY), "type": "button"}
    await click(bot, "U0BOB", view | {"id": "VHOME"}, away)
    opened = await bot.slack.wait_for("views.open", predicate=lambda c: not c.failed)
    modal = opened[-1].params["view"] | {"private_metadata": ""}
    past = {Input.AWAY_UNTIL: {"type": "datepicker", "selected_date": "2026-11-30"}}
    shown = await submit_view(bot, "U0BOB", modal, past)
    assert shown["errors"] == {
        Input.AWAY_UNTIL: "That day is over already: give a day from today on."
    }
    before = len(bot.slack.calls("views.publish"))
    chosen = {
        Input.AWAY_UNTIL: {"type": "datepicker", "selected_date": "2026-12-10"},
        Input.DELEGATE: {"type": "users_select", "selected_user": "U0CAROL"},
    }
    assert await submit_view(bot, "U0BOB", modal, chosen) == {}
    await bot.slack.wait_for("views.publish", count=before + 1)
    tab = json.dumps(bot.slack.home_view("U0BOB"), ensure_ascii=False)
    assert "away through Thu 10 Dec; requests go to <@U0CAROL>" in tab
    stored = (await bot.services.store.preferences_for(["U0BOB"]))["U0BOB"]
    assert stored.delegate == "U0CAROL" and stored.away_until == la(11, 0).astimezone(UTC)


@pytest.mark.slow
async def test_a_workflow_can_have_its_own_reminder_time(bot: Bot, clock: Clock) -> None:
    answer = await command(bot, "U0ALICE", "remind Expense 2")
    assert "reminded after 2 working hours" in answer
    assert "Only the bot's admins" in await command(bot, "U0BOB", "remind Expense 1")
    request_id = new_expense(bot.sandbox, Description="Two hours")
    await bot.channel_card(request_id)
    clock.set(la(4, 11, 59))
    await bot.cycles(2)
    assert reminders_to(bot, "U0BOB", request_id) == []
    clock.set(la(4, 12, 1))
    await bot.cycles(2)
    assert len(reminders_to(bot, "U0BOB", request_id)) == 1
    assert "no reminders" in await command(bot, "U0ALICE", "remind Expense off")
    quiet = new_expense(bot.sandbox, Description="No reminders now")
    await bot.channel_card(quiet)
    clock.set(la(7, 12))
    await bot.cycles(3)
    assert reminders_to(bot, "U0BOB", quiet) == []
    assert len(reminders_to(bot, "U0BOB", request_id)) == 1, "nor the next of the first one"


@pytest.mark.slow
async def test_someone_who_takes_no_dms_is_reminded_in_the_cards_thread(
    bot: Bot, clock: Clock
) -> None:
    await command(bot, "U0BOB", "notify off")
    request_id = new_expense(bot.sandbox, Description="Thread reminder")
    card = await bot.channel_card(request_id)
    clock.set(la(5, 11, 1))
    await bot.cycles(2)

    def lines() -> list[str]:
        return [
            c.params["text"]
            for c in bot.slack.calls("chat.postMessage")
            if c.params.get("thread_ts") == card.ts and "⏰" in c.params.get("text", "")
        ]

    assert lines() == ["⏰ <@U0BOB>: this has waited 1 day for you."]
    assert reminders_to(bot, "U0BOB", request_id) == []
    clock.set(la(5, 23))  # the next one counts from this one: not yet
    await bot.cycles(2)
    assert len(lines()) == 1
    clock.set(la(6, 11, 2))
    await bot.cycles(2)
    assert len(lines()) == 2


async def test_a_request_arriving_while_the_bot_runs_is_reminded_after_the_time_set(
    bot: Bot, clock: Clock
) -> None:
    answer = await command(bot, "U0ALICE", "remind Expense 0.5")
    assert "reminded after 0.5 working hours" in answer
    request_id = new_expense(bot.sandbox, Description="Half an hour")
    await bot.channel_card(request_id)
    clock.set(la(4, 10, 29))
    await bot.cycles(2)
    assert reminders_to(bot, "U0BOB", request_id) == []
    clock.set(la(4, 10, 31))  # half an hour on, not the hour the first start's backlog waits
    await bot.cycles(2)
    assert len(reminders_to(bot, "U0BOB", request_id)) == 1


async def test_the_backlog_found_at_first_start_waits_an_hour_for_its_first_reminder(
    bot: Bot, clock: Clock
) -> None:
    backlog = [
        r.id
        for r in bot.sandbox.state.requests["1001"].values()
        if r.status == "pending" and r.current_stage == "1001-1"
    ]
    assert backlog, "the demo's Expense Claims waiting on bob, days old at first start"
    clock.set(la(4, 10, 59))
    await bot.cycles(2)
    assert [r for r in backlog if reminders_to(bot, "U0BOB", r)] == []
    clock.set(la(4, 11, 1))
    await bot.cycles(2)
    assert all(reminders_to(bot, "U0BOB", r) for r in backlog)
