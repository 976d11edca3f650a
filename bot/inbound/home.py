"""The App Home tab: published when opened, ticked for bulk approval, approved in bulk."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.home import selected_refs, with_selection
from bot.blocks.ids import Action
from bot.blocks.modals import details_modal
from bot.blocks.text import escape
from bot.cflow import Credentials
from bot.domain.errors import CommentRequiredError, PolicyRefusedError, StaleCardError
from bot.domain.refs import RequestRef
from bot.inbound.answers import answer_for
from bot.inbound.common import Track, as_person
from bot.inbound.subcommands import TOO_FAST, Tools
from bot.people.decisions import Decider, Intent
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
    refusal never stops the others, and the tab says what became of each."""
    user = link.slack_user_id
    refs = selected_refs(body["view"].get("state") or {})
    if not refs:
        await tools.home.publish(user, notice=["Tick the requests to approve first."])
        return
    noun = "request" if len(refs) == 1 else "requests"
    await tools.store.home_selection(user, ())  # what follows shows what became of them
    await tools.home.publish(user, notice=[f"⏳ Approving {len(refs)} {noun} as you…"])
    slots = asyncio.Semaphore(BULK_AT_ONCE)

    async def one(ref: RequestRef) -> str:
        async with slots:
            return await _outcome(decider, tools, link, ref)

    lines = await asyncio.gather(*(one(ref) for ref in refs))
    await tools.home.publish(user, notice=[f"*Approved from your Home tab* ({len(refs)}):", *lines])


async def _outcome(decider: Decider, tools: Tools, link: Link, ref: RequestRef) -> str:
    name = f"#{escape(ref.request_id)}"
    try:
        done = await decider.decide(link.slack_user_id, link, Intent(ref, "approve"))
    except StaleCardError:
        return f"↪️ {name}: already decided or moved on; nothing was done."
    except (PolicyRefusedError, CommentRequiredError) as skipped:  # its policy: not in bulk
        return f"⏭️ {name}: skipped. {skipped.text}"
    except Exception as error:  # one failure stops no other approval
        answer = await answer_for(error, tools.store, link.slack_user_id)
        if answer is None:
            log.exception("Bulk approval of %s failed", name)
            return f"❌ {name}: something went wrong on our side; try it from its card."
        return f"❌ {name}: {answer.get('text', 'not done')}"
    return f"✅ {name}: {done}"


async def _republish(client: AsyncWebClient, body: dict[str, Any], blocks: list[Any]) -> None:
    view = body["view"]
    shown = {"type": "home", "blocks": blocks, "private_metadata": view.get("private_metadata", "")}
    try:
        await client.views_publish(user_id=body["user"]["id"], view=shown, hash=view.get("hash"))
    except SlackApiError as error:
        if error.response.get("error") != "hash_conflict":
            raise  # a newer tab was published meanwhile: it stands
