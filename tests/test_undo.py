"""The undo window (a workflow's `undo` policy), through the running bot: signed clicks
over HTTP, the Slack stand-in's cards, and the sandbox's log of Cflow calls.

The bot's clock is the test's (`Shifted`): a window ends when the test moves the clock
past it, and "nothing was made" is read after a completed pass of the undo windows
(`UndoWindows.run_due()`), never after a sleep. Real processes where one must die.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from bot.blocks.ids import Action
from bot.blocks.undo import UNDO_BLOCK
from bot.devtools.slack_standin.payloads import block_action, form, sign
from bot.devtools.slack_standin.slack import SlackStandIn, StoredMessage
from bot.store import open_store
from bot.store.records import Link, WorkflowPolicy
from tests.harness import (
    CHANNEL,
    PEOPLE,
    RATE_SCALE,
    Bot,
    BotProcess,
    Sandbox,
    has_button,
    new_expense,
    process_cycles,
    running_bot,
    serving,
)
from tests.test_cli import bot_env
from tests.test_faults import snapshot
from tests.test_home import click as click_home
from tests.test_home import items, open_home, published, ticked


class Shifted:
    """The bot's clock: real time, moved on by the test."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def pass_(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Shifted:
    return Shifted()


@pytest.fixture
async def undo_bot(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path, clock: Shifted
) -> AsyncIterator[Bot]:
    """The bot with bob and alice linked, and a 10 s undo window on Expense Claim."""
    async with running_bot(
        sandbox, http, tmp_path, linked=("U0BOB", "U0ALICE"), clock=clock
    ) as bot:
        await bot.services.store.save_policy(WorkflowPolicy("1001", undo_seconds=10), [])
        yield bot


def waits(message: StoredMessage | None) -> bool:
    """Whether a card shows a decision in its undo window: its line, its Undo, no buttons."""
    shown = json.dumps(message.blocks if message else [])
    return Action.UNDO in shown and " in " in shown and Action.APPROVE not in shown


async def window_shown(bot: Bot, card: StoredMessage) -> StoredMessage:
    """The card once it shows the undo window (it is edited to)."""
    await bot.slack.wait_for(
        "chat.update",
        predicate=lambda c: (
            c.params.get("ts") == card.ts and Action.UNDO in json.dumps(c.params) and not c.failed
        ),
    )
    shown = bot.slack.message(CHANNEL, card.ts)
    assert waits(shown), shown
    return snapshot(shown)


async def answers_to(bot: Bot, user: str, count: int) -> list[str]:
    calls = await bot.slack.wait_for(
        "response_url", count=count, predicate=lambda c: c.token == user
    )
    return [json.dumps(c.params) for c in calls]


async def approve_in_window(bot: Bot, request_id: str) -> StoredMessage:
    """bob clicks Approve on the request's channel card: the card it becomes."""
    card = snapshot(await bot.channel_card(request_id))
    await bot.cycles(1)
    assert (await bot.click("U0BOB", card, Action.APPROVE)).status == 200
    shown = await window_shown(bot, card)
    [said] = await answers_to(bot, "U0BOB", 1)
    assert "Approving" in said and "10 s" in said, said
    assert "Approving as bob in 10 s" in json.dumps(shown.blocks)
    return shown


async def test_an_undo_by_someone_else_answers_privately_and_changes_nothing(
    undo_bot: Bot, clock: Shifted
) -> None:
    bot = undo_bot
    request_id = new_expense(bot.sandbox)
    shown = await approve_in_window(bot, request_id)
    edits = len(bot.slack.calls("chat.update"))
    assert (await bot.click("U0ALICE", shown, Action.UNDO, block_id=UNDO_BLOCK)).status == 200
    [said] = await answers_to(bot, "U0ALICE", 1)
    assert "Only the person who clicked" in said, said
    assert len(bot.slack.calls("chat.update")) == edits, "no card changed"
    assert waits(bot.slack.message(CHANNEL, shown.ts))
    assert (
        len(await bot.services.store.find_pending(batch_id=None, pending_id=_pending(shown))) == 1
    )
    clock.pass_(11)
    assert await bot.services.undo.run_due() in (0, 1)  # the background pass may be first
    await bot.sandbox.state.calls.wait_for("approveRequest")
    assert [c.username for c in bot.sandbox.calls("approveRequest")] == ["bob"], "bob's, once"


def told_bob(params: dict[str, Any], words: str) -> bool:
    return params.get("channel") == "U0BOB" and words in str(params.get("text", ""))


def _pending(card: StoredMessage) -> int:
    for block in card.blocks or []:
        for element in block.get("elements", []):
            if element.get("action_id") == Action.UNDO:
                return int(element["value"].removeprefix("p:"))
    raise AssertionError("no Undo on the card")


async def test_undo_makes_no_cflow_call_and_brings_the_buttons_back(
    undo_bot: Bot, clock: Shifted
) -> None:
    bot = undo_bot
    request_id = new_expense(bot.sandbox)
    shown = await approve_in_window(bot, request_id)
    assert (await bot.click("U0BOB", shown, Action.UNDO, block_id=UNDO_BLOCK)).status == 200
    said = await answers_to(bot, "U0BOB", 2)
    assert "Undone" in said[-1], said
    await bot.slack.wait_for(
        "chat.update",
        predicate=lambda c: (
            c.params.get("ts") == shown.ts and Action.APPROVE in json.dumps(c.params)
        ),
    )
    back = bot.slack.message(CHANNEL, shown.ts)
    assert has_button(back, Action.APPROVE) and not waits(back), "the buttons are back"
    clock.pass_(120)  # long past the window: had it been kept, it would be due
    await bot.services.undo.run_due()
    await bot.services.undo.run_due()
    assert bot.sandbox.calls("approveRequest") == []
    assert await bot.services.store.pending_for([("1001", request_id)]) == {}
    told = [c for c in bot.slack.calls("chat.postMessage") if "undo window" in json.dumps(c.params)]
    assert told == [], "nothing to tell bob"


async def test_without_undo_the_approval_is_made_once_when_the_window_ends(
    undo_bot: Bot, clock: Shifted
) -> None:
    bot = undo_bot
    request_id = new_expense(bot.sandbox)
    shown = await approve_in_window(bot, request_id)
    await bot.services.undo.run_due()  # not due yet: nothing is made
    assert bot.sandbox.calls("approveRequest") == []
    # A re-render in the window (a click refused, the poller) keeps the window shown.
    await bot.cycles(2)
    assert waits(bot.slack.message(CHANNEL, shown.ts))
    clock.pass_(10)
    bot.services.undo.wake()
    await bot.sandbox.state.calls.wait_for("approveRequest")
    await bot.slack.wait_for(
        "chat.update",
        predicate=lambda c: c.params.get("ts") == shown.ts and "Approved" in json.dumps(c.params),
    )
    await bot.services.undo.run_due()
    await bot.cycles(2)
    approvals = bot.sandbox.calls("approveRequest")
    assert [(c.username, c.path.split("/")[-2]) for c in approvals] == [("bob", request_id)]
    final = bot.slack.message(CHANNEL, shown.ts)
    assert not waits(final) and "Approved" in json.dumps(final.blocks)
    assert await bot.services.store.pending_for([("1001", request_id)]) == {}


async def test_a_request_that_changes_in_the_window_is_not_decided_and_its_clicker_told(
    undo_bot: Bot, clock: Shifted
) -> None:
    bot = undo_bot
    request_id = new_expense(bot.sandbox)
    await approve_in_window(bot, request_id)
    bot.sandbox.state.approve("1001", request_id, "bob", "done in the web app")
    clock.pass_(10)
    bot.services.undo.wake()
    told = await bot.slack.wait_for(
        "chat.postMessage",
        predicate=lambda c: (
            c.params.get("channel") == "U0BOB" and "undo window" in c.params.get("text", "")
        ),
    )
    assert "moved on" in told[0].params["text"]
    assert [c.username for c in bot.sandbox.calls("approveRequest")] == [], "only the web app's"


@pytest.mark.slow
async def test_a_decision_whose_window_ended_a_minute_before_the_restart_is_dropped(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path, clock: Shifted
) -> None:
    async with SlackStandIn(rate_scale=RATE_SCALE) as slack:
        for user, name in PEOPLE.items():
            slack.add_user(user, f"{name}@example.com", name)
        slack.add_channel(CHANNEL, "approvals")
        request_id = new_expense(sandbox)
        async with running_bot(
            sandbox, http, tmp_path, linked=("U0BOB",), clock=clock, slack=slack
        ) as bot:
            await bot.services.store.save_policy(WorkflowPolicy("1001", undo_seconds=10), [])
            shown = await approve_in_window(bot, request_id)
        clock.pass_(75)  # the bot was down when the window ended, and a minute more
        async with running_bot(sandbox, http, tmp_path, clock=clock, slack=slack) as bot:
            told = await slack.wait_for(
                "chat.postMessage",
                predicate=lambda c: (
                    c.params.get("channel") == "U0BOB" and "not made" in c.params.get("text", "")
                ),
            )
            assert "the bot was down" in told[0].params["text"]
            await bot.slack.wait_for(
                "chat.update",
                predicate=lambda c: (
                    c.params.get("ts") == shown.ts and Action.APPROVE in json.dumps(c.params)
                ),
            )
            await bot.services.undo.run_due()
            await bot.cycles(2)
            assert has_button(slack.message(CHANNEL, shown.ts), Action.APPROVE)
            assert bot.sandbox.calls("approveRequest") == []
            assert await bot.services.store.pending_for([("1001", request_id)]) == {}


async def test_a_bulk_approval_waits_out_one_window_and_one_undo_undoes_it(
    undo_bot: Bot, clock: Shifted
) -> None:
    bot = undo_bot
    chosen_ids = [new_expense(bot.sandbox, Description=f"Bulk {n}") for n in range(2)]
    cards = {rid: snapshot(await bot.channel_card(rid)) for rid in chosen_ids}
    await bot.cycles(1)
    home = await open_home(bot, "U0BOB")
    chosen = [b for b in items(home) if b["block_id"].endswith(tuple(chosen_ids))]
    assert len(chosen) == 2
    state = ticked(home, chosen)
    box = chosen[-1]["accessory"] | {"block_id": chosen[-1]["block_id"]}
    before = len(bot.slack.calls("views.publish"))
    await click_home(bot, "U0BOB", state, {"type": "checkboxes", **box})
    counted = await published(bot, "U0BOB", before + 1)
    bulk = next(b for b in counted["blocks"] if b.get("block_id") == "cflow_home_bulk")
    approve = bulk["elements"][0]
    before = len(bot.slack.calls("views.publish"))
    again = [b for b in items(counted) if b["block_id"].endswith(tuple(chosen_ids))]
    await click_home(bot, "U0BOB", ticked(counted, again), approve)
    tab = await _published_with(bot, "U0BOB", before, Action.UNDO)
    assert "Approving 2 from your Home tab in 10 s" in json.dumps(tab), tab
    for rid in chosen_ids:
        await window_shown(bot, cards[rid])
    waiting = await bot.services.store.pending_for([("1001", rid) for rid in chosen_ids])
    rows = [p for found in waiting.values() for p in found]
    assert len(rows) == 2 and len({(p.batch_id, p.due_at) for p in rows}) == 1, "one window"
    undo = next(
        e | {"block_id": b["block_id"]}
        for b in tab["blocks"]
        for e in b.get("elements", [])
        if e.get("action_id") == Action.UNDO
    )
    before = len(bot.slack.calls("views.publish"))
    await click_home(bot, "U0BOB", tab | {"id": tab.get("id", "V0HOME")}, undo)
    undone = await _published_with(bot, "U0BOB", before, "Undone")
    assert "none of these 2 requests" in json.dumps(undone)
    for rid in chosen_ids:
        await bot.slack.wait_for(
            "chat.update",
            predicate=lambda c, ts=cards[rid].ts: (
                c.params.get("ts") == ts and Action.APPROVE in json.dumps(c.params)
            ),
        )
    clock.pass_(30)
    await bot.services.undo.run_due()
    assert bot.sandbox.calls("approveRequest") == []
    assert await bot.services.store.pending_for([("1001", rid) for rid in chosen_ids]) == {}


async def _published_with(bot: Bot, user: str, before: int, text: str) -> dict[str, Any]:
    """The first Home tab published for `user` after `before` that holds `text`."""
    calls = await bot.slack.wait_for(
        "views.publish",
        predicate=lambda c: (
            c.params.get("user_id") == user and text in json.dumps(c.params) and not c.failed
        ),
    )
    fresh = [c for c in calls if bot.slack.calls("views.publish").index(c) >= before]
    assert fresh, f"no tab with {text!r} after the click"
    view: dict[str, Any] = fresh[0].params["view"]
    return view | {"id": "V0HOME"}


async def click_process(
    process: BotProcess, slack: SlackStandIn, user: str, card: StoredMessage, action_id: str
) -> None:
    """A signed click on `card`, sent to a `cflow-bot serve` process."""
    element = next(
        e | {"block_id": b.get("block_id")}
        for b in card.blocks or []
        for e in b.get("elements", [])
        if e.get("action_id") == action_id
    )
    action = {"action_id": action_id, "block_id": element["block_id"], "type": "button"}
    payload = block_action(
        user,
        action | {"value": element["value"]},
        channel=card.channel,
        message={"ts": card.ts, "text": card.text, "blocks": card.blocks},
        response_url=slack.response_url(user),
    )
    body = form(payload)
    headers = sign(body, KILL_SECRET)
    async with process.http.post(process.url + "/slack/events", data=body, headers=headers) as r:
        assert r.status == 200


KILL_SECRET = "undo-kill-secret"


async def _prepared(sandbox: Sandbox, env: dict[str, str]) -> None:
    """bob linked, and a 5 s undo window on Expense Claim, before the bot starts."""
    store = await open_store(env["DATABASE_URL"], [env["CFLOW_BOT_SECRET_KEY"]])
    try:
        key = SecretStr(sandbox.state.users["bob"].user_key)
        await store.save_link(Link("U0BOB", "bob", key))
        await store.save_policy(WorkflowPolicy("1001", undo_seconds=5), [])
    finally:
        await store.close()


@pytest.mark.slow
@pytest.mark.parametrize("killed", ["in the window", "during the Cflow call"])
async def test_a_sigkill_in_the_undo_window_makes_one_approval_at_most_once(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path, killed: str
) -> None:
    request_id = new_expense(sandbox, Description="Killed in its window")
    async with SlackStandIn(rate_scale=RATE_SCALE) as slack:
        for user, name in PEOPLE.items():
            slack.add_user(user, f"{name}@example.com", name)
        slack.add_channel(CHANNEL, "approvals")
        env = bot_env(sandbox, slack, tmp_path, CFLOW_POLL_INTERVAL="1")
        env |= {"SLACK_SIGNING_SECRET": KILL_SECRET, "CFLOW_BURST_LIMIT": "100"}
        await _prepared(sandbox, env)
        async with serving(env, tmp_path, http) as first:
            posted = await slack.wait_for(
                "chat.postMessage",
                predicate=lambda c: (
                    c.params.get("channel") == CHANNEL
                    and f"#{request_id}" in json.dumps(c.params)
                    and not c.failed
                ),
                timeout=30,
            )
            card = snapshot(slack.message(CHANNEL, posted[0].response["ts"]))
            await process_cycles(1, first)
            await click_process(first, slack, "U0BOB", card, Action.APPROVE)
            await slack.wait_for(
                "chat.update",
                predicate=lambda c: (
                    c.params.get("ts") == card.ts and Action.UNDO in json.dumps(c.params)
                ),
            )
            if killed == "during the Cflow call":
                sandbox.state.delay_after_commit = 5.0  # Cflow decides; its answer is late
                await sandbox.state.calls.wait_for("approveRequest", timeout=30)
            first.process.kill()  # SIGKILL: no clean-up of any kind
            await first.process.wait()
        sandbox.state.delay_after_commit = 0.0
        async with serving(env, tmp_path, http) as second:
            await second.healthy(timeout=30)
            await sandbox.state.calls.wait_for("approveRequest", timeout=30)
            await _until_settled(env["DATABASE_URL"])
            await process_cycles(2, second)
            final = slack.message(CHANNEL, card.ts)
        approvals = sandbox.calls("approveRequest")
    assert [c.username for c in approvals] == ["bob"], "once, never twice"
    assert sandbox.state.get_request("1001", request_id).status != "pending"
    shown = json.dumps(final.blocks if final else [])
    assert "Approved" in shown and Action.APPROVE not in shown and Action.UNDO not in shown


async def _until_settled(database_url: str) -> None:
    """Wait until no pending decision is left in the store (made, or found made)."""
    path = database_url.removeprefix("sqlite:///")
    for _ in range(300):
        with sqlite3.connect(path) as db:
            if db.execute("SELECT count(*) FROM pending_decisions").fetchone()[0] == 0:
                return
        await asyncio.sleep(0.1)
    raise AssertionError("a pending decision was left in the store")
