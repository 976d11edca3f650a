"""Reminders, escalation, out of office and figures: `/cflow remind`, `/cflow escalate`,
`/cflow away`, `/cflow back`, `/cflow stats`, and a reminder's "remind me later"."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.command_text import mention_of, user_id
from bot.blocks.ids import Action, Input, View
from bot.blocks.preferences import Problem, away_modal, read_away
from bot.blocks.stats import stats_message
from bot.blocks.text import escape
from bot.domain.access import same_user, visits_of
from bot.domain.errors import AnswerError
from bot.domain.hours import day_after, is_away, tomorrow_morning, zone
from bot.domain.stats import stage_figures, waiting_longest
from bot.inbound.common import Track, say_privately
from bot.inbound.subcommands import CommandContext, Tools, admins_only, find_workflow
from bot.store.records import WorkflowRules

DEFAULT_DAYS = 30
MAX_DAYS = 365  # a year of stage visits is what one answer reads at most
REMIND_USAGE = "`/cflow remind <workflow> <hours | off>` (admins)"
ESCALATE_USAGE = (
    "`/cflow escalate <workflow> @person @group … [after <hours>]`, or "
    "`/cflow escalate <workflow> off` (admins)"
)
AWAY_USAGE = "`/cflow away until YYYY-MM-DD [to @person]`, and `/cflow back`"


class PastDayError(AnswerError):
    """The last day away given is over already."""


def register(app: AsyncApp, track: Track) -> None:
    app.action(Action.SNOOZE)(track(snooze))
    app.action(Action.AWAY)(track(open_away))
    app.action(Action.BACK)(track(back_home))
    app.view(View.AWAY)(track(save_away))


# Reminders and escalation (admins, per workflow)


async def remind(ctx: CommandContext) -> None:
    admins_only(ctx, "set reminders")
    *name, amount = ctx.text.args or ("",)
    hours = _hours(amount)
    if not name or hours is None:
        raise AnswerError(REMIND_USAGE)
    workflow = await find_workflow(ctx, await ctx.creds(), " ".join(name))
    rules = (await ctx.tools.store.workflow_rules()).get(workflow.id) or WorkflowRules(workflow.id)
    await ctx.tools.store.save_workflow_rules(
        replace(rules, remind_after=hours, updated_by=ctx.user)
    )
    label = escape(workflow.label)
    text = (
        f"{label}: no reminders."
        if hours == 0
        else f"{label}: reviewers are reminded after {hours:g} working hours at a stage."
    )
    await ctx.say({"text": text})


async def escalate(ctx: CommandContext) -> None:
    admins_only(ctx, "set escalations")
    words = list(ctx.text.args)
    after = None
    if len(words) >= 2 and words[-2].lower() == "after":
        after = _hours(words[-1])
        if after is None:
            raise AnswerError(ESCALATE_USAGE)
        words = words[:-2]
    contacts = [m for m in (mention_of(w) for w in words) if m]
    off = bool(words) and words[-1].lower() == "off"
    name = [w for w in words if mention_of(w) is None and not (off and w is words[-1])]
    if not name or not (contacts or off or after is not None):
        raise AnswerError(ESCALATE_USAGE)
    workflow = await find_workflow(ctx, await ctx.creds(), " ".join(name))
    store = ctx.tools.store
    rules = (await store.workflow_rules()).get(workflow.id) or WorkflowRules(workflow.id)
    if off:
        rules = replace(rules, escalate_after=0, escalate_to=())
    else:
        rules = replace(
            rules,
            escalate_to=tuple(contacts) or rules.escalate_to,
            escalate_after=after if after is not None else rules.escalate_after,
        )
    await store.save_workflow_rules(replace(rules, updated_by=ctx.user))
    label = escape(workflow.label)
    if off:
        await ctx.say({"text": f"{label}: no escalations."})
        return
    hours = rules.escalate_after if rules.escalate_after is not None else None
    when = f"after {hours:g} hours" if hours else "after `CFLOW_ESCALATE_AFTER`"
    who = " ".join(rules.escalate_to) or "its reviewers only"
    await ctx.say({"text": f"{label}: escalated {when} in the card's thread, calling on {who}."})


def _hours(word: str) -> float | None:
    if word.lower() == "off":
        return 0.0
    try:
        hours = float(word.lower().removesuffix("h"))
    except ValueError:
        return None
    return hours if 0 < hours <= 24 * 365 else None


# Out of office


async def away(ctx: CommandContext) -> None:
    words = list(ctx.text.args)
    if len(words) < 2 or words[0].lower() != "until":
        raise AnswerError(AWAY_USAGE)
    try:
        last_day = date.fromisoformat(words[1])
    except ValueError:
        raise AnswerError(f"A date is YYYY-MM-DD. {AWAY_USAGE}") from None
    delegate = None
    if len(words) >= 4 and words[2].lower() == "to":
        delegate = user_id(words[3])
        if delegate is None:
            raise AnswerError(f"Name the person with @. {AWAY_USAGE}")
    elif len(words) != 2:
        raise AnswerError(AWAY_USAGE)
    await ctx.say({"text": await set_away(ctx.tools, ctx.user, last_day, delegate)})
    await ctx.tools.home.refresh(ctx.user)


async def set_away(tools: Tools, user: str, last_day: date, delegate: str | None) -> str:
    """`user` is away through `last_day` (their time zone), handing requests to
    `delegate`; what they are told. An AnswerError says why not."""
    notify = tools.notify
    pref = await notify.of(user)
    until = day_after(replace(pref, tz=await notify.time_zone(user, pref.tz)), last_day)
    now = tools.clock()
    if until <= now:
        raise PastDayError("That day is over already: give a day from today on.")
    if delegate is not None:
        await _check_delegate(tools, user, delegate, now)
    saved = await notify.save(replace(pref, away_until=until, delegate=delegate))
    back = until.astimezone(zone(saved.tz))
    through = f"You're away through {last_day:%a %d %b} (back {back:%a %d %b})."
    if delegate:
        note = await _delegate_note(tools, delegate, now)
        return (
            f"{through} Requests that reach you meanwhile are handed to <@{delegate}> in "
            f"Cflow, as you.{note}"
        )
    return f"{through} Your DMs and reminders wait until then, and submitters see it."


async def _check_delegate(tools: Tools, user: str, delegate: str, now: datetime) -> None:
    if delegate == user:
        raise AnswerError("Hand your requests to someone else than yourself.")
    link = await tools.store.link_for(delegate)
    if link is None:
        raise AnswerError(f"<@{delegate}> has not linked a Cflow account: they could not act.")
    if same_user(link.cflow_username, tools.service.username):
        raise AnswerError("Requests are never handed to the bot's own service account.")
    theirs = await tools.notify.of(delegate)
    if is_away(theirs, now) and theirs.delegate == user:
        raise AnswerError(f"<@{delegate}> is away and hands theirs to you: that would loop.")


async def _delegate_note(tools: Tools, delegate: str, now: datetime) -> str:
    """Chains are never followed: say so now if the delegate is away themselves."""
    theirs = await tools.notify.of(delegate)
    if not is_away(theirs, now) or theirs.away_until is None:
        return ""
    back = theirs.away_until.astimezone(zone(theirs.tz))
    return (
        f" <@{delegate}> is away too (back {back:%a %d %b}): until then your requests wait"
        " for you, and you are told of each."
    )


async def back(ctx: CommandContext) -> None:
    await ctx.say({"text": await come_back(ctx.tools, ctx.user)})


async def come_back(tools: Tools, user: str) -> str:
    pref = await tools.notify.of(user)
    if pref.away_until is None:
        return "You were not away."
    await tools.notify.save(replace(pref, away_until=None, delegate=None))
    await tools.home.refresh(user)
    return "Welcome back: requests reach you again, and what waited for you is sent."


# The Home tab's out of office


async def open_away(
    ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, tools: Tools
) -> None:
    await ack()
    user = body["user"]["id"]
    pref = await tools.notify.of(user)
    today = tools.clock().astimezone(zone(pref.tz)).date()
    await client.views_open(trigger_id=body["trigger_id"], view=away_modal(pref, today))


async def save_away(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], tools: Tools
) -> None:
    chosen = read_away(view.get("state") or {})
    if isinstance(chosen, Problem):
        await ack(response_action="errors", errors={chosen.input: chosen.text})
        return
    user = body["user"]["id"]
    try:
        await set_away(tools, user, *chosen)
    except AnswerError as refused:
        where = (
            Input.DELEGATE if chosen[1] and "over already" not in refused.text else Input.AWAY_UNTIL
        )
        await ack(response_action="errors", errors={where: refused.text})
        return
    await ack()
    await tools.home.refresh(user)


async def back_home(ack: AsyncAck, body: dict[str, Any], tools: Tools) -> None:
    await ack()
    await come_back(tools, body["user"]["id"])


# Figures


async def stats(ctx: CommandContext) -> None:
    """Admins see every workflow's figures; anyone else those of the requests they took
    part in (reviewed or submitted), and someone unlinked nothing but how to link."""
    link = await ctx.link()
    words = list(ctx.text.args)
    days = DEFAULT_DAYS
    if words and words[-1].isdigit():
        days = int(words.pop()) if len(words[-1]) < 6 else MAX_DAYS + 1
        if not 1 <= days <= MAX_DAYS:
            raise AnswerError(f"Give a number of days from 1 to {MAX_DAYS}.")
    workflow_id = None
    if words:
        workflow_id = (await find_workflow(ctx, await ctx.creds(), " ".join(words))).id
    now = ctx.tools.clock()
    since = now - timedelta(days=days)
    visits = await ctx.tools.store.stage_visits(since, workflow_id)
    everyone = ctx.user in ctx.tools.settings.cflow_bot_admins
    if not everyone:
        visits = visits_of(link.cflow_username, visits)
    longest = waiting_longest(visits)
    names = {n for v in longest for n in v.reviewers}
    linked = await ctx.tools.store.slack_users_for_cflow_users(names)
    mentions = {name: user.slack_user_id for name, user in linked.items()}
    figures = stage_figures(visits, since)
    await ctx.say(
        stats_message(figures, longest, days=days, now=now, mentions=mentions, everyone=everyone)
    )


# A reminder's "remind me later"


async def snooze(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond, tools: Tools
) -> None:
    await ack()
    user = body["user"]["id"]
    when, _, group = (action.get("value") or "").partition(" ")
    members = (await tools.store.roundup_members([group]))[group] if group else []
    link = await tools.store.link_for(user)
    if not members or link is None or members[0].target != link.cflow_username:
        await say_privately(respond, {"text": "This reminder is not yours to put off."})
        return
    pref = await tools.notify.of(user)
    pref = replace(pref, tz=await tools.notify.time_zone(user, pref.tz))  # "tomorrow" is theirs
    now = tools.clock()
    until = now + timedelta(hours=1) if when == "hour" else tomorrow_morning(pref, now)
    await tools.store.snooze_followups([m.key for m in members], link.cflow_username, until)
    local = until.astimezone(zone(pref.tz))
    await say_privately(respond, {"text": f"I'll remind you again {local:%a %H:%M} ({pref.tz})."})
