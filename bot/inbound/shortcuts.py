"""The shortcuts: "Request approval" in a message's "…" menu, and "New Cflow request"
from anywhere. Both open the new-request form of `/cflow new` (bot.inbound.forms) after
a first step that picks the workflow; from a message, the form starts with the
message's text, the request keeps its link, and a reply in its thread links to it.

A trigger_id lasts 3 s: the modal opens at once ("Asking Cflow…") and is filled in when
Slack and Cflow have answered. Everything reaches Cflow with the clicker's own key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.ids import Shortcut, View
from bot.blocks.messages import not_linked_message
from bot.blocks.modals import MAX_INPUT
from bot.blocks.origins import MessageOrigin, mentioned_users, message_text
from bot.blocks.request_forms import FormTarget, done_view, working_view
from bot.blocks.shortcuts import PickState, picked_workflow, unreached_thread_text, workflow_picker
from bot.blocks.text import escape
from bot.cflow import CflowClient, CflowError, Credentials, Request, Workflow
from bot.inbound.answers import answer_for, tell
from bot.inbound.common import NOT_OURS, Track, as_person, open_link_modal, say_privately
from bot.inbound.forms import fill_new_request_form, submit_form
from bot.outbound.directory import Directory
from bot.people.decisions import credentials_for
from bot.store.contracts import LinkStore
from bot.store.records import Link
from bot.sync.changes import Observation
from bot.sync.publisher import Publisher

ASKING = "Asking Cflow…"

log = logging.getLogger(__name__)


def register(app: AsyncApp, track: Track) -> None:
    app.message_shortcut(Shortcut.REQUEST_APPROVAL)(track(request_from_message))
    app.global_shortcut(Shortcut.NEW_REQUEST)(track(new_request_anywhere))
    app.view(View.PICK_WORKFLOW)(track(as_person(open_form_for_workflow)))
    app.view(View.MESSAGE_REQUEST)(track(as_person(submit_from_message)))


async def request_from_message(
    ack: AsyncAck,
    shortcut: dict[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond,
    store: LinkStore,
    cflow: CflowClient,
    service: Credentials,
) -> None:
    """The picker, for a request made from this message (its text and its link)."""
    await ack()  # Slack waits 3 s, and the trigger_id lasts 3 s: nothing slow before
    user = shortcut["user"]["id"]
    link = await store.link_for(user)
    if link is None:
        await say_privately(respond, not_linked_message())  # as `/cflow new` answers
        return
    view_id = await _open_working(client, shortcut["trigger_id"])
    creds = credentials_for(service, link)
    await _fill_picker(client, store, view_id, user, _message_state(client, shortcut), cflow, creds)


async def new_request_anywhere(
    ack: AsyncAck,
    shortcut: dict[str, Any],
    client: AsyncWebClient,
    store: LinkStore,
    cflow: CflowClient,
    service: Credentials,
    directory: Directory,
) -> None:
    """The picker, for a request made from nowhere in particular; someone not linked yet
    gets the link form instead (a global shortcut has no channel to answer in)."""
    await ack()
    user = shortcut["user"]["id"]
    link = await store.link_for(user)
    if link is None:
        await open_link_modal(directory, client, user, shortcut["trigger_id"])
        return
    view_id = await _open_working(client, shortcut["trigger_id"])
    creds = credentials_for(service, link)
    await _fill_picker(client, store, view_id, user, _nothing(), cflow, creds)


async def _open_working(client: AsyncWebClient, trigger_id: str) -> str:
    opened = await client.views_open(trigger_id=trigger_id, view=working_view(ASKING))
    return str(opened["view"]["id"])


async def _fill_picker(
    client: AsyncWebClient,
    store: LinkStore,
    view_id: str,
    user: str,
    state: Awaitable[PickState],
    cflow: CflowClient,
    creds: Credentials,
) -> None:
    """The workflows the person's own key sees, to pick from; a failure in the modal."""
    try:
        picked, workflows = await asyncio.gather(state, cflow.list_workflows(creds))
    except Exception as error:
        await _show_failure(client, store, view_id, user, error)
        return
    await client.views_update(view_id=view_id, view=workflow_picker(workflows, picked))


async def _nothing() -> PickState:
    return PickState()


async def _message_state(client: AsyncWebClient, shortcut: dict[str, Any]) -> PickState:
    """The message's place (its permalink from Slack) and its text as its author wrote it."""
    message = shortcut.get("message") or {}
    channel = (shortcut.get("channel") or {}).get("id") or ""
    ts = str(shortcut.get("message_ts") or message.get("ts") or "")
    text = str(message.get("text") or "")
    linked, names = await asyncio.gather(
        client.chat_getPermalink(channel=channel, message_ts=ts), _names(client, text)
    )
    origin = MessageOrigin(
        channel=channel,
        ts=ts,
        thread_ts=message.get("thread_ts"),
        permalink=str(linked["permalink"]),
    )
    return PickState(origin=origin, text=message_text(text, names, MAX_INPUT))


async def _names(client: AsyncWebClient, text: str) -> dict[str, str]:
    """The names of the people the text mentions (`<@U…>` carries only the id)."""

    async def name_of(user: str) -> tuple[str, str | None]:
        try:
            found = (await client.users_info(user=user)).get("user") or {}
        except SlackApiError:
            return user, None
        profile = found.get("profile") or {}
        return user, profile.get("display_name") or found.get("real_name") or found.get("name")

    pairs = await asyncio.gather(*map(name_of, mentioned_users(text)))
    return {user: name for user, name in pairs if name}


async def open_form_for_workflow(
    ack: AsyncAck,
    view: dict[str, Any],
    client: AsyncWebClient,
    cflow: CflowClient,
    store: LinkStore,
    creds: Credentials,
    link: Link,
) -> None:
    """The picked workflow's form, in place of the picker (as `/cflow new` shows it)."""
    state = PickState.decode(view.get("private_metadata"))
    workflow_id = picked_workflow(view["state"])
    if state is None or not workflow_id:
        await ack(response_action="update", view=done_view(NOT_OURS))
        return
    await ack(response_action="update", view=working_view(ASKING))
    try:
        workflow = await cflow.get_workflow(creds, workflow_id)
        await fill_new_request_form(
            cflow, client, view["id"], creds, workflow, origin=state.origin, text=state.text
        )
    except Exception as error:
        await _show_failure(client, store, view["id"], link.slack_user_id, error)


async def submit_from_message(
    ack: AsyncAck,
    view: dict[str, Any],
    client: AsyncWebClient,
    cflow: CflowClient,
    publisher: Publisher,
    store: LinkStore,
    creds: Credentials,
    link: Link,
) -> None:
    """The form made from a message, sent as `/cflow new` sends it; then the reply in the
    message's thread, or, where Slack will not take it, a private word of where it is."""
    request = await submit_form(ack, view, client, cflow, publisher, store, creds, link)
    target = FormTarget.decode(view.get("private_metadata"))
    if request is None or target is None or target.origin is None:
        return
    if request.status == "draft":
        return  # a draft is its author's alone, until it is sent
    workflow = Workflow(id=target.workflow_id, name=target.label or target.workflow_id)
    await _reply_in_thread(client, publisher, target.origin, workflow, request, link)
    await _publish_now(cflow, publisher, creds, target.workflow_id, request)


async def _publish_now(
    cflow: CflowClient,
    publisher: Publisher,
    creds: Credentials,
    workflow_id: str,
    request: Request,
) -> None:
    """Publish the new request now, as the poller would at its next cycle: the poller
    passes over a request it first lists already decided, so one decided within a poll
    interval would otherwise leave its thread reply waiting for good."""
    try:
        workflow = await cflow.get_workflow(creds, workflow_id)
    except CflowError as error:  # the poller publishes it at its next cycle instead
        log.info("New request %s left to the poller (%s)", request.id, type(error).__name__)
        return
    await publisher.enqueue([Observation(workflow, request, None)])


async def _reply_in_thread(
    client: AsyncWebClient,
    publisher: Publisher,
    origin: MessageOrigin,
    workflow: Workflow,
    request: Request,
    link: Link,
) -> None:
    refused = await publisher.threads.post(origin, workflow, request, link.slack_user_id)
    if refused is None:
        return
    url = publisher.request_url(workflow.id, request.id)
    text = unreached_thread_text(origin, url, request.id, refused)
    await tell({"text": text}, client=client, user=link.slack_user_id)


async def _show_failure(
    client: AsyncWebClient, store: LinkStore, view_id: str, user: str, error: Exception
) -> None:
    """A domain error's own answer in the modal; anything else goes up the one error path."""
    answer = await answer_for(error, store, user)
    if answer is None and isinstance(error, SlackApiError):
        reason = error.response.get("error") or "an error"
        answer = {"text": f"Slack would not tell me about that message (`{escape(reason)}`)."}
    if answer is None:
        raise error
    await client.views_update(view_id=view_id, view=done_view(answer["text"]))
