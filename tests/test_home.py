"""The Home tab as each person's approvals desk, through the running bot.

Signed `app_home_opened` events and Home-tab clicks (with the view's checkbox state,
as Slack sends it) go to the bot; what it publishes is read back from the stand-in.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.fernet import Fernet

from bot.blocks.home import BULK_BLOCK, HOME_ITEM
from bot.blocks.ids import Action
from bot.devtools.slack_standin.payloads import event_callback, form, view_action
from tests.harness import CHANNEL, Bot, Sandbox, new_expense, running_bot

WAITING = 12
CARDS = {"cflow_burst_limit": 50}  # a card each, to see every card of the approved updated


async def open_home(bot: Bot, user: str, count: int = 1) -> dict[str, Any]:
    """The tab as published after `user` opens it."""
    before = len(bot.slack.calls("views.publish"))
    body = event_callback({"type": "app_home_opened", "user": user, "tab": "home"})
    assert (await bot.post(body, content_type="application/json")).status == 200
    return await published(bot, user, before + count)


async def published(bot: Bot, user: str, count: int) -> dict[str, Any]:
    await bot.slack.wait_for(
        "views.publish",
        count=count,
        predicate=lambda c: c.params.get("user_id") == user and not c.failed,
    )
    view = bot.slack.home_view(user)
    assert view is not None
    return view


def items(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in view["blocks"] if b.get("block_id", "").startswith(HOME_ITEM)]


def ticked(view: dict[str, Any], chosen: list[dict[str, Any]]) -> dict[str, Any]:
    """The view's state once these items are ticked, as Slack reports it."""
    values = {
        block["block_id"]: {
            Action.HOME_SELECT: {
                "type": "checkboxes",
                "selected_options": block["accessory"]["options"] if block in chosen else [],
            }
        }
        for block in items(view)
    }
    return view | {"state": {"values": values}}


async def click(bot: Bot, user: str, view: dict[str, Any], action: dict[str, Any]) -> None:
    payload = view_action(user, action, view=view, trigger_id=bot.slack.trigger_for(user))
    assert (await bot.post(form(payload))).status == 200


async def moved_on(bot: Bot, ts: str, *, before: str) -> None:
    """Wait until the channel card at `ts` no longer offers the ref it was clicked with."""
    for _ in range(200):
        card = bot.slack.message(CHANNEL, ts)
        buttons = json.dumps(card.blocks if card else [])
        if json.dumps(before)[1:-1] not in buttons:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the card still offers the approved stage's buttons")


def waiting_on(sandbox: Sandbox, name: str) -> list[str]:
    """What Cflow says waits on `name`, oldest first."""
    found = [
        request
        for workflow in sandbox.state.list_workflows()
        if workflow.status == "active"
        for request in sandbox.state.list_requests(workflow.id)
        if request.status == "pending" and name in request.current_reviewers
    ]
    return [r.id for r in sorted(found, key=lambda r: r.created_at)]


@pytest.mark.slow
async def test_a_reviewer_sees_everything_waiting_and_approves_five_in_one_confirm(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    for n in range(WAITING - len(waiting_on(sandbox, "bob"))):
        new_expense(sandbox, Description=f"Waiting {n}")
    async with running_bot(sandbox, http, tmp_path, linked=("U0BOB",), **CARDS) as bot:
        expected = waiting_on(sandbox, "bob")
        assert len(expected) == WAITING
        await bot.cycles(2)  # every request has its cards
        home = await open_home(bot, "U0BOB")
        shown = [b["block_id"].rsplit(":", 1)[1] for b in items(home)]
        assert shown == expected, "all of them, oldest first"
        chosen = items(home)[:5]
        raws = [b["accessory"]["options"][0]["value"] for b in chosen]
        refs = [json.loads(raw) for raw in raws]
        five = [ref["r"] for ref in refs]
        state = ticked(home, chosen)
        box = chosen[-1]["accessory"] | {"block_id": chosen[-1]["block_id"]}
        await click(bot, "U0BOB", state, {"type": "checkboxes", **box})
        counted = await published(bot, "U0BOB", 2)
        bulk = next(b for b in counted["blocks"] if b.get("block_id") == BULK_BLOCK)
        approve = bulk["elements"][0]
        assert "Approve 5 selected" in approve["text"]["text"]
        assert "these 5 requests" in approve["confirm"]["text"]["text"]
        cards = {rid: await bot.channel_card(rid) for rid in five}
        await click(bot, "U0BOB", ticked(counted, [b for b in items(counted)][:5]), approve)
        done = await published(bot, "U0BOB", 4)  # "approving…", then the outcome
        assert all(f"✅ #{rid}" in json.dumps(done, ensure_ascii=False) for rid in five), done
        for ref, raw in zip(refs, raws, strict=True):
            rid = ref["r"]
            assert sandbox.state.get_request(ref["w"], rid).status != "pending" or (
                sandbox.state.get_request(ref["w"], rid).current_reviewers != ["bob"]
            ), "approved at bob's stage"
            assert [c.username for c in sandbox.calls("approveRequest") if rid in c.path] == [
                "bob"
            ], "as bob himself, once"
            await moved_on(bot, cards[rid].ts, before=raw)
        left = [b["block_id"].rsplit(":", 1)[1] for b in items(done)]
        assert left == [rid for rid in expected if rid not in five]


async def test_one_refusal_does_not_stop_the_rest_of_a_bulk_approval(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    first, second, third = (new_expense(sandbox) for _ in range(3))
    async with running_bot(sandbox, http, tmp_path, linked=("U0BOB",)) as bot:
        home = await open_home(bot, "U0BOB")
        chosen = [b for b in items(home) if b["block_id"].endswith((first, second, third))]
        sandbox.state.approve("1001", second, "bob", "done in Cflow meanwhile")
        sandbox.state.fail_next(1, 403, "approveRequest", workflow_id="1001")
        approve = {"type": "button", "action_id": Action.HOME_APPROVE_SELECTED, "value": "3"}
        await click(bot, "U0BOB", ticked(home, chosen), approve | {"block_id": BULK_BLOCK})
        done = json.dumps(await published(bot, "U0BOB", 3), ensure_ascii=False)
    assert f"#{second}: already decided" in done
    assert done.count("❌ #") == 1 and done.count("✅ #") == 1, "one refused, one done"
    approved = [
        r for r in (first, third) if sandbox.state.get_request("1001", r).status != "pending"
    ]
    assert len(approved) == 1


async def test_someone_not_linked_sees_why_and_the_link_button(bot: Bot) -> None:
    home = await open_home(bot, "U0CAROL")
    text = json.dumps(home)
    assert "haven't linked" in text and Action.LINK in text
    assert not items(home)


async def test_submitted_requests_show_where_they_stand(bot: Bot) -> None:
    await bot.link("U0DAVE")
    home = json.dumps(await open_home(bot, "U0DAVE"))
    assert "Submitted by you" in home
    assert "waiting on bob" in home
    assert "`/cflow drafts`" in home, "drafts only dave's own key reads, on asking"


@pytest.mark.slow
async def test_an_opened_home_tab_follows_what_changes_on_the_desk(bot: Bot) -> None:
    await bot.link("U0BOB")
    home = await open_home(bot, "U0BOB")
    before = {b["block_id"] for b in items(home)}
    request_id = new_expense(bot.sandbox, Description="Arrived while Home was open")
    await bot.cycles(2)

    def shows_it() -> bool:
        view = bot.slack.home_view("U0BOB") or {}
        return f"{HOME_ITEM}:{request_id}" in {b.get("block_id") for b in view.get("blocks", [])}

    for _ in range(200):
        if shows_it():
            break
        await asyncio.sleep(0.05)
    assert shows_it(), "a new request for bob appears without him reopening the tab"
    bot.sandbox.state.approve("1001", request_id, "bob", "in Cflow")
    await bot.cycles(2)
    for _ in range(200):
        if not shows_it():
            break
        await asyncio.sleep(0.05)
    assert not shows_it(), "decided elsewhere, it leaves the desk"
    assert before <= {b["block_id"] for b in items(bot.slack.home_view("U0BOB") or {})}


@pytest.mark.slow
async def test_ticks_survive_a_refresh_of_the_tab(bot: Bot) -> None:
    await bot.link("U0BOB")
    home = await open_home(bot, "U0BOB")
    chosen = items(home)[:2]
    box = chosen[-1]["accessory"] | {"block_id": chosen[-1]["block_id"]}
    await click(bot, "U0BOB", ticked(home, chosen), {"type": "checkboxes", **box})
    await published(bot, "U0BOB", 2)
    request_id = new_expense(bot.sandbox, Description="Arrives while two are ticked")
    await bot.cycles(2)
    for _ in range(200):
        view = bot.slack.home_view("U0BOB") or {}
        if f"{HOME_ITEM}:{request_id}" in json.dumps(view):
            break
        await asyncio.sleep(0.05)
    still = {b["block_id"] for b in items(view) if b["accessory"].get("initial_options")}
    assert still == {b["block_id"] for b in chosen}, "the refresh kept bob's ticks"
    bulk = next(b for b in view["blocks"] if b.get("block_id") == BULK_BLOCK)
    assert "Approve 2 selected" in bulk["elements"][0]["text"]["text"]


@pytest.mark.slow
async def test_a_tab_opened_before_a_restart_is_still_kept_current(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Who keeps a tab open is in the store, not in one instance's memory."""
    same = {"cflow_bot_secret_key": Fernet.generate_key().decode()}
    async with running_bot(sandbox, http, tmp_path, linked=("U0BOB",), **same) as first:
        await open_home(first, "U0BOB")
    async with running_bot(sandbox, http, tmp_path, **same) as second:
        await second.cycles(1)
        request_id = new_expense(sandbox, Description="After the restart")
        await second.cycles(2)
        await second.slack.wait_for(  # without bob opening it again
            "views.publish",
            predicate=lambda c: (
                c.params.get("user_id") == "U0BOB" and request_id in json.dumps(c.params)
            ),
        )
