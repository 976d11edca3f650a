"""`/cflow stats` as a message (pure): how long each stage takes, and who is waited on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.blocks.names import NAME_PREVIEW, person
from bot.blocks.primitives import MAX_BLOCKS, context, mention, section
from bot.blocks.text import duration, escaped
from bot.domain.stats import StageFigures
from bot.store.records import StageVisit

LINES_PER_BLOCK = 25


def stats_message(
    figures: Sequence[StageFigures],
    longest: Sequence[StageVisit],
    *,
    days: int,
    now: datetime,
    mentions: Mapping[str, str] | None = None,
    everyone: bool = True,
) -> dict[str, Any]:
    """Per workflow and stage: decided, median and p90; then the five waiting longest.
    `mentions` maps Cflow usernames to Slack user ids where known; `everyone` False:
    the figures cover only the requests the reader took part in."""
    whose = "" if everyone else ", requests you took part in"
    title = f"*How long approvals take* (last {days} day{'s' if days != 1 else ''}{whose})"
    blocks = [section(title)]
    lines = [_stage_line(f) for f in sorted(figures, key=lambda f: (f.workflow_name, -f.decided))]
    if not lines:
        blocks.append(context("Nothing was decided in that time, as far as the bot saw."))
    for start in range(0, len(lines), LINES_PER_BLOCK):
        blocks.append(section("\n".join(lines[start : start + LINES_PER_BLOCK])))
    if longest:
        shown = [_waiting_line(v, now, mentions or {}) for v in longest]
        blocks.append(section("*Waiting longest*\n" + "\n".join(shown)))
    blocks.append(context("From what the bot saw of each stage: arrival to decision."))
    return {"text": "How long approvals take", "blocks": blocks[:MAX_BLOCKS]}


def _stage_line(f: StageFigures) -> str:
    workflow = escaped(f.workflow_name, NAME_PREVIEW, single_line=True)
    stage = escaped(f.stage_name, NAME_PREVIEW, single_line=True)
    return (
        f"• *{workflow}* · {stage}: {f.decided} decided, median {duration(f.median_seconds)},"
        f" 90% within {duration(f.p90_seconds)}"
    )


def _waiting_line(visit: StageVisit, now: datetime, mentions: Mapping[str, str]) -> str:
    title = escaped(visit.title or f"#{visit.request_id}", NAME_PREVIEW, single_line=True)
    stage = escaped(visit.stage_name or "?", NAME_PREVIEW, single_line=True)
    who = [mention(mentions[n]) if n in mentions else f"*{person(n)}*" for n in visit.reviewers]
    waited = duration((now - visit.arrived_at).total_seconds())
    return f"• *{title}* at {stage}, {waited}, waiting on {', '.join(who) or 'nobody'}"
