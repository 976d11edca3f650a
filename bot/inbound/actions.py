"""Buttons on request cards: approve, reject, the overflow menu, and "link my account"."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.card_actions import busy_blocks
from bot.blocks.ids import Action, MoreOption, more_option
from bot.blocks.lists import listed_page
from bot.blocks.modals import ListOrigin, approve_comment_modal, reassign_modal, reject_modal
from bot.blocks.text import escape
from bot.domain.errors import DecisionError, NotReviewerError, PolicyRefusedError
from bot.domain.policy import comment_required
from bot.domain.refs import RequestRef
from bot.inbound.answers import SLACK_FAILURES, said, said_with_undo
from bot.inbound.commands import list_again
from bot.inbound.common import (
    Track,
    as_person,
    open_link_modal,
    say_privately,
)
from bot.inbound.subcommands import Tools
from bot.outbound.directory import Directory
from bot.people.decisions import Decider, Intent
from bot.store.records import Link, WorkflowPolicy

log = logging.getLogger(__name__)


def register(app: AsyncApp, track: Track) -> None:
    app.action(Action.APPROVE)(track(as_person(approve)))
    app.action(Action.REJECT)(track(as_person(open_reject_modal)))
    app.action(Action.MORE)(track(as_person(open_more_modal)))
    app.action(Action.OPEN_IN_CFLOW)(track(just_ack))
    app.action(Action.LINK)(track(open_link_modal_from_button))


async def approve(
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond,
    decider: Decider,
    link: Link,
    tools: Tools,
    ref: RequestRef,
) -> None:
    user = link.slack_user_id
    policy = await _may_decide(decider, link, Intent(ref, "approve"), respond)
    if policy is None:
        return
    page_scope = _listed_in(body, action)
    if comment_required(policy, "approve"):  # the comment first, in a modal
        origin = ListOrigin(body["response_url"], page_scope) if page_scope is not None else None
        view = approve_comment_modal(ref, _title(ref), origin)
        await client.views_open(trigger_id=body["trigger_id"], view=view)
        return
    if page_scope is not None:  # an ephemeral `/cflow pending` answer: replaced at once
        await respond(text=f"⏳ Approving #{escape(ref.request_id)} as you…", replace_original=True)
        decision = decider.decide(user, link, Intent(ref, "approve"))
        answer = await said(decision, tools.store, user)
        await list_again(tools, client, respond, user, page_scope, answer)
        return
    if _on_home(body):  # the tab itself says what was done, and shows what is left
        decision = decider.decide(user, link, Intent(ref, "approve"))
        answer, undo = await said_with_undo(decision, tools.store, user)
        await tools.home.publish(user, notice=[answer.get("text", "")], undo=undo)
        return
    busy = BusyCard(client, body, "Approving as", user)
    try:
        done = await decider.decide(user, link, Intent(ref, "approve"), when_held=busy.show)
    except DecisionError as error:
        if not error.card_restored:
            await busy.undo()
        raise  # answered by the one error path
    except Exception:
        await busy.undo()
        raise
    await say_privately(respond, {"text": done})


async def open_reject_modal(
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond,
    decider: Decider,
    link: Link,
    ref: RequestRef,
) -> None:
    policy = await _may_decide(decider, link, Intent(ref, "reject"), respond)
    if policy is None:
        return
    page_scope = _listed_in(body, action)
    origin = ListOrigin(body["response_url"], page_scope) if page_scope is not None else None
    view = reject_modal(ref, _title(ref), origin, required=comment_required(policy, "reject"))
    await client.views_open(trigger_id=body["trigger_id"], view=view)


async def open_more_modal(
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond,
    decider: Decider,
    link: Link,
    ref: RequestRef,
) -> None:
    if await _may_decide(decider, link, Intent(ref, "approve"), respond) is None:
        return
    if more_option(action) is MoreOption.REASSIGN:  # a Slack member, never Cflow's directory
        view = reassign_modal(ref, _title(ref))
    else:
        view = approve_comment_modal(ref, _title(ref))
    await client.views_open(trigger_id=body["trigger_id"], view=view)


async def open_link_modal_from_button(
    ack: AsyncAck, body: dict[str, Any], directory: Directory, client: AsyncWebClient
) -> None:
    await ack()
    await open_link_modal(directory, client, body["user"]["id"], body["trigger_id"])


async def just_ack(ack: AsyncAck) -> None:
    """The "Open in Cflow" link button still sends an action; Slack wants it acknowledged."""
    await ack()


async def _may_decide(
    decider: Decider, link: Link, intent: Intent, respond: AsyncRespond
) -> WorkflowPolicy | None:
    """The workflow's policy; None, with a private answer, for someone plainly not a
    reviewer or whom the policy keeps from deciding it here (their own request, a
    web-only one): the shared card stays as it was, and no lock or decision is made."""
    try:
        return await decider.check(link, intent)
    except (NotReviewerError, PolicyRefusedError) as refused:
        await say_privately(respond, {"text": refused.text})
        return None


class BusyCard:
    """The clicked card's "⏳ Approving as …" line in place of its buttons, so nobody
    clicks twice: shown once the click holds the request, and put back as it was clicked
    when the decision could not re-render the cards. Slack failing either edit is logged:
    it stops no decision, and hides no answer."""

    def __init__(self, client: AsyncWebClient, body: dict[str, Any], text: str, by: str) -> None:
        self._client, self._body, self._text, self._by = client, body, text, by
        self._blocks = _editable_blocks(body)
        self._shown = False

    async def show(self) -> None:
        if self._blocks is not None:
            self._shown = True  # a failed edit may still have reached Slack
            await self._edit(busy_blocks(self._blocks, self._text, self._by), "show")

    async def undo(self) -> None:
        if self._blocks is not None and self._shown:
            await self._edit(self._blocks, "put back")

    async def _edit(self, blocks: list[dict[str, Any]], what: str) -> None:
        try:
            await _edit_clicked(self._client, self._body, blocks)
        except SLACK_FAILURES as failure:
            log.warning("Could not %s the busy line of a clicked card: %r", what, failure)


def _on_home(body: dict[str, Any]) -> bool:
    return (body.get("view") or {}).get("type") == "home"


def _listed_in(body: dict[str, Any], action: dict[str, Any]) -> str | None:
    """The "<page> <scope>" of the ephemeral `/cflow pending` answer clicked in, if any."""
    if not (body.get("container") or {}).get("is_ephemeral") or not body.get("response_url"):
        return None
    return listed_page(action.get("block_id"))


def _editable_blocks(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    container = body.get("container") or {}
    if container.get("is_app_unfurl"):  # a link preview: its own blocks, never the message
        return list((body.get("app_unfurl") or {}).get("blocks") or []) or None
    blocks = (body.get("message") or {}).get("blocks")
    # An ephemeral message (a /cflow answer) cannot be edited with chat.update.
    if not blocks or not container.get("message_ts") or container.get("is_ephemeral"):
        return None
    return list(blocks)


async def _edit_clicked(
    client: AsyncWebClient, body: dict[str, Any], blocks: list[dict[str, Any]]
) -> None:
    container = body["container"]
    if container.get("is_app_unfurl"):  # the message is someone else's: its preview only
        await client.chat_unfurl(
            channel=container["channel_id"],
            ts=container["message_ts"],
            unfurls={container["app_unfurl_url"]: {"blocks": blocks}},
        )
        return
    await client.chat_update(
        channel=container["channel_id"],
        ts=container["message_ts"],
        blocks=blocks,
        text=body["message"].get("text", "Cflow request"),
    )


def _title(ref: RequestRef) -> str:
    return f"Request #{ref.request_id}"
