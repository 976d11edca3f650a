"""Modal submissions: reject with a reason, approve with a comment, reassign, link."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.ids import Input, View, values_of
from bot.blocks.modals import (
    link_checking_view,
    link_done_view,
    link_modal,
    modal_target,
    reassign_choice,
)
from bot.cflow import CflowError, CflowUnauthorizedError, Credentials
from bot.domain.access import same_user
from bot.domain.policy import comment_required
from bot.inbound.answers import said, tell
from bot.inbound.commands import list_again
from bot.inbound.common import NOT_OURS, Track, as_person, tell_in_dm
from bot.inbound.subcommands import Tools
from bot.outbound.directory import Directory, same_email
from bot.people.decisions import Decider, Intent, Verb
from bot.store.records import Link, WorkflowPolicy

REASON_NEEDED = "Please give a reason."
COMMENT_NEEDED = "Please write a comment."
NOT_LINKED = "They have not linked a Cflow account (/cflow link), so Cflow would not know them."
SERVICE_ACCOUNT = "This is the bot's own Cflow account: nobody acts as it. Give your own."


def register(app: AsyncApp, track: Track) -> None:
    for callback_id in (View.REJECT, View.APPROVE_COMMENT, View.REASSIGN):
        app.view(callback_id)(track(as_person(submit_decision)))
    app.view(View.LINK)(track(submit_link))


async def submit_decision(
    ack: AsyncAck,
    view: dict[str, Any],
    client: AsyncWebClient,
    decider: Decider,
    link: Link,
    tools: Tools,
) -> None:
    """Reject with a reason, approve with a comment, or hand over: one submission path."""
    ref, origin = modal_target(view.get("private_metadata"))
    policy = await decider.policy(ref.workflow_id) if ref is not None else None
    asked = _asked(view["callback_id"], values_of(view["state"]["values"]), policy)
    if view["callback_id"] == View.REASSIGN and not isinstance(asked, Problem):
        target = await _handed_to(tools, link, reassign_choice(view["state"]))
        asked = target if isinstance(target, Problem) else ("approve", asked[1] | target)
    if isinstance(asked, Problem):
        await ack(response_action="errors", errors={asked.input: asked.text})
        return
    await ack()  # the modal closes; the outcome is told where the person started
    verb, options = asked
    user = link.slack_user_id
    if ref is None:
        await tell_in_dm(client, user, NOT_OURS)
        return
    decision = decider.decide(user, link, Intent(ref, verb, **options))
    if origin is not None:  # opened from `/cflow pending`: that list, afresh, says it
        respond = AsyncRespond(response_url=origin.response_url)
        answer = await said(decision, tools.store, user)
        await list_again(tools, client, respond, user, origin.page_scope, answer)
        return
    answer = await said(decision, tools.store, user)  # what was done, or why not
    await tell(answer, client=client, user=user)  # their DM, or logged
    await tools.home.refresh(user)  # their Home tab, if they decided from there


@dataclass(frozen=True)
class Problem:
    input: Input
    text: str


def _asked(
    callback_id: str, values: dict[str, str | None], policy: WorkflowPolicy | None
) -> tuple[Verb, dict[str, Any]] | Problem:
    """What the modal asks for, or the input that needs fixing first: a blank reason
    where the workflow's policy asks one (always, without a policy), a blank comment in
    the approve-with-comment modal (Slack lets one of spaces through)."""
    comment = (values.get(Input.COMMENT) or "").strip() or None
    if callback_id == View.REJECT:
        reason = (values.get(Input.REASON) or "").strip()
        required = policy is None or comment_required(policy, "reject")
        if required and not reason:
            return Problem(Input.REASON, REASON_NEEDED)
        return "reject", {"comment": reason or None}
    if callback_id == View.APPROVE_COMMENT and comment is None:
        return Problem(Input.COMMENT, COMMENT_NEEDED)
    return "approve", {"comment": comment}


async def _handed_to(tools: Tools, link: Link, chosen: str | None) -> dict[str, str] | Problem:
    """The Cflow account of the Slack member picked to take the stage over (as
    `reassign_to`), or why Cflow is not asked: only someone else, by their own link."""
    if chosen is None:
        return Problem(Input.REASSIGN_TO, "Whom to hand it to?")
    if chosen == link.slack_user_id:
        theirs: str | None = link.cflow_username
    else:  # their username only: their key is theirs to use, not decrypted here
        theirs = (await tools.store.cflow_users_for([chosen])).get(chosen)
    if theirs is None:
        return Problem(Input.REASSIGN_TO, NOT_LINKED)
    if same_user(theirs, tools.service.username):
        return Problem(Input.REASSIGN_TO, "That is the bot's own Cflow account: nobody acts as it.")
    if same_user(theirs, link.cflow_username):
        return Problem(Input.REASSIGN_TO, "Choose someone else than yourself.")
    return {"reassign_to": theirs}


async def submit_link(
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    client: AsyncWebClient,
    tools: Tools,
    directory: Directory,
) -> None:
    values = values_of(view["state"]["values"])
    username = (values.get(Input.CFLOW_USERNAME) or "").strip()
    key = (values.get(Input.USER_KEY) or "").strip()
    if same_user(username, tools.service.username):
        await ack(response_action="errors", errors={Input.CFLOW_USERNAME: SERVICE_ACCOUNT})
        return
    # Checking the key means calling Cflow: show progress now, answer within 3 s.
    await ack(response_action="update", view=link_checking_view())
    user = body["user"]["id"]
    problem = await link_problem(
        tools,
        directory,
        user,
        Credentials(api_key=tools.service.api_key, username=username, user_key=SecretStr(key)),
    )
    if problem:
        await client.views_update(view_id=view["id"], view=link_modal(username, problem))
        return
    await tools.store.save_link(Link(user, username, SecretStr(key)))
    await client.views_update(view_id=view["id"], view=link_done_view(username))


async def link_problem(
    tools: Tools, directory: Directory, user: str, creds: Credentials
) -> str | None:
    """Why this Slack user may not link to this Cflow account, or None when they may."""
    try:
        await tools.cflow.list_workflows(creds)
    except CflowUnauthorizedError:
        return "Cflow did not accept this username and user key."
    except CflowError as error:
        return f"Could not check the key with Cflow: {error.message}"
    users = await directory.cflow_users()
    if users is None:
        if user in tools.settings.cflow_bot_admins:
            return None
        return "Cflow's user list cannot be read to confirm this is you; ask an admin to link you."
    cflow_user = users.get(creds.username)
    email = await directory.slack_email(user)
    if cflow_user is None or not same_email(cflow_user.email, email):
        return "The email of this Cflow user does not match your Slack email."
    return None
