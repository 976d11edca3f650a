"""Modal submissions: reject with a reason, approve with a comment, reassign, link."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.cflow import CflowError, CflowUnauthorizedError, Credentials
from bot.decisions import Decider, Intent
from bot.directory import same_email
from bot.listeners.commands import list_again
from bot.listeners.common import NOT_OURS, Track, needs_link, tell_in_dm
from bot.services import Services
from bot.slack.ids import Input, View, values_of
from bot.slack.modals import (
    link_checking_view,
    link_done_view,
    link_modal,
    modal_target,
)
from bot.store.base import Link


def register(app: AsyncApp, track: Track) -> None:
    as_person = [needs_link]
    app.view(View.REJECT, middleware=as_person)(track(submit_reject))
    app.view(View.APPROVE_COMMENT, middleware=as_person)(track(submit_approve_comment))
    app.view(View.REASSIGN, middleware=as_person)(track(submit_reassign))
    app.view(View.LINK)(track(submit_link))


async def submit_reject(
    ack: AsyncAck,
    view: dict[str, Any],
    client: AsyncWebClient,
    decider: Decider,
    link: Link,
    services: Services,
) -> None:
    reason = (values_of(view["state"]["values"]).get(Input.REASON) or "").strip()
    if not reason:
        await ack(response_action="errors", errors={Input.REASON: "Please give a reason."})
        return
    await ack()
    await _decide_from_modal(
        Decided(decider, link, services, client), view, "reject", comment=reason
    )


async def submit_approve_comment(
    ack: AsyncAck,
    view: dict[str, Any],
    client: AsyncWebClient,
    decider: Decider,
    link: Link,
    services: Services,
) -> None:
    await ack()
    comment = values_of(view["state"]["values"]).get(Input.COMMENT)
    await _decide_from_modal(
        Decided(decider, link, services, client), view, "approve", comment=comment
    )


async def submit_reassign(
    ack: AsyncAck,
    view: dict[str, Any],
    client: AsyncWebClient,
    decider: Decider,
    link: Link,
    services: Services,
) -> None:
    values = values_of(view["state"]["values"])
    target = (values.get(Input.REASSIGN_TO) or "").strip()
    if not target:
        await ack(response_action="errors", errors={Input.REASSIGN_TO: "Whom to hand it to?"})
        return
    await ack()
    await _decide_from_modal(
        Decided(decider, link, services, client),
        view,
        "approve",
        comment=values.get(Input.COMMENT),
        reassign_to=target,
    )


@dataclass(frozen=True)
class Decided:
    """Who decides from a modal, and with what."""

    decider: Decider
    link: Link
    services: Services
    client: AsyncWebClient


async def _decide_from_modal(by: Decided, view: dict[str, Any], verb: Any, **options: Any) -> None:
    """After the modal is closed: decide, and tell the person where they started."""
    user, client = by.link.slack_user_id, by.client
    ref, origin = modal_target(view.get("private_metadata"))
    if ref is None:
        await tell_in_dm(client, user, NOT_OURS)
        return
    outcome = await by.decider.decide(user, by.link, Intent(ref, verb, **options))
    if origin is not None:  # opened from `/cflow pending`: that list, afresh, says it
        respond = AsyncRespond(response_url=origin.response_url)
        await list_again(by.services, client, respond, user, origin.page_scope, outcome.message())
        return
    await client.chat_postMessage(channel=user, **outcome.message())


async def submit_link(
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    services: Services,
    client: AsyncWebClient,
) -> None:
    values = values_of(view["state"]["values"])
    username = (values.get(Input.CFLOW_USERNAME) or "").strip()
    key = (values.get(Input.USER_KEY) or "").strip()
    # Checking the key means calling Cflow: show progress now, answer within 3 s.
    await ack(response_action="update", view=link_checking_view())
    user = body["user"]["id"]
    problem = await link_problem(services, user, username, key)
    if problem:
        await client.views_update(view_id=view["id"], view=link_modal(username, problem))
        return
    await services.store.save_link(Link(user, username, SecretStr(key)))
    await client.views_update(view_id=view["id"], view=link_done_view(username))


async def link_problem(services: Services, user: str, username: str, key: str) -> str | None:
    """Why this Slack user may not link to this Cflow account, or None when they may."""
    creds = Credentials(
        api_key=services.service.api_key, username=username, user_key=SecretStr(key)
    )
    try:
        await services.cflow.list_workflows(creds)
    except CflowUnauthorizedError:
        return "Cflow did not accept this username and user key."
    except CflowError as error:
        return f"Could not check the key with Cflow: {error.message}"
    users = await services.directory.cflow_users()
    if users is None:
        if services.is_admin(user):
            return None
        return "Cflow's user list cannot be read to confirm this is you; ask an admin to link you."
    cflow_user = users.get(username)
    email = await services.directory.slack_email(user)
    if cflow_user is None or not same_email(cflow_user.email, email):
        return "The email of this Cflow user does not match your Slack email."
    return None
