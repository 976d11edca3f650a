"""One Slack message at a time, each with its own result: posted, to retry, or refused.

The publisher decides *what* Slack should show; this module posts and updates it. Every
post is claimed in the store first (so a restart, a second instance or a click never
posts twice) and ends in a `Result`:

- DONE: posted or updated (or it had been already);
- RETRY: Slack could not take it now (rate limit, 5xx, timeout, connection), so a later
  cycle tries again; when the post may have arrived (a timeout after sending), the claim
  is kept and settled from the channel's history instead of posting blindly;
- LATER: held for its reader's quiet hours or day off (bot.domain.hours): looked at again
  when they open;
- FAILED: Slack refused it for good (`user_disabled`, `is_archived`, `invalid_blocks` …);
  the reason and the time are recorded on the card, shown by `cflow-bot check`, and that
  message is not tried again.

Nothing here raises for a Slack or network failure, so one target never stops another.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from cachetools import LRUCache
from slack_sdk.web.async_client import AsyncWebClient

from bot.store.contracts import CardStore
from bot.store.records import LEGACY_CARD_KINDS, LEGACY_ROUNDUP, ROUNDUP, Card
from bot.sync.liveness import Liveness
from bot.sync.results import GONE_MESSAGE_ERRORS, Result, SlackFailure
from bot.telemetry.metrics import Metrics

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
ABANDONED_CLAIM_SECONDS = 120.0
LOST_ANSWER_PAUSE = 1.0  # seconds before Slack's history is asked whether a post landed
CLOCK_TOLERANCE_SECONDS = 60.0  # between our clock and Slack's ts
HISTORY_PAGES = 10
DM_CHANNELS_KEPT = 10_000  # people whose DM channel id is remembered (one call each saved)
CARD_EVENT = "cflow_card"
RETRY_MARK = "retry:"  # a one-off line's `failure` while it waits for another try


def is_failed_for_good(card: Card) -> bool:
    return card.failure is not None and not card.failure.startswith(RETRY_MARK)


def awaits_retry(card: Card) -> bool:
    return card.ts is None and card.failure is not None and card.failure.startswith(RETRY_MARK)


def card_metadata(card: Card) -> dict[str, Any]:
    """Slack message metadata naming the request, so a card can be found in history."""
    payload = {
        "workflow_id": card.workflow_id,
        "request_id": card.request_id,
        "kind": card.kind,
        "slot": card.slot,
    }
    return {"event_type": CARD_EVENT, "event_payload": payload}


class Delivery:
    def __init__(
        self,
        slack: AsyncWebClient,
        store: CardStore,
        metrics: Metrics,
        clock: Clock,
        liveness: Liveness | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`liveness` says which instances are alive: a claim left by one that stopped is
        settled in seconds (and one of this process's own whose answer was lost at once);
        `sleep` waits before a lost answer is looked for (a step test's is virtual)."""
        self._slack = slack
        self._sleep = sleep
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._liveness = liveness
        self._posting: set[tuple[str, str, str, str]] = set()  # this process's posts under way
        self._dm_channels: LRUCache[str, str] = LRUCache(maxsize=DM_CHANNELS_KEPT)

    # Posting

    async def post(self, card: Card, payload: dict[str, Any], known: Sequence[Card]) -> Result:
        """Post `card` unless it exists; `known` is every card of its request, as loaded."""
        existing = next((old for old in known if _same_message(old, card)), None)
        if existing is not None:
            return await self._settle(existing, payload)
        if self._liveness is not None:
            card = replace(card, claimed_by=self._liveness.instance_id)
        if not await self._store.claim_card(card):
            # Claimed elsewhere since the batch was loaded: a later cycle looks again.
            return Result.RETRY
        return await self._send(card, payload)

    async def post_dm(
        self, card: Card, payload: dict[str, Any], known: Sequence[Card]
    ) -> tuple[Result, Card]:
        """A DM card for `card.slack_user_id`. Until its DM channel is known, the post goes
        to the person's user id: Slack opens the DM itself and answers with its id, which
        saves a Tier 3 `conversations.open` per person."""
        assert card.slack_user_id is not None
        existing = next((old for old in known if _same_dm(old, card)), None)
        if existing is not None:
            return await self._settle(existing, payload), existing
        channel = self._dm_channels.get(card.slack_user_id) or card.slack_user_id
        card = replace(card, channel=channel)
        return await self.post(card, payload, known), card

    async def resend(self, card: Card) -> Result:
        """Post a one-off line whose earlier post Slack turned away for now."""
        assert card.payload is not None
        return await self._send(card, json.loads(card.payload))

    async def settle_one_off(self, card: Card) -> Result:
        """A one-off line not known to be posted: resent if Slack turned it away; if its
        post may have arrived, found in Slack (or posted) once the claim is abandoned."""
        assert card.is_one_off and card.payload is not None
        return await self._settle(card, json.loads(card.payload))

    async def _settle(self, existing: Card, payload: dict[str, Any]) -> Result:
        if existing.ts is not None:
            return Result.DONE
        if is_failed_for_good(existing):
            return Result.FAILED
        if awaits_retry(existing):
            return await self.resend(existing)
        if self._abandoned(existing):
            return await self._recover(existing, payload)
        return Result.RETRY  # being posted elsewhere, or its outcome is not known yet

    async def _send(self, card: Card, payload: dict[str, Any]) -> Result:
        """Post a claimed card and record its ts; a failure is recorded as it deserves."""
        extra: dict[str, Any] = {"thread_ts": card.thread_ts} if card.thread_ts else {}
        self._posting.add(_identity(card))
        try:
            answer = await self._slack.chat_postMessage(
                channel=card.channel, metadata=card_metadata(card), **extra, **payload
            )
        except Exception as error:
            failure = SlackFailure(error)
            if failure.maybe_delivered:
                return await self._lost_answer(card, failure)
            return await self._not_posted(card, failure)
        finally:
            self._posting.discard(_identity(card))
        await self._store.confirm_card(card, answer["ts"], channel=self._posted_in(card, answer))
        self._metrics.cards_posted.labels(card.kind).inc()
        log.info("Posted the %s card to %s", card.kind, card.channel)
        return Result.DONE

    async def _lost_answer(self, card: Card, failure: SlackFailure) -> Result:
        """The post may have taken effect: Slack's history says, now, rather than leaving a
        claim that another instance would have to wait minutes to settle. Found, it is
        recorded; not there, it did not land and any instance may post it. When the
        history cannot be read, the claim stays for whoever settles it later."""
        self._count(failure)
        log.warning("The answer to a %s post in %s was lost (%s)", card.kind, card.channel, failure)
        await self._sleep(LOST_ANSWER_PAUSE)
        claim = replace(card, created_at=card.created_at or self._clock())
        try:
            found = await self._history_find(claim)
        except Exception as error:
            log.warning("Cannot read %s's history: %s", card.channel, SlackFailure(error).reason)
            return Result.RETRY
        if found is None:
            await self._not_landed(card, failure)
            return Result.RETRY
        ts, channel = found
        await self._store.confirm_card(card, ts, channel=channel)
        self._metrics.cards_posted.labels(card.kind).inc()
        log.info("The %s post had reached %s: recorded", card.kind, channel)
        return Result.DONE

    async def _not_landed(self, card: Card, failure: SlackFailure) -> None:
        if card.is_one_off:
            await self._store.fail_card(card, RETRY_MARK + failure.reason)  # keeps its text
        else:
            await self._store.release_card(card)  # rebuilt from the request next time

    async def _not_posted(self, card: Card, failure: SlackFailure) -> Result:
        self._count(failure)
        log.warning("Could not post the %s message to %s: %s", card.kind, card.channel, failure)
        if not failure.transient:
            await self._store.fail_card(card, failure.reason)
        else:
            await self._not_landed(card, failure)
        return failure.result

    def _posted_in(self, card: Card, answer: Any) -> str:
        """The channel a post landed in (a DM posted to a user id lands in its D… id)."""
        channel = str(answer.get("channel") or card.channel)
        if card.slack_user_id and is_user_id(card.channel):
            self._dm_channels[card.slack_user_id] = channel
        return channel

    def _abandoned(self, claim: Card) -> bool:
        """A claim nobody is posting any more: this process's own whose answer was lost;
        one whose instance stopped beating (or stopped cleanly) a moment ago; or, from a
        live instance or a release before heartbeats, one left unconfirmed for minutes."""
        if claim.created_at is None:
            return False
        age = self._clock() - claim.created_at
        liveness = self._liveness
        if liveness is not None and claim.claimed_by is not None:
            if claim.claimed_by == liveness.instance_id:
                return _identity(claim) not in self._posting
            if not liveness.is_alive(claim.claimed_by):
                return age > liveness.grace
        return age.total_seconds() > ABANDONED_CLAIM_SECONDS

    async def settle_claim(self, claim: Card, payload: dict[str, Any]) -> Result:
        """A card claimed but not known to be posted, of a request that has moved on (or
        a DM of an earlier stage): never posted anew. Once nobody is posting it, the
        message it may have posted is looked for and brought in line with `payload`
        (its buttons off), or the claim is dropped; until then, it is looked at again."""
        if not self._abandoned(claim):
            return Result.RETRY
        try:
            found = await self._history_find(claim)
        except Exception as error:
            log.warning("Cannot read %s's history: %s", claim.channel, SlackFailure(error).reason)
            return Result.RETRY  # not knowing is no reason to leave buttons behind
        if found is None:
            await self._store.release_card(claim)
            return Result.DONE
        ts, channel = found
        await self._store.confirm_card(claim, ts, channel=channel)
        log.info("Adopted the %s message an earlier attempt had posted", claim.kind)
        return await self.update(replace(claim, ts=ts, channel=channel), payload)

    async def _recover(self, claim: Card, payload: dict[str, Any]) -> Result:
        """Slack knows whether the earlier post arrived: adopt it, or post now."""
        found = await self._find_posted(claim)
        if found is not None:
            ts, channel = found
            await self._store.confirm_card(claim, ts, channel=channel)
            log.info("Adopted the %s message an earlier attempt had posted", claim.kind)
            return Result.DONE
        log.warning("Posting the %s message an earlier attempt had claimed", claim.kind)
        if claim.payload is not None:
            payload = json.loads(claim.payload)
        return await self._send(claim, payload)

    async def _find_posted(self, claim: Card) -> tuple[str, str] | None:
        """(ts, channel) of this card's message, or None when it is not there or Slack
        would not show the history (without the history scopes a rare duplicate beats a
        lost card)."""
        try:
            return await self._history_find(claim)
        except Exception as error:
            log.warning("Cannot read %s's history: %s", claim.channel, SlackFailure(error).reason)
        return None

    async def _history_find(self, claim: Card) -> tuple[str, str] | None:
        """(ts, channel) of this card's message in its channel (or its thread: a thread
        reply is not in the channel's history), found by the metadata it carries; None
        when it is not there. Raises when Slack would not show the history."""
        assert claim.created_at is not None
        oldest = f"{claim.created_at.timestamp() - CLOCK_TOLERANCE_SECONDS:.6f}"
        cursor = None
        # A DM claimed before its channel was known: history needs the channel's id.
        channel = claim.channel
        if is_user_id(channel):
            channel = await self.dm_channel(channel)
        where: dict[str, Any] = {"channel": channel, "oldest": oldest, "limit": 200}
        read: Callable[..., Awaitable[Any]] = self._slack.conversations_history
        if claim.thread_ts:
            read, where = self._slack.conversations_replies, where | {"ts": claim.thread_ts}
        for _ in range(HISTORY_PAGES):
            answer = await read(**where, cursor=cursor, include_all_metadata=True)
            found = next((m["ts"] for m in answer["messages"] if _shows(m, claim)), None)
            cursor = (answer.get("response_metadata") or {}).get("next_cursor")
            if found or not answer.get("has_more") or not cursor:
                return (found, channel) if found else None
        return None

    # Updating

    async def update(self, card: Card, payload: dict[str, Any]) -> Result:
        """Edit a posted card in place; a message deleted in Slack is not tried again."""
        assert card.ts is not None
        try:
            await self._slack.chat_update(channel=card.channel, ts=card.ts, **payload)
        except Exception as error:
            failure = SlackFailure(error)
            self._count(failure)
            log.warning("Could not update the %s card in %s: %s", card.kind, card.channel, failure)
            if not failure.transient:
                await self._store.fail_card(card, failure.reason)
            return failure.result
        if card.failure is not None:
            await self._store.confirm_card(card, card.ts)  # works again: clear the record
        self._metrics.cards_updated.inc()
        return Result.DONE

    async def dm_channel(self, slack_user_id: str) -> str:
        """The DM's channel id; opened once per person (`conversations.open` is Tier 3)."""
        channel = self._dm_channels.get(slack_user_id)
        if channel is None:
            answer = await self._slack.conversations_open(users=slack_user_id)
            channel = self._dm_channels[slack_user_id] = answer["channel"]["id"]
        return channel

    def _count(self, failure: SlackFailure) -> None:
        if failure.reason != "superseded":
            self._metrics.slack_errors.labels(failure.reason).inc()


def is_user_id(channel: str) -> bool:
    return channel[:1] in ("U", "W")


def updatable(card: Card) -> bool:
    """A posted card that is still there to edit."""
    gone = card.failure in GONE_MESSAGE_ERRORS
    return card.ts is not None and not card.is_one_off and not gone


def in_flight(card: Card) -> bool:
    """A card claimed and not yet known to be posted (no ts, nothing recorded against it)."""
    return card.ts is None and not card.is_one_off and card.failure is None


def _identity(card: Card) -> tuple[str, str, str, str]:
    return (card.workflow_id, card.request_id, card.channel, card.slot)


def _same_message(old: Card, new: Card) -> bool:
    return (old.channel, old.slot, old.kind) == (new.channel, new.slot, new.kind)


def _same_dm(old: Card, new: Card) -> bool:
    return old.kind == new.kind and (old.slack_user_id, old.slot) == (new.slack_user_id, new.slot)


def _shows(message: dict[str, Any], card: Card) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    shown = (_today(str(payload.get("workflow_id"))), str(payload.get("request_id")))
    # Cards posted before kinds and slots were recorded carry neither; a roundup's posted
    # before 0008 says "burst" (its workflow "~burst"), and its claim may too.
    kind = payload.get("kind", card.kind)
    same = LEGACY_CARD_KINDS.get(kind, kind) == card.kind and payload.get("slot", "") == card.slot
    mine = (_today(card.workflow_id), card.request_id)
    return metadata.get("event_type") == CARD_EVENT and shown == mine and same


def _today(workflow_id: str) -> str:
    return ROUNDUP if workflow_id == LEGACY_ROUNDUP else workflow_id
