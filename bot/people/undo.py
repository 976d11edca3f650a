"""The undo window: decisions that wait, undoable, before they reach Cflow.

A decision inside its workflow's window is stored by the Decider (bot.people.decisions),
and every card of its request shows "Approving as alice in 10 s" with Undo. Here:

- `cancel()`: an Undo. Only the clicker's, and only while no instance has started
  making it (the store deletes an unclaimed row of theirs, or finds nothing); the cards
  get their buttons back, and Cflow never hears of it.
- `run_due()`: one pass over what came due. Each decision is claimed in the store, made
  through `Decider.decide` with the clicker's own link, and deleted. The Decider re-reads
  the request under its hold, and the stored ref carries Cflow's `updatedAt`: a decision
  whose request changed meanwhile is refused (its clicker is told), and one made again
  after a crash between Cflow's answer and the delete finds the request moved on and
  makes no second call. A decision claimed by an instance that stopped beating is taken
  over. One whose window ended more than a minute ago (the bot was down) is not made:
  it is dropped, its cards get their buttons back and its clicker is told.
- `run()`: the passes, on every instance that serves Slack, each when the next window
  ends (a decision stored here wakes it), and at least every few seconds for those
  stored elsewhere or left by a stopped instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.text import escape
from bot.blocks.undo import read_undo
from bot.cflow import CflowClient, CflowError, Credentials, Request, Workflow
from bot.domain.errors import BusyError, DecisionError
from bot.domain.pending import moved_on, noun, too_late
from bot.domain.refs import RequestRef
from bot.people.decisions import Decider, Intent, Verb
from bot.people.home import HomeTab
from bot.store.contracts import LinkStore, LockStore, PendingStore, TrackingStore
from bot.store.records import Link, PendingDecision, request_lock
from bot.sync.liveness import Liveness
from bot.sync.publisher import Publisher

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
IDLE = 5.0  # seconds between passes with nothing due here: for other instances' windows
AT_ONCE = 4  # decisions made at once: each makes Cflow calls as its clicker
MAX_ATTEMPTS = 5  # passes a decision that keeps failing unexpectedly is tried in
NOT_YOURS = "Only the person who clicked can undo this decision; nothing was changed."
TOO_LATE = "Too late to undo: the decision is being made in Cflow now; the card will show it."
GONE = "Nothing to undo: this decision was made or undone already."


class UndoStore(PendingStore, LinkStore, LockStore, TrackingStore, Protocol):
    """The pending decisions, the clickers' links, the requests' holds and decisions."""


def _reader(ref: str) -> RequestRef:
    found = RequestRef.decode(ref)
    assert found is not None, "stored by the Decider from a valid ref"
    return found


class UndoWindows:
    def __init__(
        self,
        store: UndoStore,
        decider: Decider,
        publisher: Publisher,
        cflow: CflowClient,
        service: Credentials,
        slack: AsyncWebClient,
        home: HomeTab,
        liveness: Liveness,
        *,
        clock: Clock,
    ) -> None:
        """`clock` is the time windows end by (a step test's own); who is alive is read
        by the heartbeats' real time (bot.sync.liveness)."""
        self._store = store
        self._decider = decider
        self._publisher = publisher
        self._cflow = cflow
        self._service = service
        self._slack = slack
        self._home = home
        self._liveness = liveness
        self._clock = clock
        self._alarm = asyncio.Event()
        self._serial = asyncio.Lock()
        self._retrying: set[int] = set()  # claimed here, and to be tried again
        self.passes = 0  # completed passes: tests wait for them, as for poll cycles

    def wake(self) -> None:
        """A decision was stored here: the next pass comes when its window ends."""
        self._alarm.set()

    # An Undo

    async def cancel(self, user: str, value: str | None) -> tuple[str, list[PendingDecision]]:
        """Undo what `value` (an Undo button's) names, if `user` clicked it and it has not
        started: what to tell them, and what was undone (the cards show their buttons)."""
        which = read_undo(value)
        if which is None:
            return GONE, []
        kind, key = which
        batch_id, pending_id = (key, None) if kind == "b" else (None, int(key))
        undone = await self._store.cancel_pending(user, pending_id=pending_id, batch_id=batch_id)
        if not undone:
            found = await self._store.find_pending(pending_id=pending_id, batch_id=batch_id)
            if not found:
                return GONE, []
            return (NOT_YOURS if found[0].slack_user_id != user else TOO_LATE), []
        await asyncio.gather(*(self._restore(p) for p in undone))
        if len(undone) == 1:
            text = f"Undone: your {noun(undone[0].verb)} of #{escape(undone[0].request_id)}"
            return f"{text} never reached Cflow.", undone
        return f"Undone: none of these {len(undone)} requests was approved.", undone

    async def _restore(self, pending: PendingDecision) -> tuple[Workflow, Request] | None:
        """Re-render the request's cards as the service account reads it now."""
        try:
            workflow, request = await self._read(pending)
        except CflowError as error:
            log.warning("Cannot re-read %s/%s: %r", pending.workflow_id, pending.request_id, error)
            return None
        try:
            await self._publisher.refresh(workflow, request)
        except Exception:
            log.exception("Could not re-render %s/%s", pending.workflow_id, pending.request_id)
        return workflow, request

    async def _read(self, pending: PendingDecision) -> tuple[Workflow, Request]:
        workflow, request = await asyncio.gather(
            self._cflow.get_workflow(self._service, pending.workflow_id),
            self._cflow.get_request(self._service, pending.workflow_id, pending.request_id),
        )
        return workflow, request

    # The passes

    async def run(self, stop: asyncio.Event) -> None:
        """Pass after pass until `stop`; a failed pass is logged and the next one tries."""
        while not stop.is_set():
            self._alarm.clear()
            try:
                await self.run_due()
                wait = await self._until_next()
            except Exception:
                log.exception("A pass over the undo windows failed")
                wait = IDLE
            await _first_of(stop, self._alarm, wait)

    async def _until_next(self) -> float:
        due = await self._store.next_pending_due()
        if due is None:
            return IDLE
        return min(IDLE, max(0.0, (due - self._clock()).total_seconds()))

    async def run_due(self) -> int:
        """Make (or drop) every pending decision that came due; how many were taken."""
        async with self._serial:
            now = self._clock()
            alive_since = datetime.now(UTC) - self._liveness.grace
            me = self._liveness.instance_id
            claimed = await self._store.claim_pending(me, now, alive_since)
            slots = asyncio.Semaphore(AT_ONCE)

            async def one(pending: PendingDecision) -> str | None:
                async with slots:
                    return await self._settle(pending, now)

            lines = await asyncio.gather(*(one(p) for p in claimed))
            await self._tell_batches(claimed, lines)
            self.passes += 1
            return len(claimed)

    async def _settle(self, pending: PendingDecision, now: datetime) -> str | None:
        """Make it, or drop it; the Home tab's line for it (None: tried again later)."""
        assert pending.id is not None
        retried = pending.id in self._retrying
        if not retried and too_late(pending, now):
            return await self._drop(pending)
        try:
            link = await self._store.link_for(pending.slack_user_id)
        except Exception:
            link = None
        if link is None:
            await self._store.pending_done([pending.id])
            await self._restore(pending)
            text = "you are no longer linked to Cflow (/cflow link)"
            await self._dm(pending, f"{_yours(pending)} was not made: {text}.")
            return f"❌ #{escape(pending.request_id)}: not made, {text}."
        return await self._make(pending, link)

    async def _make(self, pending: PendingDecision, link: Link) -> str | None:
        assert pending.id is not None
        ref = _reader(pending.ref)
        verb: Verb = "approve" if pending.verb == "approve" else "reject"
        intent = Intent(ref, verb, comment=pending.comment)
        try:
            done = await self._decider.decide(pending.slack_user_id, link, intent, pending=pending)
        except BusyError:
            await self._free_stopped_hold(ref)
            self._again(pending)
            return None
        except DecisionError as refused:
            await self._store.pending_done([pending.id])
            self._retrying.discard(pending.id)
            text = await self._refused_text(pending, refused)
            if text:
                await self._dm(pending, text)
            return f"❌ #{escape(pending.request_id)}: {refused.text}"
        except Exception:
            log.exception("Making the pending decision %s failed", pending.id)
            if pending.attempts >= MAX_ATTEMPTS:
                return await self._drop(pending)
            self._again(pending)
            return None
        await self._store.pending_done([pending.id])
        self._retrying.discard(pending.id)
        return f"✅ #{escape(pending.request_id)}: {done}"

    def _again(self, pending: PendingDecision) -> None:
        """Left claimed here: the next pass takes it again, late or not."""
        assert pending.id is not None
        self._retrying.add(pending.id)
        self.wake()

    async def _free_stopped_hold(self, ref: RequestRef) -> None:
        """A request held by an instance that stopped (killed mid-decision) is released
        rather than left to lapse: the decision then finds what Cflow did, and says so."""
        lock = request_lock((ref.workflow_id, ref.request_id))
        holder = await self._store.lock_holder(lock)
        if holder and not self._liveness.is_alive(holder.split(":", 1)[0]):
            log.warning("Releasing %s, held by a stopped instance", lock)
            await self._store.unlock(lock, holder)

    async def _refused_text(self, pending: PendingDecision, refused: DecisionError) -> str | None:
        """What its clicker hears of a decision Cflow was not asked for, or None when a
        restart only interrupted it after it was made (its decision is recorded)."""
        if pending.attempts > 1:  # taken over: the first try may have reached Cflow
            key = (pending.workflow_id, pending.request_id)
            made = (await self._store.decisions_for([key])).get(key, [])
            if any(
                d.slack_user_id == pending.slack_user_id and d.at >= pending.created_at
                for d in made
            ):
                return None
            return (
                f"{_yours(pending)} was interrupted by a restart of the bot, and the request "
                "has moved on since (perhaps by your decision): check it in Cflow."
            )
        return f"{_yours(pending)} was not made when its undo window ended: {refused.text}"

    async def _drop(self, pending: PendingDecision) -> str:
        """Not made: the bot was down when its window ended. Its cards get their buttons
        back (or show what happened meanwhile) and its clicker is told."""
        assert pending.id is not None
        await self._store.pending_done([pending.id])
        self._retrying.discard(pending.id)
        seen = await self._restore(pending)
        if seen is not None and moved_on(seen[1], _reader(pending.ref)):
            text = (
                f"{_yours(pending)} may not have been made: the bot was down when its undo "
                "window ended, and the request has moved on since. Check it in Cflow."
            )
        else:
            text = (
                f"{_yours(pending)} was not made: the bot was down when its undo window "
                "ended. Decide again."
            )
        await self._dm(pending, text)
        log.info("Dropped the pending decision %s, due %s", pending.id, pending.due_at)
        return f"❌ #{escape(pending.request_id)}: not made, the bot was down; decide again."

    async def _dm(self, pending: PendingDecision, text: str) -> None:
        try:
            await self._slack.chat_postMessage(channel=pending.slack_user_id, text=text)
        except Exception as failure:
            log.warning("Could not tell %s %r (%r)", pending.slack_user_id, text, failure)

    async def _tell_batches(
        self, claimed: Sequence[PendingDecision], lines: Sequence[str | None]
    ) -> None:
        """A bulk approval's outcome, on its clicker's Home tab, once its batch is done."""
        batches: dict[tuple[str, str], list[str]] = {}
        for pending, line in zip(claimed, lines, strict=True):
            if pending.batch_id and line is not None:
                batches.setdefault((pending.slack_user_id, pending.batch_id), []).append(line)
        for (user, batch_id), told in batches.items():
            if await self._store.find_pending(batch_id=batch_id):
                continue  # some are tried again: the last pass tells
            head = f"*Approved from your Home tab* ({len(told)}):"
            await self._home.refresh(user, notice=[head, *told])


def _yours(pending: PendingDecision) -> str:
    return f"Your {noun(pending.verb)} of request #{escape(pending.request_id)}"


async def _first_of(stop: asyncio.Event, alarm: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less if `stop` or `alarm` is set meanwhile."""
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(alarm.wait())]
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED), seconds
            )
    finally:
        for wait in waits:
            wait.cancel()
