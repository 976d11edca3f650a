"""New requests and drafts: `/cflow new`, `/cflow drafts`, and their modals.

A modal opens at once (a trigger_id lasts 3 s) showing that Cflow is being asked, and
is filled in when Cflow answers. On submission Cflow gets most of Slack's 3 s so that
its validation errors can appear inline (`response_action: errors`); a slower Cflow
gets a "working" view first and the outcome after, with nothing typed lost either way.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.cflow import (
    CflowError,
    CflowRejectedError,
    CflowUnauthorizedError,
    Credentials,
    Request,
    Workflow,
)
from bot.decisions import credentials_for
from bot.listeners.common import (
    Ack,
    Respond,
    Track,
    clicker_link,
    key_refused,
    say_privately,
)
from bot.services import Services
from bot.slack.card import request_card
from bot.slack.card_view import CardView
from bot.slack.ids import Action, RequestRef, View
from bot.slack.messages import RELINK_TEXT, not_linked_message
from bot.slack.request_forms import (
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
from bot.slack.text import escape

# Slack drops a modal submission after 3 s: what Cflow has not answered by then is
# reported by updating the modal instead.
ACK_BUDGET = 2.0
RECENT_REQUESTS = 20
UNCONFIRMED = (
    "Cflow did not confirm in time, so it is not known whether this was saved. "
    "Check your requests in Cflow before sending it again."
)


def register(app: AsyncApp, track: Track) -> None:
    app.view(View.NEW_REQUEST)(track(submit_new_request))
    app.view(View.EDIT_DRAFT)(track(submit_draft))
    app.action(Action.EDIT_DRAFT)(track(open_draft_editor))
    app.action(Action.DELETE_DRAFT)(track(delete_draft))


async def fill_new_request_form(
    services: Services,
    client: AsyncWebClient,
    view_id: str,
    creds: Credentials,
    workflow: Workflow,
) -> None:
    """Turn the opened "working" modal into the form, with field names from Cflow."""
    recent = await services.cflow.list_requests(creds, workflow.id)
    recent.sort(key=lambda r: r.created_at.timestamp() if r.created_at else 0, reverse=True)
    names = field_names(workflow, recent[:RECENT_REQUESTS])
    target = FormTarget(workflow_id=workflow.id, label=workflow.label, names=names)
    await client.views_update(view_id=view_id, view=request_form(workflow, target))


async def submit_new_request(
    ack: Ack,
    body: dict[str, Any],
    view: dict[str, Any],
    services: Services,
    client: AsyncWebClient,
) -> None:
    target = FormTarget.decode(view.get("private_metadata"))
    link = await services.store.link_for(body["user"]["id"])
    if target is None or link is None:
        await ack(response_action="update", view=done_view(not_linked_message()["text"]))
        return
    fields, mode = form_values(view["state"], target)
    if not fields:
        problem = "Fill in at least one field."
        await ack(response_action="update", view=form_again(target, view, problem))
        return
    creds = credentials_for(services.service, link)
    create = services.cflow.create_draft if mode == DRAFT else services.cflow.create_request
    call = asyncio.create_task(create(creds, target.workflow_id, fields))
    await _answer(ack, client, services, body, view, target, call)


async def submit_draft(
    ack: Ack,
    body: dict[str, Any],
    view: dict[str, Any],
    services: Services,
    client: AsyncWebClient,
) -> None:
    target = FormTarget.decode(view.get("private_metadata"))
    link = await services.store.link_for(body["user"]["id"])
    if target is None or target.request_id is None or link is None:
        await ack(response_action="update", view=done_view(not_linked_message()["text"]))
        return
    fields, _ = form_values(view["state"], target)
    if not fields:
        await ack(
            response_action="update", view=done_view("Nothing changed: the draft is as it was.")
        )
        return
    creds = credentials_for(services.service, link)
    call = asyncio.create_task(
        services.cflow.update_request(creds, target.workflow_id, target.request_id, fields)
    )
    await _answer(ack, client, services, body, view, target, call)


async def _answer(
    ack: Ack,
    client: AsyncWebClient,
    services: Services,
    body: dict[str, Any],
    view: dict[str, Any],
    target: FormTarget,
    call: asyncio.Task[Request | None],
) -> None:
    """Answer inside Slack's 3 s when Cflow is quick; otherwise update the modal after."""
    done, _ = await asyncio.wait({call}, timeout=ACK_BUDGET)
    if not done:
        await ack(response_action="update", view=working_view("Cflow is working on it…"))
    try:
        request = await call
    except CflowError as error:
        if error.may_have_succeeded:
            # Sending the form again could create the request twice: never offer it.
            await _show(ack, client, view, done_view(UNCONFIRMED), acked=not done)
            return
        rejected = isinstance(error, CflowRejectedError)
        errors = field_errors(target, error.field_errors) if rejected else {}
        if done and errors:
            await ack(response_action="errors", errors=errors)
            return
        problem = f"Cflow says: {error.message}"
        if isinstance(error, CflowUnauthorizedError):
            await key_refused(services, body["user"]["id"])
            problem = f"{RELINK_TEXT} (`/cflow link`)"
        await _show(ack, client, view, form_again(target, view, problem), acked=not done)
        return
    if request is None:
        await _show(ack, client, view, done_view(_accepted_text(target)), acked=not done)
        return
    result = done_view(_created_text(services, target, request))
    await _show(ack, client, view, result, acked=not done)
    await _send_card(services, client, body["user"]["id"], target, request)


async def _show(
    ack: Ack, client: AsyncWebClient, view: dict[str, Any], shown: dict[str, Any], *, acked: bool
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


def _created_text(services: Services, target: FormTarget, request: Request) -> str:
    url = services.publisher.request_url(target.workflow_id, request.id)
    what = (
        "Saved"
        if target.request_id
        else ("Saved as a draft" if request.status == "draft" else "Sent")
    )
    return f"{what}: <{url}|request #{escape(request.id)}> ({escape(request.status or 'unknown')})."


async def _send_card(
    services: Services, client: AsyncWebClient, user: str, target: FormTarget, request: Request
) -> None:
    """The new request's card, in the bot's DM with its author."""
    link = await services.store.link_for(user)
    if link is None:
        return
    creds = credentials_for(services.service, link)
    try:
        workflow = await services.cflow.get_workflow(creds, target.workflow_id)
    except CflowError:
        return
    view = CardView(
        request=request,
        workflow=workflow,
        now=datetime.now(UTC),
        cflow_url=services.publisher.request_url(workflow.id, request.id),
        actionable=creds.username in request.reviewers(workflow),
    )
    await client.chat_postMessage(channel=user, **request_card(view))


async def open_draft_editor(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    services: Services,
    client: AsyncWebClient,
    respond: Respond,
) -> None:
    await ack()
    ref = RequestRef.decode(action.get("value"))
    link = await clicker_link(services, body, respond) if ref else None
    if ref is None or link is None:
        return
    opened = await client.views_open(
        trigger_id=body["trigger_id"], view=working_view("Asking Cflow…")
    )
    creds = credentials_for(services.service, link)
    try:
        workflow, draft = await asyncio.gather(
            services.cflow.get_workflow(creds, ref.workflow_id),
            services.cflow.get_request(creds, ref.workflow_id, ref.request_id),
        )
    except CflowError as error:
        await client.views_update(
            view_id=opened["view"]["id"], view=done_view(f"Cflow says: {escape(error.message)}")
        )
        return
    form = request_form(workflow, FormTarget.for_draft(workflow, draft), draft.fields)
    await client.views_update(view_id=opened["view"]["id"], view=form)


async def delete_draft(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    services: Services,
    respond: Respond,
) -> None:
    await ack()
    ref = RequestRef.decode(action.get("value"))
    link = await clicker_link(services, body, respond) if ref else None
    if ref is None or link is None:
        return
    creds = credentials_for(services.service, link)
    try:
        await services.cflow.delete_request(creds, ref.workflow_id, ref.request_id)
    except CflowError as error:
        text = (
            "Cflow did not confirm, so it is not known whether the draft was deleted: "
            "`/cflow drafts` shows what is left."
            if error.may_have_succeeded
            else f"Cflow says: {escape(error.message)}"
        )
        await say_privately(respond, {"text": text})
        return
    await say_privately(respond, {"text": f"Deleted draft #{escape(ref.request_id)}."})
