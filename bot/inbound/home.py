"""The App Home tab: published when opened, ticked for bulk approval, approved in bulk."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.home import selected_refs, with_selection
from bot.blocks.ids import Action
from bot.blocks.modals import details_modal
from bot.blocks.text import escape
from bot.blocks.undo import undo_value
from bot.cflow import Credentials
from bot.domain.errors import CommentRequiredError, PolicyRefusedError, StaleCardError
from bot.domain.pending import seconds_left
from bot.domain.refs import RequestRef
from bot.inbound.answers import answer_for
from bot.inbound.common import Track, as_person
from bot.inbound.subcommands import TOO_FAST, Tools
from bot.people.decisions import Decider, Deferred, Intent, Window
from bot.store.records import Link

log = logging.getLogger(__name__)
BULK_AT_ONCE = 4  # decisions in flight at once: each makes Cflow calls as the person


def register(app: AsyncApp, track: Track) -> None:
    app.event("app_home_opened")(track(publish_home))
    app.action(Action.HOME_SELECT)(track(select))
    app.action(Action.HOME_CLEAR)(track(clear))
    app.action(Action.HOME_PAGE)(track(turn_page))
    app.action(Action.HOME_DETAILS)(track(as_person(show_details)))
    app.action(Action.HOME_APPROVE_SELECTED)(track(as_person(approve_selected)))


async def publish_home(event: dict[str, Any], tools: Tools) -> None:
    """Opening the tab shows it afresh; one flicking between tabs faster than the
    per-person limit keeps the tab as last published."""
    if event.get("tab") in (None, "home") and tools.person_limits.allow(event["user"]):
        await tools.home.opened(event["user"])


async def select(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, tools: Tools) -> None:
    """A tick: the same tab, with the selection counted in the bulk button (and kept
    for when the tab is refreshed)."""
    await ack()
    view = body["view"]
    chosen = {ref.encode() for ref in selected_refs(view.get("state") or {})}
    await tools.store.home_selection(body["user"]["id"], sorted(chosen))
    await _republish(client, body, with_selection(view.get("blocks") or [], chosen))


async def clear(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, tools: Tools) -> None:
    await ack()
    await tools.store.home_selection(body["user"]["id"], ())
    await _republish(client, body, with_selection(body["view"].get("blocks") or [], set()))


async def turn_page(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], tools: Tools
) -> None:
    await ack()
    user, page = body["user"]["id"], action.get("value") or "1"
    if not tools.person_limits.allow(user):
        await tools.home.publish(user, notice=[TOO_FAST])
        return
    await tools.home.publish(user, page=int(page) if page.isdigit() else 1)


async def show_details(
    body: dict[str, Any], client: AsyncWebClient, tools: Tools, creds: Credentials, ref: RequestRef
) -> None:
    """The request's whole card, in a modal (read with the person's own key)."""
    workflow, request = await asyncio.gather(
        tools.cflow.get_workflow(creds, ref.workflow_id),
        tools.cflow.get_request(creds, ref.workflow_id, ref.request_id),
    )
    policy = await tools.decider.policy(workflow.id)
    view = tools.publisher.card_view(workflow, request, reader=creds.username, policy=policy)
    await client.views_open(trigger_id=body["trigger_id"], view=details_modal(view))


async def approve_selected(
    body: dict[str, Any], decider: Decider, link: Link, tools: Tools
) -> None:
    """Each ticked request through the card's own decision path, a few at a time; one
    refusal never stops the others, and the tab says what became of each. Where any of
    their workflows has an undo window, the whole batch waits out one window (the
    longest), with one Undo for all of it (bot.people.undo tells the outcome here)."""
    user = link.slack_user_id
    refs = selected_refs(body["view"].get("state") or {})
    if not refs:
        await tools.home.publish(user, notice=["Tick the requests to approve first."])
        return
    noun = "request" if len(refs) == 1 else "requests"
    await tools.store.home_selection(user, ())  # what follows shows what became of them
    await tools.home.publish(user, notice=[f"⏳ Approving {len(refs)} {noun} as you…"])
    window = await _window(decider, tools, refs)
    slots = asyncio.Semaphore(BULK_AT_ONCE)

    async def one(ref: RequestRef) -> tuple[str, bool]:
        async with slots:
            return await _outcome(decider, tools, link, ref, window)

    outcomes = await asyncio.gather(*(one(ref) for ref in refs))
    lines = [line for line, _ in outcomes]
    waiting = sum(1 for _, deferred in outcomes if deferred)
    if window is None or not waiting:
        head = f"*Approved from your Home tab* ({len(refs)}):"
        await tools.home.publish(user, notice=[head, *lines])
        return
    seconds = seconds_left(window.due_at, tools.clock())
    head = f"⏳ *Approving {waiting} from your Home tab in {seconds} s*: Undo stops them all."
    undo = undo_value(batch_id=window.batch_id)
    await tools.home.publish(user, notice=[head, *lines], undo=undo)


async def _window(decider: Decider, tools: Tools, refs: list[RequestRef]) -> Window | None:
    """One undo window for the batch: the longest of its workflows' (None: none has one)."""
    workflows = {ref.workflow_id for ref in refs}
    longest = max([(await decider.policy(w)).undo_seconds for w in workflows], default=0)
    if longest <= 0:
        return None
    return Window(tools.clock() + timedelta(seconds=longest), uuid.uuid4().hex)


async def _outcome(
    decider: Decider, tools: Tools, link: Link, ref: RequestRef, window: Window | None
) -> tuple[str, bool]:
    """Its line on the tab, and whether it waits out the window."""
    name = f"#{escape(ref.request_id)}"
    try:
        done = await decider.decide(link.slack_user_id, link, Intent(ref, "approve"), window=window)
    except StaleCardError:
        return f"↪️ {name}: already decided or moved on; nothing was done.", False
    except (PolicyRefusedError, CommentRequiredError) as skipped:  # its policy: not in bulk
        return f"⏭️ {name}: skipped. {skipped.text}", False
    except Exception as error:  # one failure stops no other approval
        answer = await answer_for(error, tools.store, link.slack_user_id)
        if answer is None:
            log.exception("Bulk approval of %s failed", name)
            return f"❌ {name}: something went wrong on our side; try it from its card.", False
        return f"❌ {name}: {answer.get('text', 'not done')}", False
    if isinstance(done, Deferred):
        return f"⏳ {name}: waits for the undo window.", True
    return f"✅ {name}: {done}", False


async def _republish(client: AsyncWebClient, body: dict[str, Any], blocks: list[Any]) -> None:
    view = body["view"]
    shown = {"type": "home", "blocks": blocks, "private_metadata": view.get("private_metadata", "")}
    try:
        await client.views_publish(user_id=body["user"]["id"], view=shown, hash=view.get("hash"))
    except SlackApiError as error:
        if error.response.get("error") != "hash_conflict":
            raise  # a newer tab was published meanwhile: it stands
