"""New requests and drafts: `/cflow new`, `/cflow drafts`, and their modals.

A modal opens at once (a trigger_id lasts 3 s) showing that Cflow is being asked, and
is filled in when Cflow answers. On submission Cflow gets most of Slack's 3 s so that
its validation errors can appear inline (`response_action: errors`); a slower Cflow
gets a "working" view first and the outcome after, with nothing typed lost either way.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.card import request_card
from bot.blocks.ids import Action, View
from bot.blocks.messages import RELINK_TEXT
from bot.blocks.origins import TEXT_FIELD, MessageOrigin
from bot.blocks.request_forms import (
    DRAFT,
    FormTarget,
    done_view,
    field_errors,
    field_names,
    form_values,
    request_form,
    typed_form,
    working_view,
)
from bot.blocks.text import escape
from bot.cflow import (
    CflowClient,
    CflowError,
    CflowRejectedError,
    CflowUnauthorizedError,
    Credentials,
    Request,
    Workflow,
)
from bot.domain.refs import RequestRef
from bot.inbound.answers import answer_for
from bot.inbound.common import NOT_OURS, Track, as_person, say_privately
from bot.store.contracts import LinkStore
from bot.store.records import Link
from bot.sync.publisher import Publisher

# Slack drops a modal submission after 3 s: what Cflow has not answered by then is
# reported by updating the modal instead.
ACK_BUDGET = 2.0
RECENT_REQUESTS = 20
DELETE_UNCONFIRMED = (
    "Cflow did not confirm, so it is not known whether the draft was deleted: "
    "`/cflow drafts` shows what is left."
)
UNCONFIRMED = (
    "Cflow did not confirm in time, so it is not known whether this was saved. "
    "Check your requests in Cflow before sending it again."
)


def register(app: AsyncApp, track: Track) -> None:
    app.view(View.NEW_REQUEST)(track(as_person(submit_form)))
    app.view(View.EDIT_DRAFT)(track(as_person(submit_form)))
    app.action(Action.EDIT_DRAFT)(track(as_person(open_draft_editor)))
    app.action(Action.DELETE_DRAFT)(track(as_person(delete_draft)))


async def fill_new_request_form(
    cflow: CflowClient,
    client: AsyncWebClient,
    view_id: str,
    creds: Credentials,
    workflow: Workflow,
    *,
    origin: MessageOrigin | None = None,
    text: str = "",
) -> None:
    """Turn the opened "working" modal into the form, with field names from Cflow; made
    from a message (`origin`), with its `text` in the first field."""
    recent = await cflow.list_requests(creds, workflow.id)
    recent.sort(key=lambda r: r.created_at.timestamp() if r.created_at else 0, reverse=True)
    names = field_names(workflow, recent[:RECENT_REQUESTS])
    target = FormTarget(workflow_id=workflow.id, label=workflow.label, names=names, origin=origin)
    values = {(names[0] if names else TEXT_FIELD): text} if text else None
    await client.views_update(view_id=view_id, view=request_form(workflow, target, values))


async def submit_form(
    ack: AsyncAck,
    view: dict[str, Any],
    client: AsyncWebClient,
    cflow: CflowClient,
    publisher: Publisher,
    store: LinkStore,
    creds: Credentials,
    link: Link,
) -> Request | None:
    """A new request or draft, or an edited draft: sent with the person's own key; the
    request Cflow created, if it did."""
    target = FormTarget.decode(view.get("private_metadata"))
    editing = view["callback_id"] == View.EDIT_DRAFT
    if target is None or editing != (target.request_id is not None):
        await ack(response_action="update", view=done_view(NOT_OURS))
        return None
    fields, mode = form_values(view["state"], target)
    if not fields:
        nothing = (
            done_view("Nothing changed: the draft is as it was.")
            if editing
            else form_again(target, view, "Fill in at least one field.")
        )
        await ack(response_action="update", view=nothing)
        return None
    call = asyncio.create_task(_write(cflow, creds, target, fields, mode))
    return await _answer(
        ack, client, Sent(cflow, publisher, store, creds, link), view, target, call
    )


async def _write(
    cflow: CflowClient, creds: Credentials, target: FormTarget, fields: dict[str, Any], mode: str
) -> Request | None:
    if target.request_id is not None:
        return await cflow.update_request(creds, target.workflow_id, target.request_id, fields)
    create = cflow.create_draft if mode == DRAFT else cflow.create_request
    return await create(creds, target.workflow_id, fields)


@dataclass(frozen=True)
class Sent:
    """What a form's outcome needs besides Slack: whom it was for, and how to show it."""

    cflow: CflowClient
    publisher: Publisher
    store: LinkStore
    creds: Credentials
    link: Link


async def _answer(
    ack: AsyncAck,
    client: AsyncWebClient,
    sent: Sent,
    view: dict[str, Any],
    target: FormTarget,
    call: asyncio.Task[Request | None],
) -> Request | None:
    """Answer inside Slack's 3 s when Cflow is quick; otherwise update the modal after;
    the request Cflow sent back, if any."""
    done, _ = await asyncio.wait({call}, timeout=ACK_BUDGET)
    if not done:
        await ack(response_action="update", view=working_view("Cflow is working on it…"))
    try:
        request = await call
    except CflowError as error:
        if error.may_have_succeeded:
            # Sending the form again could create the request twice: never offer it.
            await _show(ack, client, view, done_view(UNCONFIRMED), acked=not done)
            return None
        rejected = error if isinstance(error, CflowRejectedError) else None
        errors = field_errors(target, rejected.field_errors) if rejected else {}
        if done and errors:
            await ack(response_action="errors", errors=errors)
            return None
        problem = f"Cflow says: {error.message}"
        if isinstance(error, CflowUnauthorizedError):
            await sent.store.mark_key_refused(sent.link.slack_user_id)  # DMs invite to relink
            problem = f"{RELINK_TEXT} (`/cflow link`)"
        await _show(ack, client, view, form_again(target, view, problem), acked=not done)
        return None
    if request is None:
        await _show(ack, client, view, done_view(_accepted_text(target)), acked=not done)
        return None
    result = done_view(_created_text(sent.publisher, target, request))
    await _show(ack, client, view, result, acked=not done)
    await _send_card(sent, client, target, request)
    return request


async def _show(
    ack: AsyncAck,
    client: AsyncWebClient,
    view: dict[str, Any],
    shown: dict[str, Any],
    *,
    acked: bool,
) -> None:
    """Replace the modal: in the acknowledgement when there is still time, else by update."""
    if acked:
        await client.views_update(view_id=view["id"], view=shown)
    else:
        await ack(response_action="update", view=shown)


def form_again(target: FormTarget, view: dict[str, Any], error: str) -> dict[str, Any]:
    """The same form, everything typed kept as typed, with the problem on top."""
    workflow = Workflow(id=target.workflow_id, name=target.label or target.workflow_id)
    texts, rows = typed_form(view["state"], target)
    return request_form(workflow, target, texts, error=error, rows=rows)


def _accepted_text(target: FormTarget) -> str:
    """Cflow said yes (a 2xx) without sending the request back."""
    what = "Saved" if target.request_id else "Done"
    return f"{what}: Cflow accepted it, without saying more. `/cflow pending` and Cflow show it."


def _created_text(publisher: Publisher, target: FormTarget, request: Request) -> str:
    url = publisher.request_url(target.workflow_id, request.id)
    what = (
        "Saved"
        if target.request_id
        else ("Saved as a draft" if request.status == "draft" else "Sent")
    )
    return f"{what}: <{url}|request #{escape(request.id)}> ({escape(request.status or 'unknown')})."


async def _send_card(
    sent: Sent, client: AsyncWebClient, target: FormTarget, request: Request
) -> None:
    """The new request's card, in the bot's DM with its author."""
    try:
        workflow = await sent.cflow.get_workflow(sent.creds, target.workflow_id)
    except CflowError:
        return
    view = sent.publisher.card_view(workflow, request, reader=sent.creds.username)
    await client.chat_postMessage(channel=sent.link.slack_user_id, **request_card(view))


async def open_draft_editor(
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    cflow: CflowClient,
    store: LinkStore,
    creds: Credentials,
    link: Link,
    ref: RequestRef,
) -> None:
    opened = await client.views_open(
        trigger_id=body["trigger_id"], view=working_view("Asking Cflow…")
    )
    try:
        workflow, draft = await asyncio.gather(
            cflow.get_workflow(creds, ref.workflow_id),
            cflow.get_request(creds, ref.workflow_id, ref.request_id),
        )
    except CflowError as error:
        answer = await answer_for(error, store, link.slack_user_id) or {"text": error.message}
        await client.views_update(view_id=opened["view"]["id"], view=done_view(answer["text"]))
        return
    form = request_form(workflow, FormTarget.for_draft(workflow, draft), draft.fields)
    await client.views_update(view_id=opened["view"]["id"], view=form)


async def delete_draft(
    action: dict[str, Any],
    respond: AsyncRespond,
    cflow: CflowClient,
    creds: Credentials,
    ref: RequestRef,
) -> None:
    try:
        await cflow.delete_request(creds, ref.workflow_id, ref.request_id)
    except CflowError as error:
        if not error.may_have_succeeded:
            raise  # answered by the one error path
        await say_privately(respond, {"text": DELETE_UNCONFIRMED})
        return
    await say_privately(respond, {"text": f"Deleted draft #{escape(ref.request_id)}."})
