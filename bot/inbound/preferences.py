"""How each person is told: `/cflow notify`, `/cflow digest`, and the settings modal.

`/cflow notify` alone (or "Change" on the Home tab) opens the settings; with words it
sets them directly. `/cflow digest` sends the caller's digest now; an admin's
`/cflow digest #channel daily HH:MM` gives a channel a daily summary of what waits.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.command_text import channel_id, channel_name
from bot.blocks.ids import Action, View
from bot.blocks.preferences import Problem, preference_line, read_settings, settings_modal
from bot.domain.access import waiting_on
from bot.domain.errors import AnswerError
from bot.domain.hours import clock_text, minutes, parse_days
from bot.inbound.common import Track
from bot.inbound.subcommands import CommandContext, Tools, admins_only, channel_for
from bot.people.home import oldest_first
from bot.store.records import Preference
from bot.sync.results import Result

NOTIFY_USAGE = (
    "`/cflow notify` opens your settings, or: `/cflow notify each` (a DM per request), "
    "`/cflow notify digest [HH:MM] [final]` (one a day; `final`: still a DM at last "
    "stages), `/cflow notify off`, `/cflow notify quiet HH:MM-HH:MM` (or `quiet off`), "
    "`/cflow notify days mon-fri` (or `days all`)."
)
DIGEST_USAGE = (
    "`/cflow digest` sends you yours now; admins: `/cflow digest #channel daily HH:MM` "
    "(or `#channel off`) for a channel's daily summary of what waits."
)


def register(app: AsyncApp, track: Track) -> None:
    app.action(Action.SETTINGS)(track(open_settings))
    app.view(View.SETTINGS)(track(save_settings))


async def notify(ctx: CommandContext) -> None:
    notify_settings = ctx.tools.notify
    current = await notify_settings.of(ctx.user)
    if not ctx.text.args:
        if ctx.trigger_id is None:
            raise AnswerError(NOTIFY_USAGE)
        await ctx.client.views_open(trigger_id=ctx.trigger_id, view=settings_modal(current))
        return
    wanted = _changed(current, [a.lower() for a in ctx.text.args])
    saved = await notify_settings.save(wanted)
    await ctx.tools.home.refresh(ctx.user)
    await ctx.say({"text": f"Your notifications: {preference_line(saved)}."})


def _changed(pref: Preference, words: list[str]) -> Preference:
    verb, rest = words[0], words[1:]
    if verb == "each":
        return replace(pref, mode="each")
    if verb == "off":
        return replace(pref, mode="off")
    if verb == "digest":
        times = [m for m in (minutes(w) for w in rest) if m is not None]
        if len(times) != len([w for w in rest if w != "final"]):
            raise AnswerError(f"A digest time is HH:MM, 24-hour. {NOTIFY_USAGE}")
        at = times[0] if times else pref.digest_at
        return replace(pref, mode="digest", digest_at=at, final_dms="final" in rest)
    if verb == "quiet" and rest == ["off"]:
        return replace(pref, quiet_from=None, quiet_to=None)
    if verb == "quiet" and len(rest) == 1:
        start, _, end = rest[0].partition("-")
        span = minutes(start), minutes(end)
        if span[0] is not None and span[1] is not None:
            return replace(pref, quiet_from=span[0], quiet_to=span[1])
    if verb == "days" and rest:
        days = parse_days(" ".join(rest))
        if days:
            return replace(pref, work_days=days)
    raise AnswerError(NOTIFY_USAGE)


async def digest(ctx: CommandContext) -> None:
    if ctx.text.args:
        await _channel_digest(ctx)
        return
    link = await ctx.link()
    seen = await ctx.tools.listing.current()
    name, partly = link.cflow_username, seen.partial
    waiting = oldest_first(waiting_on(name, seen.items()))
    if not waiting:
        await ctx.say({"text": "Nothing is waiting on you. 🎉"})
        return
    shown = await ctx.tools.digests.send_now(name, waiting)
    if shown.result is Result.DONE:
        note = " (some workflows could not be read just now)" if partly else ""
        await ctx.say({"text": f"Your digest is in your DM with me: {len(waiting)} waiting{note}."})
    else:
        await ctx.say({"text": "Slack did not take your digest just now; try again shortly."})


async def _channel_digest(ctx: CommandContext) -> None:
    admins_only(ctx, "set channel digests")
    words = list(ctx.text.args)
    named = [w for w in words if channel_id(w) or channel_name(w)]
    if not named:
        raise AnswerError(DIGEST_USAGE)
    channel = await channel_for(ctx.client, named[0])
    rest = [w.lower() for w in words if w not in named]
    store = ctx.tools.store
    if rest == ["off"]:
        dropped = await store.drop_channel_digest(channel)
        text = "Its daily digest is off." if dropped else "It had no daily digest."
        await ctx.say({"text": f"<#{channel}>: {text}"})
        return
    at = minutes(rest[1]) if len(rest) == 2 and rest[0] == "daily" else None
    if at is None:
        raise AnswerError(DIGEST_USAGE)
    saved = await ctx.tools.notify.save_channel_digest(channel, at, ctx.user)
    when = f"{clock_text(at)} ({saved.tz}, your time zone)"
    await ctx.say({"text": f"<#{channel}> gets a summary of what waits every day at {when}."})


async def open_settings(
    ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, tools: Tools
) -> None:
    await ack()
    current = await tools.notify.of(body["user"]["id"])
    await client.views_open(trigger_id=body["trigger_id"], view=settings_modal(current))


async def save_settings(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], tools: Tools
) -> None:
    user = body["user"]["id"]
    current = await tools.notify.of(user)
    wanted = read_settings(current, view.get("state") or {})
    if isinstance(wanted, Problem):
        await ack(response_action="errors", errors={wanted.input: wanted.text})
        return
    await ack()
    await tools.notify.save(wanted)
    await tools.home.refresh(user)
