"""The `/cflow` slash command: parse, then hand over to a subcommand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.command_text import CommandText, parse
from bot.blocks.ids import Action
from bot.blocks.primitives import MAX_BLOCKS, section
from bot.blocks.roundup_items import RoundupItem
from bot.blocks.roundups import roundup_list
from bot.blocks.text import escape
from bot.inbound import followups, policies, preferences, subcommands
from bot.inbound.common import Track, open_link_modal, say_privately
from bot.outbound.directory import Directory
from bot.store.contracts import Store

USAGE = "\n".join(
    (
        "*/cflow* — Cflow approvals from Slack",
        "`/cflow pending [workflow | all]` — requests waiting for you (or everyone's)",
        "`/cflow show <request>` — one request, with its buttons where you may act",
        "`/cflow approve <request> [comment]` — approve as yourself",
        "`/cflow reject <request> <reason>` — reject as yourself, with a reason",
        "`/cflow new <workflow>` — a new request, or a draft",
        "`/cflow drafts` — your drafts, to edit or delete",
        "`/cflow workflows` — workflows, their stages and reviewers",
        "`/cflow users`, `/cflow roles` — Cflow's users and roles",
        "`/cflow subscribe <workflow> [#channel]`, `/cflow unsubscribe <workflow>`,"
        " `/cflow subscriptions` — where each workflow's cards go",
        "`/cflow notify` — how and when you are told (a DM each, a daily digest, or"
        " none; quiet hours, working days)",
        "`/cflow digest` — what waits on you, now; `/cflow digest #channel daily HH:MM`"
        " — a channel's daily summary (admins)",
        "`/cflow away until YYYY-MM-DD [to @person]`, `/cflow back` — out of office",
        "`/cflow stats [workflow] [days]` — how long approvals take",
        "`/cflow remind <workflow> <hours | off>`, `/cflow escalate <workflow> @who …"
        " [after <hours>] | off` — reminders and escalation (admins)",
        # Entities, not `<…>`: Slack reads an angle bracket as markup.
        "`/cflow policy &lt;workflow&gt; [&lt;setting&gt; &lt;value&gt;]` — a workflow's"
        " decision rules, and who changed them (admins). The settings, and their defaults:",
        "• `comment reject|approve|both|off` — which decisions need a comment (reject)",
        "• `self-approval allow|block` — may submitters decide their own requests (allow)",
        "• `web-only &lt;field&gt; &lt;op&gt; &lt;number&gt; | off` — such requests are decided"
        " in Cflow (off)",
        "• `undo &lt;0-60&gt;` — seconds a decision can be undone before it reaches Cflow (0)",
        "• `channel-fields &lt;field, …&gt; | all | none` — what channels show of a request (all)",
        "`/cflow link`, `/cflow unlink`, `/cflow whoami` — your Cflow account",
        "A request is `workflowId/requestId`, or its id alone when unique.",
    )
)

# Groups whose list belongs to the channel they were posted in; the others are a person's.
CHANNEL_KINDS = frozenset({"channel", "channel_digest"})
ONLY_WHERE_POSTED = "This list opens only in the channel it was posted in."

# What makes the bot read for the person (Cflow, or the store at length): rate-limited.
READING = frozenset(
    {"pending", "show", "drafts", "digest", "stats", "workflows", "users", "roles", "new"}
)

SUBCOMMANDS = {
    "pending": subcommands.pending,
    "show": subcommands.show,
    "approve": subcommands.approve,
    "reject": subcommands.reject,
    "workflows": subcommands.workflows,
    "users": subcommands.users,
    "roles": subcommands.roles,
    "subscribe": subcommands.subscribe,
    "unsubscribe": subcommands.unsubscribe,
    "subscriptions": subcommands.subscriptions,
    "new": subcommands.new,
    "drafts": subcommands.drafts,
    "notify": preferences.notify,
    "digest": preferences.digest,
    "remind": followups.remind,
    "escalate": followups.escalate,
    "away": followups.away,
    "back": followups.back,
    "stats": followups.stats,
    "policy": policies.policy,
}


def register(app: AsyncApp, track: Track) -> None:
    app.command("/cflow")(track(cflow))
    app.action(Action.SHOW_MORE)(track(show_more))
    app.action(Action.ROUNDUP_LIST)(track(show_roundup))


async def cflow(
    ack: AsyncAck,
    command: dict[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond,
    tools: subcommands.Tools,
    directory: Directory,
) -> None:
    await ack()
    text = parse(command.get("text"))
    user = command["user_id"]
    if text.verb == "link":
        await open_link_modal(directory, client, user, command["trigger_id"])
    elif text.verb == "unlink":
        removed = await tools.store.delete_link(user)
        text_out = (
            "Your Cflow account is unlinked and its key deleted."
            if removed
            else "You had no Cflow account linked."
        )
        await say_privately(respond, {"text": text_out})
    elif text.verb == "whoami":
        await say_privately(respond, {"text": await whoami(tools.store, user)})
    elif text.verb in READING and not tools.person_limits.allow(user):
        await say_privately(respond, {"text": subcommands.TOO_FAST})
    elif text.verb in SUBCOMMANDS:
        ctx = _context(tools, client, respond, command, text)
        await subcommands.run(SUBCOMMANDS[text.verb], ctx)
    else:
        await say_privately(respond, {"text": USAGE})


async def show_more(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond,
    tools: subcommands.Tools,
) -> None:
    """The next page of `/cflow pending`, in place of the one clicked."""
    await ack()
    if not tools.person_limits.allow(body["user"]["id"]):
        await say_privately(respond, {"text": subcommands.TOO_FAST})
        return
    await list_again(tools, client, respond, body["user"]["id"], action.get("value") or "1")


async def show_roundup(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond,
    tools: subcommands.Tools,
) -> None:
    """A roundup's "See them all" (in the channel) or "Show more" (in a grouped DM), as a
    private answer: the roundup's requests from the store, or what waits on the clicker."""
    await ack()
    if not tools.person_limits.allow(body["user"]["id"]):
        await say_privately(respond, {"text": subcommands.TOO_FAST})
        return
    group = action.get("value") or ""
    members = (await tools.store.roundup_members([group]))[group]
    if not members or members[0].kind not in CHANNEL_KINDS:
        ctx = _context(tools, client, respond, {"user_id": body["user"]["id"]}, parse("pending"))
        await subcommands.run(lambda c: subcommands.pending(c, 1), ctx)
        return
    if members[0].target != clicked_in(body):  # a button's value replayed elsewhere
        await say_privately(respond, {"text": ONLY_WHERE_POSTED})
        return
    items = [RoundupItem.from_json(m.item) for m in members]
    await say_privately(respond, roundup_list(items, now=datetime.now(UTC)))


def clicked_in(body: dict[str, Any]) -> str | None:
    """The channel a click came from, as Slack says (never the button's own value)."""
    return (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")


async def list_again(
    tools: subcommands.Tools,
    client: AsyncWebClient,
    respond: subcommands.Respond,
    user: str,
    page_scope: str,
    outcome: dict[str, Any] | None = None,
) -> None:
    """A `/cflow pending` page ("<page> <scope>") listed afresh in place of the answer it
    was clicked in, under the outcome of what was done there: no button outlives its use."""
    page, _, scope = page_scope.partition(" ")

    async def replace(**payload: Any) -> None:
        await respond(**{**_under(outcome, payload), "replace_original": True})

    ctx = _context(tools, client, replace, {"user_id": user}, parse(f"pending {scope}"))
    number = int(page) if page.isdigit() else 1
    await subcommands.run(lambda c: subcommands.pending(c, number), ctx)


def _under(outcome: dict[str, Any] | None, listing: dict[str, Any]) -> dict[str, Any]:
    if outcome is None:
        return listing
    first = outcome.get("blocks") or [section(outcome["text"])]
    blocks = [*first, {"type": "divider"}, *(listing.get("blocks") or [])]
    return {"text": outcome["text"], "blocks": blocks[:MAX_BLOCKS]}


def _context(
    tools: subcommands.Tools,
    client: AsyncWebClient,
    respond: subcommands.Respond,
    command: dict[str, Any],
    text: CommandText,
) -> subcommands.CommandContext:
    return subcommands.CommandContext(
        tools=tools,
        client=client,
        respond=respond,
        user=command["user_id"],
        channel=command.get("channel_id") or "",
        trigger_id=command.get("trigger_id"),
        text=text,
    )


async def whoami(store: Store, user: str) -> str:
    link = await store.link_for(user)
    if link is None:
        return "You have not linked a Cflow account yet: `/cflow link`."
    how = f", linked by <@{link.linked_by}>" if link.linked_by else ""
    return f"You act in Cflow as *{escape(link.cflow_username)}*{how}."
