"""What each `/cflow` subcommand does, with the caller's own Cflow credentials.

Every handler gets a `CommandContext`; answers are ephemeral (through `respond`), Cflow's
refusals are shown in its own words, and nobody without a link reaches Cflow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.card import request_card
from bot.blocks.command_text import CommandText, channel_id, channel_name, request_name
from bot.blocks.lists import (
    drafts_message,
    lines_message,
    pending_message,
    role_line,
    subscription_line,
    user_line,
    workflow_line,
)
from bot.blocks.request_forms import done_view, working_view
from bot.blocks.text import escape
from bot.cflow import (
    CflowClient,
    CflowForbiddenError,
    CflowNotFoundError,
    Credentials,
    Request,
    Workflow,
)
from bot.domain.access import same_user, takes_part, waiting_on
from bot.domain.buckets import TokenBuckets
from bot.domain.errors import AnswerError, CommentRequiredError, NotLinkedError
from bot.domain.refs import RequestRef
from bot.followups.digests import Digests
from bot.inbound.answers import answer_for
from bot.inbound.forms import fill_new_request_form
from bot.outbound.channels import CHANNEL_HINT, channel_id_for
from bot.people.decisions import Decider, Intent, credentials_for
from bot.people.home import HomeTab, oldest_first
from bot.people.preferences import NotifySettings
from bot.settings import Settings
from bot.store.contracts import Store
from bot.store.records import Link
from bot.sync.publisher import Publisher
from bot.sync.routes import WorkflowRoutes
from bot.sync.shared_listing import SharedListing

Respond = Callable[..., Awaitable[Any]]
TOO_FAST = "You're asking quickly: give it a few seconds, then try again."
MAX_CANDIDATES = 5  # requests sharing an id that a bare `/cflow show <id>` reads
READS_AT_ONCE = 4  # Cflow reads one command makes at once


@dataclass
class Tools:
    """What the subcommands use, named one by one (Bolt hands each from the context)."""

    cflow: CflowClient
    store: Store
    publisher: Publisher
    decider: Decider
    service: Credentials
    settings: Settings
    home: HomeTab
    notify: NotifySettings
    digests: Digests
    routes: WorkflowRoutes
    listing: SharedListing
    person_limits: TokenBuckets  # how often one person may make the bot read
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass
class CommandContext:
    tools: Tools
    client: AsyncWebClient
    respond: Respond
    user: str
    channel: str
    trigger_id: str | None
    text: CommandText

    async def say(self, payload: dict[str, Any]) -> None:
        await self.respond(**payload, response_type="ephemeral", replace_original=False)

    async def link(self) -> Link:
        link = await self.tools.store.link_for(self.user)
        if link is None:
            raise NotLinkedError()
        return link

    async def creds(self) -> Credentials:
        return credentials_for(self.tools.service, await self.link())


async def run(handler: Callable[[CommandContext], Awaitable[None]], ctx: CommandContext) -> None:
    """Run a handler; a domain error is answered where the command was typed (a page
    of a list is replaced in place), anything else goes to the app's error handler."""
    try:
        await handler(ctx)
    except Exception as error:
        answer = await answer_for(error, ctx.tools.store, ctx.user)
        if answer is None:
            raise
        await ctx.say(answer)


# Finding things by name


async def find_workflow(ctx: CommandContext, creds: Credentials, name: str) -> Workflow:
    """By id, by name (any case), or by a unique prefix of the name."""
    workflows = await ctx.tools.cflow.list_workflows(creds)
    folded = name.casefold()
    for match in (
        [w for w in workflows if w.id == name],
        [w for w in workflows if w.label.casefold() == folded],
        [w for w in workflows if w.label.casefold().startswith(folded)],
    ):
        if len(match) == 1:
            return match[0]
        if len(match) > 1:
            names = ", ".join(escape(w.label) for w in match[:10])
            raise AnswerError(f"“{escape(name)}” matches several workflows: {names}.")
    raise AnswerError(f"No workflow is called “{escape(name)}”. See `/cflow workflows`.")


async def find_request(
    ctx: CommandContext, creds: Credentials, word: str
) -> tuple[Workflow, Request]:
    name = request_name(word)
    if name is None:
        raise AnswerError("Name a request as `workflowId/requestId`, or by its id.")
    cflow = ctx.tools.cflow
    if name.workflow_id is not None:
        workflow, request = await asyncio.gather(
            cflow.get_workflow(creds, name.workflow_id),
            cflow.get_request(creds, name.workflow_id, name.request_id),
        )
        return workflow, request
    found = await _readable(ctx, creds, name.request_id)
    if len(found) == 1:
        return found[0]
    if not found:
        raise AnswerError(
            f"No request #{escape(name.request_id)} waits in Cflow that you can see: "
            "name it as `workflowId/requestId`."
        )
    where = ", ".join(f"`{escape(w.id)}/{escape(r.id)}`" for w, r in found[:10])
    raise AnswerError(f"Several requests have that id: {where}. Say which.")


async def _readable(
    ctx: CommandContext, creds: Credentials, request_id: str
) -> list[tuple[Workflow, Request]]:
    """The requests with this id that the caller's own key can read. The shared listing
    names the likely workflows; a request it has not seen yet (added since the last
    cycle, or outside what the service account lists) is looked for in each of the
    caller's active workflows, which costs the caller one read of their limit."""
    seen = await ctx.tools.listing.current()
    candidates = [w for w, r in seen.items() if r.id == request_id][:MAX_CANDIDATES]
    found = await _read_each(ctx.tools.cflow, creds, candidates, request_id)
    if found or candidates:
        return found
    if not ctx.tools.person_limits.allow(ctx.user):
        raise AnswerError(TOO_FAST)
    workflows = [w for w in await ctx.tools.cflow.list_workflows(creds) if w.is_active]
    return await _read_each(ctx.tools.cflow, creds, workflows, request_id)


async def _read_each(
    cflow: CflowClient, creds: Credentials, workflows: list[Workflow], request_id: str
) -> list[tuple[Workflow, Request]]:
    """`request_id` in each workflow, a few at a time; where Cflow will not show it to
    the caller, it is not theirs to name."""
    slots = asyncio.Semaphore(READS_AT_ONCE)

    async def read(workflow: Workflow) -> tuple[Workflow, Request] | None:
        async with slots:
            try:
                return workflow, await cflow.get_request(creds, workflow.id, request_id)
            except (CflowNotFoundError, CflowForbiddenError):
                return None

    return [pair for pair in await asyncio.gather(*map(read, workflows)) if pair is not None]


async def _own_drafts(creds: Credentials, cflow: CflowClient) -> list[tuple[Workflow, Request]]:
    """The caller's drafts, which only their own key can read: a listing of each active
    workflow, a few at a time, keeping their drafts only."""
    workflows = [w for w in await cflow.list_workflows(creds) if w.is_active]
    slots = asyncio.Semaphore(READS_AT_ONCE)

    def theirs(record: dict[str, Any]) -> bool:
        return record.get("status") == "draft" and same_user(
            str(record.get("submittedBy") or ""), creds.username
        )

    async def one(workflow: Workflow) -> list[Request]:
        async with slots:
            return await cflow.list_requests(creds, workflow.id, keep=theirs)

    listings = await asyncio.gather(*map(one, workflows))
    return [(w, r) for w, found in zip(workflows, listings, strict=True) for r in found]


# Subcommands


async def workflows(ctx: CommandContext) -> None:
    found = await ctx.tools.cflow.list_workflows(await ctx.creds())
    lines = [workflow_line(workflow) for workflow in found]
    await ctx.say(lines_message("Workflows", lines, page=_page(ctx.text, 0), command="workflows"))


async def users(ctx: CommandContext) -> None:
    found = await ctx.tools.cflow.list_users(await ctx.creds())
    lines = [user_line(user) for user in found]
    await ctx.say(lines_message("Cflow users", lines, page=_page(ctx.text, 0), command="users"))


async def roles(ctx: CommandContext) -> None:
    found = await ctx.tools.cflow.list_roles(await ctx.creds())
    lines = [role_line(role) for role in found]
    await ctx.say(lines_message("Cflow roles", lines, page=_page(ctx.text, 0), command="roles"))


async def show(ctx: CommandContext) -> None:
    if not ctx.text.args:
        raise AnswerError("Which request? `/cflow show <workflowId/requestId>`")
    creds = await ctx.creds()
    workflow, request = await find_request(ctx, creds, ctx.text.args[0])
    policy = await ctx.tools.decider.policy(workflow.id)
    view = ctx.tools.publisher.card_view(workflow, request, reader=creds.username, policy=policy)
    await ctx.say(request_card(view))


async def approve(ctx: CommandContext) -> None:
    await _decide(ctx, "approve", ctx.text.rest(1) or None)


async def reject(ctx: CommandContext) -> None:
    await _decide(ctx, "reject", ctx.text.rest(1) or None)


COMMENT_USAGE = {
    "approve": "This workflow asks a comment with every approval:"
    " `/cflow approve <request> <comment>`",
    "reject": "A reason is required: `/cflow reject <request> <reason>`",
}


async def _decide(ctx: CommandContext, verb: Any, comment: str | None) -> None:
    if not ctx.text.args:
        raise AnswerError(f"Which request? `/cflow {verb} <workflowId/requestId>`")
    link = await ctx.link()
    creds = credentials_for(ctx.tools.service, link)
    workflow, request = await find_request(ctx, creds, ctx.text.args[0])
    ref = RequestRef(workflow_id=workflow.id, request_id=request.id, stage=request.current_stage)
    try:
        done = await ctx.tools.decider.decide(ctx.user, link, Intent(ref, verb, comment=comment))
    except CommentRequiredError:
        raise AnswerError(COMMENT_USAGE[verb]) from None
    await ctx.say({"text": done})


async def pending(ctx: CommandContext, page: int | None = None) -> None:
    """From the shared listing, filtered to what the caller takes part in (no listing
    read per person); the request they act on is read again then, with their key."""
    creds = await ctx.creds()
    scope = " ".join(a for a in ctx.text.args if not a.isdigit())
    listed = (await ctx.tools.listing.current()).items()
    name = creds.username
    if scope.casefold() == "all":
        title = "Every pending request you take part in"
        waiting = [(w, r) for w, r in listed if r.is_pending and takes_part(name, w, r)]
    else:
        waiting = waiting_on(name, listed)
        if scope:
            chosen = await find_workflow(ctx, creds, scope)
            waiting = [(w, r) for w, r in waiting if w.id == chosen.id]
        title = "Waiting for you"
    waiting = oldest_first(waiting)
    number = page if page is not None else _page(ctx.text, 0)
    now = ctx.tools.clock()
    policies = await ctx.tools.store.policies_for({w.id for w, _ in waiting})
    await ctx.say(
        pending_message(
            waiting,
            title=title,
            now=now,
            page=number,
            scope=scope,
            policies=policies,
            reader=name,
        )
    )


async def new(ctx: CommandContext) -> None:
    """A modal for a new request: opened at once, filled in when Cflow has answered."""
    if not ctx.text.args or ctx.trigger_id is None:
        raise AnswerError("Which workflow? `/cflow new <workflow>`")
    creds = await ctx.creds()
    # The trigger_id lasts 3 s: open the modal before asking Cflow anything.
    opened = await ctx.client.views_open(
        trigger_id=ctx.trigger_id, view=working_view("Asking Cflow…")
    )
    view_id = opened["view"]["id"]
    try:
        workflow = await find_workflow(ctx, creds, ctx.text.rest())
        await fill_new_request_form(ctx.tools.cflow, ctx.client, view_id, creds, workflow)
    except Exception as error:
        answer = await answer_for(error, ctx.tools.store, ctx.user)
        if answer is None:
            raise
        await ctx.client.views_update(view_id=view_id, view=done_view(answer["text"]))


async def drafts(ctx: CommandContext) -> None:
    creds = await ctx.creds()
    await ctx.say(drafts_message(await _own_drafts(creds, ctx.tools.cflow)))


async def subscribe(ctx: CommandContext) -> None:
    admins_only(ctx)
    if not ctx.text.args:
        raise AnswerError("Which workflow? `/cflow subscribe <workflow> [#channel]`")
    creds = await ctx.creds()
    named = [a for a in ctx.text.args[1:] if channel_id(a) or channel_name(a)]
    target = await channel_for(ctx.client, named[-1]) if named else ctx.channel
    name = " ".join(a for a in ctx.text.args if a not in named)
    workflow = await find_workflow(ctx, creds, name)
    await ctx.tools.routes.choose(workflow.id, workflow.label, "channel", ctx.user, target)
    note = await membership_note(ctx.client, target)
    await ctx.say({"text": f"{escape(workflow.label)} now posts to <#{target}>.{note}"})


async def unsubscribe(ctx: CommandContext) -> None:
    admins_only(ctx)
    if not ctx.text.args:
        raise AnswerError("Which workflow? `/cflow unsubscribe <workflow>`")
    workflow = await find_workflow(ctx, await ctx.creds(), ctx.text.rest())
    removed = workflow.id in await ctx.tools.store.subscriptions()
    await ctx.tools.routes.choose(workflow.id, workflow.label, "default", ctx.user)
    fallback = ctx.tools.settings.cflow_notify_channel
    where = f"<#{fallback}>" if fallback else "no channel (DMs only)"
    text = (
        f"{escape(workflow.label)} now posts to {where}." if removed else "It had no subscription."
    )
    await ctx.say({"text": text})


async def subscriptions(ctx: CommandContext) -> None:
    found = await ctx.tools.store.subscriptions()
    named: dict[str, Workflow] = {}
    link = await ctx.tools.store.link_for(ctx.user)
    if found and link is not None:
        creds = credentials_for(ctx.tools.service, link)
        with_names = await ctx.tools.cflow.list_workflows(creds)
        named = {w.id: w for w in with_names}
    lines = [subscription_line(sub, named.get(wf)) for wf, sub in found.items()]
    await ctx.say(lines_message("Subscriptions", lines, command="subscriptions"))


def admins_only(ctx: CommandContext, what: str = "change subscriptions") -> None:
    if ctx.user not in ctx.tools.settings.cflow_bot_admins:
        raise AnswerError(f"Only the bot's admins (CFLOW_BOT_ADMINS) can {what}.")


async def channel_for(client: AsyncWebClient, word: str) -> str:
    """The id of `<#C…>`, `C…` or `#name`: cards are kept and updated by channel id."""
    try:
        found = channel_id(word) or await channel_id_for(client, word)
    except SlackApiError as error:
        reason = error.response.get("error", "unknown error")
        raise AnswerError(f"Slack would not list its channels ({reason}); give the id.") from None
    if found is None:
        raise AnswerError(f"I see no channel named {escape(word)}: {CHANNEL_HINT}.")
    return found


async def membership_note(client: AsyncWebClient, channel: str) -> str:
    try:
        info = (await client.conversations_info(channel=channel)).get("channel") or {}
    except SlackApiError:
        return " I cannot see that channel: invite me with `/invite @Cflow Approvals` there."
    if not info.get("is_member"):
        return " I am not in that channel yet: type `/invite @Cflow Approvals` there."
    return ""


def _page(text: CommandText, fallback: int) -> int:
    numbers = [int(a) for a in text.args if a.isdigit() and len(a) < 6]
    return numbers[-1] if numbers else max(fallback, 1)
