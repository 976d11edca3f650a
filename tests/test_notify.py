"""How people are told: a DM each, a daily digest, none; quiet hours and working days.

Through the running bot with an injected clock (the time people are told by): signed
`/cflow notify` and `/cflow digest` commands, Home-tab clicks and the settings modal's
submission; what reaches each person is read back from the Slack stand-in. "Nothing was
sent" is shown by completed poll cycles. The stand-in's people live in Los Angeles.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from bot.blocks.card_actions import BUSY_BLOCK
from bot.blocks.ids import Action, Input, View
from bot.blocks.roundups import ITEM_BLOCK
from bot.devtools.slack_standin.payloads import as_slack_sends, slash_command
from bot.devtools.slack_standin.slack import SlackCall
from tests.harness import (
    CHANNEL,
    Bot,
    Sandbox,
    mentions,
    new_expense,
    running_bot,
    submit_view,
)
from tests.test_home import click, open_home

LA = ZoneInfo("America/Los_Angeles")


class Clock:
    """The bot's clock, set by the test."""

    def __init__(self, local: datetime) -> None:
        self.now = local.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now

    def set(self, local: datetime) -> None:
        self.now = local.astimezone(UTC)


# Tuesday 1 December 2026, in Los Angeles.
def la(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=LA)


@pytest.fixture
def clock() -> Clock:
    return Clock(la(1, 23))


@pytest.fixture
async def bot(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path, clock: Clock
) -> AsyncIterator[Bot]:
    linked = ("U0BOB", "U0CAROL", "U0DAVE", "U0ALICE")
    async with running_bot(
        sandbox, http, tmp_path, linked=linked, clock=clock, cflow_bot_admins="U0ALICE"
    ) as running:
        await running.cycles(2)  # the demo's pending requests are out: what follows is new
        yield running


async def command(bot: Bot, user: str, text: str) -> str:
    """Type `/cflow <text>` as `user` (sent as Slack sends it); the text of the answer."""
    before = len(bot.slack.calls("response_url"))
    body = slash_command(
        user,
        as_slack_sends(text, bot.slack),
        response_url=bot.slack.response_url(user),
        trigger_id=bot.slack.trigger_for(user),
    )
    assert (await bot.post(body)).status == 200
    answers = await bot.slack.wait_for("response_url", count=before + 1)
    return str(answers[-1].params.get("text"))


def dms_to(
    bot: Bot, user: str, about: Callable[[SlackCall], bool] = lambda c: True
) -> list[SlackCall]:
    dm = bot.slack.dm_channel(user)
    return [
        c
        for c in bot.slack.calls("chat.postMessage")
        if c.landed_in == dm and not c.failed and about(c)
    ]


def about(request_id: str) -> Callable[[SlackCall], bool]:
    return lambda c: mentions(c.params, request_id)


def is_digest(call: SlackCall) -> bool:
    return "Cflow digest" in json.dumps(call.params)


@pytest.mark.slow
async def test_a_reviewer_in_quiet_hours_is_told_when_they_are_back(bot: Bot, clock: Clock) -> None:
    answer = await command(bot, "U0BOB", "notify quiet 22:00-07:00")
    assert "quiet 22:00–07:00" in answer and "America/Los_Angeles" in answer
    request_id = new_expense(bot.sandbox, Description="Late taxi")
    await bot.channel_card(request_id)  # the channel is told at once
    await bot.cycles(3)
    assert dms_to(bot, "U0BOB", about(request_id)) == []  # 23:00 for bob: it waits
    clock.set(la(2, 7))
    await bot.cycles(2)
    assert len(dms_to(bot, "U0BOB", about(request_id))) == 1
    clock.set(la(2, 8))
    await bot.cycles(2)
    assert len(dms_to(bot, "U0BOB", about(request_id))) == 1  # once


async def test_an_outcome_waits_for_the_submitters_next_working_day(bot: Bot, clock: Clock) -> None:
    await command(bot, "U0DAVE", "notify days mon-fri")
    clock.set(la(6, 11))  # a Sunday
    request_id = new_expense(bot.sandbox, Description="Conference ticket")
    await bot.channel_card(request_id)
    bot.sandbox.state.approve("1001", request_id, "bob")
    await bot.cycles(3)
    assert dms_to(bot, "U0DAVE", about(request_id)) == []
    clock.set(la(7, 0, 1))  # Monday
    await bot.cycles(2)
    told = dms_to(bot, "U0DAVE", about(request_id))
    assert len(told) == 1 and "approved" in json.dumps(told[0].params).lower()


async def test_off_means_no_dm_but_the_channel_card(bot: Bot, clock: Clock) -> None:
    clock.set(la(2, 10))
    assert "No DMs" in await command(bot, "U0CAROL", "notify off")
    request_id = bot.sandbox.state.add_request("1002", {"Vendor": "Acme", "Amount": 5}, "dave").id
    await bot.channel_card(request_id)
    bot.sandbox.state.approve("1002", request_id, "bob")  # now at carol's stage
    await bot.cycles(3)
    assert dms_to(bot, "U0CAROL", about(request_id)) == []
    assert len(dms_to(bot, "U0BOB", about(request_id))) == 1


@pytest.mark.slow
async def test_a_digest_reviewer_gets_one_dm_at_nine_and_none_per_request(
    bot: Bot, clock: Clock
) -> None:
    clock.set(la(2, 8))
    answer = await command(bot, "U0BOB", "notify digest 09:00")
    assert "One digest a day at 09:00" in answer
    first = new_expense(bot.sandbox, Description="Train tickets")
    second = bot.sandbox.state.add_request("1002", {"Vendor": "Acme", "Amount": 5}, "dave").id
    await bot.channel_card(first)
    await bot.channel_card(second)
    await bot.cycles(3)
    assert dms_to(bot, "U0BOB", lambda c: mentions(c.params, first) or is_digest(c)) == []
    clock.set(la(2, 9))
    await bot.cycles(2)
    digests = dms_to(bot, "U0BOB", is_digest)
    assert len(digests) == 1
    listed = json.dumps(digests[0].params)
    waiting = [
        r.id
        for w in ("1001", "1002", "1003")
        for r in bot.sandbox.state.list_requests(w)
        if r.status == "pending" and "bob" in r.current_reviewers
    ]
    assert len(waiting) >= 3 and all(f"#{rid}" in listed for rid in waiting)
    assert dms_to(bot, "U0BOB", lambda c: mentions(c.params, first) and not is_digest(c)) == []
    # Its buttons are a card's: Approve decides in Cflow as bob, and the digest follows.
    message = bot.slack.message(digests[0].landed_in or "", digests[0].response["ts"])
    assert message is not None
    await bot.click("U0BOB", message, Action.APPROVE, block_id=f"{ITEM_BLOCK}:{first}")
    await bot.slack.wait_for(  # the digest no longer offers it: decided, as bob
        "chat.update",
        predicate=lambda c: (
            c.params.get("ts") == message.ts
            and not c.failed
            and f"{ITEM_BLOCK}:{first}" not in json.dumps(c.params)
            and BUSY_BLOCK not in json.dumps(c.params)  # the outcome, not "Approving as"
        ),
    )
    assert bot.sandbox.state.requests["1001"][first].status == "approved"
    assert [c.username for c in bot.sandbox.calls("approveRequest")] == ["bob"]
    clock.set(la(2, 15))
    await bot.cycles(2)
    assert len(dms_to(bot, "U0BOB", is_digest)) == 1  # once a day
    clock.set(la(3, 9, 1))
    await bot.cycles(2)
    assert len(dms_to(bot, "U0BOB", is_digest)) == 2  # and the next day's


async def test_on_digest_a_last_stage_request_still_comes_when_asked(
    bot: Bot, clock: Clock
) -> None:
    clock.set(la(2, 10))
    await command(bot, "U0BOB", "notify digest 09:00 final")
    last = new_expense(bot.sandbox, Description="Expense claims have one stage")
    first = bot.sandbox.state.add_request("1002", {"Vendor": "Acme", "Amount": 5}, "dave").id
    await bot.channel_card(first)
    await bot.slack.wait_for(
        "chat.postMessage",
        predicate=lambda c: (
            c.landed_in == bot.slack.dm_channel("U0BOB") and mentions(c.params, last)
        ),
    )
    await bot.cycles(2)
    assert dms_to(bot, "U0BOB", about(first)) == []


async def test_digest_now_sends_what_waits_on_the_caller(bot: Bot) -> None:
    answer = await command(bot, "U0BOB", "digest")
    assert "Your digest is in your DM" in answer
    digests = dms_to(bot, "U0BOB", is_digest)
    assert len(digests) == 1 and Action.APPROVE in json.dumps(digests[0].params)
    assert "Nothing is waiting" in await command(bot, "U0DAVE", "digest")


async def test_a_channel_digest_is_posted_daily_for_admins_only(bot: Bot, clock: Clock) -> None:
    clock.set(la(2, 10))
    refused = await command(bot, "U0BOB", "digest #approvals daily 09:30")
    assert "Only the bot's admins" in refused
    answer = await command(bot, "U0ALICE", "digest #approvals daily 09:30")
    assert "every day at 09:30 (America/Los_Angeles" in answer

    def summaries() -> list[SlackCall]:
        return [
            c
            for c in bot.slack.calls("chat.postMessage")
            if c.params.get("channel") == CHANNEL and is_digest(c) and not c.failed
        ]

    await bot.cycles(2)
    assert summaries() == []
    clock.set(la(3, 9, 30))
    await bot.cycles(2)
    posted = summaries()
    assert len(posted) == 1 and "waiting" in json.dumps(posted[0].params)
    assert "Waiting on" in json.dumps(posted[0].params)
    clock.set(la(3, 12))
    await bot.cycles(2)
    assert len(summaries()) == 1
    assert "daily digest is off" in await command(bot, "U0ALICE", "digest #approvals off")


async def test_a_channel_digest_names_only_the_workflows_routed_to_it(
    bot: Bot, clock: Clock
) -> None:
    """#finance gets purchase orders only: on a day when none waits, its digest is not
    the leave and expense requests of everyone else."""
    bot.slack.add_channel("C0FINANCE", "finance")
    clock.set(la(2, 10))
    subscribed = await command(bot, "U0ALICE", "subscribe Purchase #finance")
    assert "now posts to <#C0FINANCE>" in subscribed
    await command(bot, "U0ALICE", "digest #finance daily 09:30")
    for request_id, reviewer in (("102", "carol"), ("104", "bob")):  # no order waits now
        bot.sandbox.state.reject("1002", request_id, reviewer, "Not this year")
    await bot.cycles(2)
    clock.set(la(3, 9, 30))
    await bot.cycles(3)
    to_finance = [
        c
        for c in bot.slack.calls("chat.postMessage")
        if c.params.get("channel") == "C0FINANCE" and not c.failed
    ]
    shown = json.dumps([c.params for c in to_finance])
    assert "Expense" not in shown and "Leave" not in shown
    assert not any(is_digest(c) for c in to_finance), "nothing of its own waits: nothing sent"


async def test_the_home_tab_shows_and_changes_the_settings(bot: Bot, clock: Clock) -> None:
    view = await open_home(bot, "U0CAROL")
    assert "A DM for each request" in json.dumps(view["blocks"])
    change = {"action_id": Action.SETTINGS, "block_id": block_with(view, Action.SETTINGS)}
    await click(bot, "U0CAROL", view | {"id": "VHOME"}, change | {"type": "button"})
    opened = await bot.slack.wait_for("views.open", predicate=lambda c: not c.failed)
    modal = opened[-1].params["view"]
    assert modal["callback_id"] == View.SETTINGS
    half = _settings(modal, mode="digest", digest="08:30", quiet=("21:00", None))
    shown = await submit_view(bot, "U0CAROL", modal | {"private_metadata": ""}, half)
    assert shown["response_action"] == "errors" and Input.QUIET_TO in shown["errors"]
    before = len(bot.slack.calls("views.publish"))
    chosen = _settings(modal, mode="digest", digest="08:30", quiet=("21:00", "07:00"), days="12345")
    assert await submit_view(bot, "U0CAROL", modal | {"private_metadata": ""}, chosen) == {}
    await bot.slack.wait_for("views.publish", count=before + 1)
    tab = json.dumps(bot.slack.home_view("U0CAROL"), ensure_ascii=False)
    assert "One digest a day at 08:30" in tab and "quiet 21:00–07:00" in tab and "Mon–Fri" in tab
    stored = (await bot.services.store.preferences_for(["U0CAROL"]))["U0CAROL"]
    assert stored.tz == "America/Los_Angeles"
    assert stored.next_run_at == la(2, 8, 30).astimezone(UTC)  # Wednesday, her 08:30


def block_with(view: dict[str, Any], action_id: str) -> str:
    for block in view["blocks"]:
        if (block.get("accessory") or {}).get("action_id") == action_id:
            return str(block.get("block_id", ""))
    raise AssertionError(f"no {action_id} on the tab")


def _settings(
    modal: dict[str, Any],
    *,
    mode: str,
    digest: str,
    quiet: tuple[str | None, str | None],
    days: str = "1234567",
) -> dict[str, Any]:
    """The modal's state as Slack sends it for these choices."""
    options = {b["block_id"]: b["element"] for b in modal["blocks"] if b["type"] == "input"}

    def picked(block: str, values: str) -> list[dict[str, Any]]:
        return [o for o in options[block]["options"] if o["value"] in values]

    return {
        Input.NOTIFY_MODE: {
            "type": "radio_buttons",
            "selected_option": picked(Input.NOTIFY_MODE, mode)[0],
        },
        Input.DIGEST_AT: {"type": "timepicker", "selected_time": digest},
        Input.QUIET_FROM: {"type": "timepicker", "selected_time": quiet[0]},
        Input.QUIET_TO: {"type": "timepicker", "selected_time": quiet[1]},
        Input.WORK_DAYS: {"type": "checkboxes", "selected_options": picked(Input.WORK_DAYS, days)},
        Input.FINAL_DMS: {"type": "checkboxes", "selected_options": []},
    }


async def test_a_burst_for_someone_in_quiet_hours_waits_as_one_grouped_dm(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path, clock: Clock
) -> None:
    async with running_bot(
        sandbox, http, tmp_path, linked=("U0BOB",), clock=clock, cflow_burst_limit=5
    ) as bot:
        await bot.cycles(2)
        await command(bot, "U0BOB", "notify quiet 22:00-07:00")
        burst = {new_expense(bot.sandbox, Description=f"Night import {n}") for n in range(8)}
        summary = await bot.slack.wait_for(
            "chat.postMessage",
            predicate=lambda c: (
                c.params.get("channel") == CHANNEL and "8 new requests" in json.dumps(c.params)
            ),
        )
        assert summary  # the channel is told at once
        await bot.cycles(3)
        assert dms_to(bot, "U0BOB", lambda c: any(mentions(c.params, r) for r in burst)) == []
        clock.set(la(2, 7))
        await bot.cycles(3)
        grouped = dms_to(bot, "U0BOB", lambda c: any(mentions(c.params, r) for r in burst))
        assert len(grouped) == 1 and all(mentions(grouped[0].params, r) for r in burst)
