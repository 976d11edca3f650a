"""Real faults through the running bot: nothing repeats, stalls or misleads.

Each test makes one thing go wrong the way production does (a database that goes away,
a DM that cannot be delivered, an odd but legal Cflow answer …) and checks what people
would see in Slack, what /healthz says, and that every card arrives exactly once.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from bot.blocks.ids import Action, View
from bot.devtools.cflow_standin.records import NO_BODY
from bot.devtools.slack_standin.payloads import event_callback
from bot.devtools.slack_standin.slack import SlackCall, SlackStandIn, StoredMessage
from bot.settings import SettingsError
from bot.store import Link, open_store
from tests.harness import (
    CHANNEL,
    Bot,
    Sandbox,
    has_button,
    inputs,
    mentions,
    new_expense,
    open_form,
    running_bot,
    say_nothing,
    submit_view,
    typed,
)
from tests.tcp_proxy import TcpProxy

OUTAGE_SECONDS = 8.0


def through(proxy: TcpProxy, url: str) -> str:
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))


def snapshot(card: StoredMessage) -> StoredMessage:
    """The card as it is now: the fake's own copy changes with every later update."""
    return copy.deepcopy(card)


async def health_during(bot: Bot, seconds: float) -> list[tuple[int, dict[str, Any]]]:
    """/healthz answers, four a second, for `seconds`."""
    answers, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        answers.append(await bot.health())
        await asyncio.sleep(0.25)
    return answers


async def assert_each_card_once(bot: Bot, request_ids: list[str]) -> None:
    for request_id in request_ids:
        await bot.channel_card(request_id)
    await bot.cycles(3)
    for request_id in request_ids:
        assert len(bot.cards_posted(request_id, CHANNEL)) == 1, request_id


@pytest.mark.slow
async def test_postgres_going_away_for_seconds_stalls_nothing_and_repeats_nothing(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path, postgres_url: str
) -> None:
    target = urlsplit(postgres_url)
    async with (
        TcpProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy,
        running_bot(
            sandbox,
            http,
            tmp_path,
            database_url=through(proxy, postgres_url),
            cflow_poll_interval=0.5,
        ) as bot,
    ):
        before = new_expense(sandbox, Description="before the outage")
        await bot.channel_card(before)
        proxy.cut()
        during = [new_expense(sandbox, Description=f"during {n}") for n in range(3)]
        answers = await health_during(bot, OUTAGE_SECONDS)
        proxy.restore()
        assert proxy.refused > 0, "the bot kept trying the database"
        unhealthy = [body for status, body in answers if status == 503]
        assert len(unhealthy) >= len(answers) // 2, "/healthz said so while it lasted"
        assert "database" in unhealthy[-1]["reason"]
        await assert_each_card_once(bot, [before, *during])
        status, body = await bot.health()
        assert status == 200 and body["ok"], body
        assert body["poller_loop"]["failures"], "the failures were counted"


@pytest.mark.slow
async def test_sqlite_locked_by_another_process_stalls_then_recovers(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with running_bot(sandbox, http, tmp_path, cflow_poll_interval=0.3) as bot:
        before = new_expense(sandbox, Description="before the lock")
        await bot.channel_card(before)
        await bot.cycles(1)
        other = sqlite3.connect(tmp_path / "bot.db", isolation_level=None, timeout=30)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            during = [new_expense(sandbox, Description=f"during {n}") for n in range(2)]
            answers = await health_during(bot, OUTAGE_SECONDS / 2)
        finally:
            other.execute("ROLLBACK")
            other.close()
        reasons = [body.get("reason", "") for status, body in answers if status == 503]
        assert any("no poll cycle" in reason for reason in reasons), answers[-1]
        await assert_each_card_once(bot, [before, *during])
        status, _ = await bot.health()
        assert status == 200


# Decisions tell the truth


async def answers(bot: Bot, user: str) -> str:
    """Everything said to `user` through response_urls so far, as one text."""
    calls = await bot.slack.wait_for("response_url", predicate=lambda c: c.token == user)
    return json.dumps([c.params for c in calls])


@pytest.mark.parametrize("body", [{"success": True}, NO_BODY], ids=["success-true", "204"])
async def test_an_approval_cflow_accepted_with_a_bare_body_is_reported_done(
    bot: Bot, body: object
) -> None:
    bot.sandbox.state.answer_writes_with("approveRequest", body)
    await bot.link("U0BOB")
    request_id = new_expense(bot.sandbox)
    card = await bot.channel_card(request_id)
    await bot.click("U0BOB", snapshot(card), Action.APPROVE)
    said = await answers(bot, "U0BOB")
    assert "Approved" in said and "refused" not in said
    assert bot.sandbox.state.requests["1001"][request_id].status == "approved"
    await bot.slack.wait_for(
        "chat.update",
        predicate=lambda c: c.params.get("ts") == card.ts and "Approved" in json.dumps(c.params),
    )
    assert not has_button(bot.slack.message(CHANNEL, card.ts), Action.APPROVE)


async def test_a_create_cflow_accepted_without_a_record_is_not_offered_again(bot: Bot) -> None:
    bot.sandbox.state.answer_writes_with("createRequest", {"success": True})
    await bot.link("U0DAVE")
    form_view = await open_form(bot, "U0DAVE", "new purchase")
    ids = inputs(form_view)
    values = {ids["Vendor"]: typed("Acme"), ids["Amount"]: typed("250")}
    answer = await submit_view(bot, "U0DAVE", form_view, values)
    shown = json.dumps(answer["view"])
    assert "accepted" in shown and answer["view"]["callback_id"] == View.WORKING
    assert len(bot.sandbox.calls("createRequest")) == 1


async def test_a_create_that_timed_out_is_unknown_and_not_offered_for_resending(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with running_bot(sandbox, http, tmp_path, cflow_timeout=0.5) as bot:
        await bot.link("U0DAVE")
        form_view = await open_form(bot, "U0DAVE", "new purchase")
        ids = inputs(form_view)
        sandbox.state.delay_after_commit = 1.0  # Cflow saves it, then answers too late
        values = {ids["Vendor"]: typed("Acme"), ids["Amount"]: typed("250")}
        answer = await submit_view(bot, "U0DAVE", form_view, values)
        shown = json.dumps(answer["view"])
        assert "not known" in shown and answer["view"]["callback_id"] == View.WORKING
        assert "Send" not in shown


async def test_a_clicker_cflow_will_not_show_the_request_to_gets_the_buttons_back(
    bot: Bot,
) -> None:
    await bot.link("U0BOB")  # the stage's reviewer, whom Cflow will not show it to now
    request_id = new_expense(bot.sandbox)
    card = await bot.channel_card(request_id)
    bot.sandbox.state.deny("bob", "getRequest")
    await bot.click("U0BOB", snapshot(card), Action.APPROVE)
    said = await answers(bot, "U0BOB")
    assert "would not show you" in said and "You do not have access" in said
    await bot.slack.wait_for(
        "chat.update",
        predicate=lambda c: c.params.get("ts") == card.ts and "cflow_busy" not in str(c.params),
    )
    assert has_button(bot.slack.message(CHANNEL, card.ts), Action.APPROVE)
    assert bot.sandbox.calls("approveRequest") == []


@pytest.mark.slow
async def test_a_user_key_changed_in_cflow_asks_to_link_again(bot: Bot) -> None:
    await bot.link("U0BOB")
    request_id = new_expense(bot.sandbox)
    card = await bot.channel_card(request_id)
    await bot.cycles(2)  # his DM is out, with buttons
    assert has_button(dms_to(bot, "U0BOB", request_id)[0], Action.APPROVE)
    bot.sandbox.state.rotate_key("bob", "bob-new-key")
    await bot.click("U0BOB", snapshot(card), Action.APPROVE)
    said = await answers(bot, "U0BOB")
    assert "Link your Cflow account again" in said and Action.LINK in said
    assert "error id" not in said
    await bot.slack.wait_for(
        "chat.update",
        predicate=lambda c: c.params.get("ts") == card.ts and "cflow_busy" not in str(c.params),
    )
    # Marked: bob's DMs stop offering buttons his key cannot use, and invite him to relink.
    dm_channel = bot.slack.dm_channel("U0BOB")
    await bot.slack.wait_for(
        "chat.update",
        predicate=lambda c: c.params.get("channel") == dm_channel and Action.LINK in str(c.params),
    )
    (dm,) = dms_to(bot, "U0BOB", request_id)
    assert not has_button(dm, Action.APPROVE) and has_button(dm, Action.LINK)
    later = new_expense(bot.sandbox)
    await bot.channel_card(later)
    await bot.cycles(2)
    (dm,) = dms_to(bot, "U0BOB", later)
    assert not has_button(dm, Action.APPROVE) and has_button(dm, Action.LINK)
    await bot.link("U0BOB")  # linking again (with the new key) clears the mark
    third = new_expense(bot.sandbox)
    await bot.channel_card(third)
    await bot.cycles(2)
    (dm,) = dms_to(bot, "U0BOB", third)
    assert has_button(dm, Action.APPROVE) and not has_button(dm, Action.LINK)


async def test_a_link_that_no_longer_decrypts_asks_to_link_again(bot: Bot) -> None:
    database_url = bot.services.settings.database_url
    other = await open_store(database_url, [Fernet.generate_key().decode()])
    await other.save_link(Link("U0BOB", "bob", SecretStr("bob-key")))  # under a lost key
    await other.close()
    card = await bot.channel_card(new_expense(bot.sandbox))
    await bot.click("U0BOB", snapshot(card), Action.APPROVE)
    said = await answers(bot, "U0BOB")
    assert "Link your Cflow account again" in said and Action.LINK in said
    assert "error id" not in said and bot.sandbox.calls("approveRequest") == []
    bot.slack.clear()
    await say_nothing(bot, "U0BOB", "pending")
    said = await answers(bot, "U0BOB")
    assert "Link your Cflow account again" in said and "error id" not in said
    link = await bot.services.store.slack_users_for_cflow_users(["bob"])
    assert link["bob"].key_works is False
    body = event_callback({"type": "app_home_opened", "user": "U0BOB", "tab": "home"})
    assert (await bot.post(body, content_type="application/json")).status == 200
    (home,) = await bot.slack.wait_for("views.publish")
    shown = json.dumps(home.params["view"])
    assert "Link your Cflow account again" in shown and Action.LINK in shown


async def test_the_busy_line_names_the_clicker_once(bot: Bot) -> None:
    await bot.link("U0BOB")
    card = await bot.channel_card(new_expense(bot.sandbox))
    await bot.click("U0BOB", snapshot(card), Action.APPROVE)
    busy = await bot.slack.wait_for(
        "chat.update", predicate=lambda c: "cflow_busy" in json.dumps(c.params)
    )
    (line,) = [
        element["text"]
        for block in busy[0].params["blocks"]
        if block.get("block_id") == "cflow_busy"
        for element in block["elements"]
    ]
    assert line == "⏳ Approving as <@U0BOB>"


async def test_a_card_from_before_a_loop_back_to_the_same_stage_approves_nothing(
    bot: Bot,
) -> None:
    await bot.link("U0BOB")
    request_id = new_expense(bot.sandbox)
    old = snapshot(await bot.channel_card(request_id))
    state = bot.sandbox.state
    state.approve("1001", request_id, "bob")
    state.set_status("1001", request_id, "pending", stage_id="1001-1")  # sent back
    await bot.click("U0BOB", old, Action.APPROVE)
    said = await answers(bot, "U0BOB")
    assert "moved on" in said
    assert bot.sandbox.calls("approveRequest") == []


# One delivery, one outcome


def thread_lines(bot: Bot, card: StoredMessage) -> list[str]:
    return [m.text for m in bot.slack.messages(card.channel) if m.thread_ts == card.ts]


def dms_to(bot: Bot, user: str, request_id: str) -> list[StoredMessage]:
    channel = bot.slack.dm_channel(user)
    return [m for m in bot.slack.messages(channel) if f"#{request_id}" in (m.text or "")]


def tries_to_reach(bot: Bot, user: str) -> list[SlackCall]:
    """Opening a DM with `user`, or posting to their user id (which opens it)."""
    calls = bot.slack.calls("conversations.open") + bot.slack.calls("chat.postMessage")
    return [c for c in calls if user in (c.params.get("users"), c.params.get("channel"))]


async def add_shared_workflow(bot: Bot) -> str:
    """Two reviewers at each stage, so one failing DM has a neighbour; routed to the
    default channel by an admin, as a workflow created after the first cycle must be."""
    stages = [("Both leads", ["bob", "carol"]), ("Again", ["carol", "alice"]), ("Last", ["bob"])]
    bot.sandbox.state.add_workflow("2001", "Access Request", stages)
    await bot.services.routes.choose("2001", "Access Request", "default", by="U0ALICE")
    return bot.sandbox.state.add_request("2001", {"System": "VPN"}, "dave").id


@pytest.mark.slow
async def test_one_undeliverable_dm_blocks_nobody_and_repeats_no_thread_line(bot: Bot) -> None:
    bot.slack.refuse("U0BOB", "user_disabled")
    request_id = await add_shared_workflow(bot)
    card = await bot.channel_card(request_id)
    await bot.cycles(2)
    assert len(dms_to(bot, "U0CAROL", request_id)) == 1, "carol, after bob in the list"
    opened = len(tries_to_reach(bot, "U0BOB"))
    bot.sandbox.state.approve("2001", request_id, "carol")  # both leads: carol suffices here
    await bot.cycles(5)
    assert len(thread_lines(bot, card)) == 1, thread_lines(bot, card)
    assert len(dms_to(bot, "U0ALICE", request_id)) == 1
    assert len(dms_to(bot, "U0CAROL", request_id)) == 2, "a new post for her next stage"
    failed = [c for c in await bot.services.store.failed_cards() if c.request_id == request_id]
    assert [(c.slack_user_id, c.failure) for c in failed] == [("U0BOB", "user_disabled")]
    again = tries_to_reach(bot, "U0BOB")
    assert len(again) == opened, "refused for good: not tried again every cycle"


@pytest.mark.slow
@pytest.mark.parametrize("error", ["is_archived", "not_in_channel", "invalid_blocks"])
async def test_a_card_slack_will_not_update_leaves_the_rest_of_the_request_alone(
    bot: Bot, error: str
) -> None:
    request_id = await add_shared_workflow(bot)
    card = await bot.channel_card(request_id)
    await bot.cycles(1)
    bot.slack.refuse(CHANNEL, error, methods={"chat.update"})
    bot.sandbox.state.approve("2001", request_id, "bob")
    await bot.cycles(4)
    assert len(dms_to(bot, "U0ALICE", request_id)) == 1, "the next stage still DMed"
    assert len(thread_lines(bot, card)) == 1
    failed = [c for c in await bot.services.store.failed_cards() if c.request_id == request_id]
    assert [(c.channel, c.failure) for c in failed] == [(CHANNEL, error)]


@pytest.mark.slow
async def test_a_dropped_connection_is_retried_without_repeating_what_was_done(bot: Bot) -> None:
    request_id = await add_shared_workflow(bot)
    card = await bot.channel_card(request_id)
    await bot.cycles(1)
    bot.slack.drop_next("chat.update", count=3)
    bot.sandbox.state.approve("2001", request_id, "bob")
    await bot.slack.wait_for(
        "chat.update",
        predicate=lambda c: not c.failed and c.params.get("ts") == card.ts and "Again" in str(c),
        timeout=30,
    )
    await bot.cycles(3)
    assert len(thread_lines(bot, card)) == 1
    assert len(dms_to(bot, "U0ALICE", request_id)) == 1


@pytest.mark.slow
async def test_a_request_sent_back_to_pending_is_announced_again(bot: Bot) -> None:
    await bot.link("U0BOB")
    request_id = new_expense(bot.sandbox)
    card = await bot.channel_card(request_id)
    await bot.slack.wait_for(  # bob's first DM is out (decided before, it is never posted)
        "chat.postMessage",
        predicate=lambda c: (
            c.landed_in == bot.slack.dm_channel("U0BOB") and mentions(c.params, request_id)
        ),
    )
    bot.sandbox.state.reject("1001", request_id, "bob", "missing receipt")
    await bot.slack.wait_for(
        "chat.update", predicate=lambda c: c.params.get("ts") == card.ts and "Rejected" in str(c)
    )
    await bot.cycles(2)
    told = len(dms_to(bot, "U0DAVE", request_id))
    bot.sandbox.state.set_status("1001", request_id, "pending", stage_id="1001-1")  # sent back
    await bot.slack.wait_for(
        "chat.update",
        predicate=lambda c: c.params.get("ts") == card.ts and "cflow_approve" in str(c),
    )
    await bot.cycles(2)
    assert len(dms_to(bot, "U0BOB", request_id)) == 2, "a new DM (a post) to its reviewer"
    assert has_button(bot.slack.message(CHANNEL, card.ts), Action.APPROVE)
    assert len(thread_lines(bot, card)) == 2  # rejected, sent back
    bot.sandbox.state.approve("1001", request_id, "bob")
    await bot.slack.wait_for(
        "chat.postMessage",
        predicate=lambda c: (
            c.landed_in == bot.slack.dm_channel("U0DAVE") and "approved" in str(c).lower()
        ),
    )
    await bot.cycles(2)
    assert len(dms_to(bot, "U0DAVE", request_id)) == told + 1, "the submitter hears the end"


@pytest.mark.slow
async def test_a_request_missing_from_one_listing_is_not_declared_deleted(bot: Bot) -> None:
    request_id = new_expense(bot.sandbox)
    card = await bot.channel_card(request_id)
    await bot.cycles(1)
    state = bot.sandbox.state
    state.leave_out_of_listings("1001", request_id, True)
    await bot.cycles(2)
    assert bot.sandbox.calls("getRequest"), "absence is checked with getRequest"
    state.leave_out_of_listings("1001", request_id, False)
    await bot.cycles(2)
    updated = bot.slack.message(CHANNEL, card.ts)
    assert "deleted" not in json.dumps(updated.blocks).lower()
    assert has_button(updated, Action.APPROVE)
    assert not [c for c in bot.slack.calls("chat.postMessage") if "Deleted" in str(c.params)]
    state.leave_out_of_listings("1001", request_id, True)
    state.delete("1001", request_id)  # now really gone
    await bot.slack.wait_for(
        "chat.update", predicate=lambda c: c.params.get("ts") == card.ts and "eleted" in str(c)
    )


async def test_a_notify_channel_given_by_name_gets_cards_that_update(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with running_bot(sandbox, http, tmp_path, cflow_notify_channel="#approvals") as bot:
        assert bot.services.settings.cflow_notify_channel == CHANNEL
        request_id = new_expense(bot.sandbox)
        card = await bot.channel_card(request_id)
        bot.sandbox.state.approve("1001", request_id, "bob")
        await bot.slack.wait_for(
            "chat.update",
            predicate=lambda c: not c.failed and c.params.get("ts") == card.ts,
        )
        await bot.cycles(2)
        assert not [c for c in bot.slack.calls("chat.update") if c.failed]
        assert not has_button(bot.slack.message(CHANNEL, card.ts), Action.APPROVE)


async def test_a_notify_channel_name_that_does_not_resolve_names_the_setting(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    with pytest.raises(SettingsError) as raised:
        async with running_bot(sandbox, http, tmp_path, cflow_notify_channel="#nowhere"):
            pass
    assert set(raised.value.problems) == {"CFLOW_NOTIFY_CHANNEL"}
    assert "#nowhere" in str(raised.value)


@pytest.mark.slow
async def test_a_thread_line_whose_answer_was_lost_is_posted_once(bot: Bot) -> None:
    request_id = new_expense(bot.sandbox)
    card = await bot.channel_card(request_id)
    await bot.cycles(1)
    bot.slack.lose_answer_of_next(
        "chat.postMessage", where=lambda call: call.params.get("thread_ts") == card.ts
    )
    bot.sandbox.state.approve("1001", request_id, "bob")
    await bot.slack.wait_for(
        "chat.postMessage", predicate=lambda c: c.params.get("thread_ts") == card.ts
    )
    await bot.cycles(3)
    assert len(thread_lines(bot, card)) == 1, "not posted again while its fate is unknown"
    async with bot.services.store.engine.begin() as connection:  # two minutes later
        await connection.exec_driver_sql(
            "UPDATE cards SET created_at = '2020-01-01 00:00:00' WHERE ts IS NULL"
        )
    await bot.slack.wait_for("conversations.replies", timeout=30)
    await bot.cycles(3)
    assert len(thread_lines(bot, card)) == 1, "found in the thread and adopted"
    cards = (await bot.services.store.cards_for([("1001", request_id)]))[("1001", request_id)]
    assert all(c.ts for c in cards if c.kind == "audit")


@pytest.mark.slow
async def test_a_reviewer_slack_could_not_look_up_for_now_is_dmed_later(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    def fail_first_lookup(slack: SlackStandIn) -> None:
        slack.fail_next("users.lookupByEmail", "internal_error")  # alice, looked up first

    async with running_bot(sandbox, http, tmp_path, before_start=fail_first_lookup) as bot:
        alice = bot.slack.dm_channel("U0ALICE")
        await bot.slack.wait_for(
            "chat.postMessage",
            predicate=lambda c: c.landed_in == alice and mentions(c.params, "105"),
            timeout=30,
        )
        assert [c for c in bot.slack.calls("users.lookupByEmail") if c.failed]
        await bot.cycles(2)
        assert len(dms_to(bot, "U0ALICE", "105")) == 1


@pytest.mark.slow
async def test_a_card_clicked_before_its_post_was_recorded_still_shows_the_outcome(
    bot: Bot,
) -> None:
    await bot.link("U0BOB")
    bot.slack.set_latency(1.5, "chat.postMessage")  # the bot hears of the post late
    request_id = new_expense(bot.sandbox)
    card = await bot.channel_card(request_id)  # in Slack, not yet recorded by the bot
    await bot.click("U0BOB", snapshot(card), Action.APPROVE)
    assert "Approved" in await answers(bot, "U0BOB")
    bot.slack.set_latency(0.0, "chat.postMessage")
    await bot.slack.wait_for(
        "chat.update",
        predicate=lambda c: c.params.get("ts") == card.ts and "Approved" in json.dumps(c.params),
        timeout=30,
    )
    await bot.cycles(2)
    final = bot.slack.message(CHANNEL, card.ts)
    assert not has_button(final, Action.APPROVE) and "cflow_busy" not in json.dumps(final.blocks)
