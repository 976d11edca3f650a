"""What changed in a request since the bot last published it.

The vocabulary the poller (which observes), the decisions (which act) and the publisher
(which brings Slack in line) share: an `Observation` of a request against what was
last published, the `Change` it amounts to, and the numbered `Event` it becomes.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum

from bot.cflow import Request, Workflow
from bot.domain.refs import updated_mark
from bot.store.records import Decision, RequestKey, TrackedRequest

log = logging.getLogger(__name__)


class Change(Enum):
    NEW = "new"  # pending, never published
    MOVED = "moved"  # pending at another stage, or handed to someone else
    REOPENED = "reopened"  # pending again after it had ended (sent back in Cflow)
    FINAL = "final"  # no longer pending (decided, completed or deleted)
    EDITED = "edited"  # same stage and reviewers, but changed in Cflow (e.g. its fields)
    RETRY = "retry"  # unchanged, but some Slack effect of its last event is due again
    SAME = "same"


ANNOUNCED = frozenset({Change.MOVED, Change.REOPENED, Change.FINAL})  # get a thread line


@dataclass(frozen=True)
class Observation:
    """A request as Cflow shows it now, against what the bot last published."""

    workflow: Workflow
    request: Request
    previous: TrackedRequest | None
    decision: Decision | None = None  # what the bot itself just did, if anything

    @property
    def key(self) -> RequestKey:
        return (self.workflow.id, self.request.id)

    def change(self, now: datetime | None = None) -> Change:
        before = self.previous
        if before is None:
            return Change.NEW if self.request.is_pending else Change.SAME
        was_pending = before.status == "pending"
        if not self.request.is_pending:
            return Change.FINAL if was_pending else self._retry_due(now)
        if not was_pending:
            return Change.REOPENED
        here = (self.request.current_stage, tuple(self.request.reviewers(self.workflow)))
        if here != (before.stage, before.reviewers) or self.decision is not None:
            return Change.MOVED
        if self.request.updated_at and updated_mark(self.request.updated_at) != updated_mark(
            before.updated_at
        ):
            return Change.EDITED
        return self._retry_due(now)

    def _retry_due(self, now: datetime | None) -> Change:
        retry_at = self.previous.retry_at if self.previous is not None else None
        if retry_at is None or (now is not None and retry_at > now):
            return Change.SAME
        return Change.RETRY

    def tracked(self, seq: int = 0, visit: int = 0) -> TrackedRequest:
        return TrackedRequest(
            workflow_id=self.workflow.id,
            request_id=self.request.id,
            status=self.request.status or "pending",
            stage=self.request.current_stage,
            reviewers=tuple(self.request.reviewers(self.workflow)),
            updated_at=self.request.updated_at,
            seq=seq,
            visit=visit,
        )


@dataclass(frozen=True)
class Event:
    """One change being published: its number, and the stage visit it belongs to."""

    obs: Observation
    change: Change
    seq: int
    visit: int

    @classmethod
    def of(cls, obs: Observation, change: Change) -> Event:
        before = obs.previous
        if change is Change.RETRY:
            assert before is not None
            return cls(obs, change, before.seq, before.visit)
        seq = (before.seq if before else 0) + 1
        new_stage = before is None or before.stage != obs.request.current_stage
        entered = change in (Change.NEW, Change.REOPENED) or new_stage
        visit = seq if entered else before.visit  # type: ignore[union-attr]
        return cls(obs, change, seq, visit)

    @property
    def dm_slot(self) -> str:
        """Each visit of a stage DMs its reviewers anew (a post notifies; an edit does not)."""
        return str(self.visit) if self.visit else ""


RETRY_BASE_SECONDS = 5.0
RETRY_MAX_SECONDS = 600.0


def retry_later(event: Event, tracked: TrackedRequest, now: datetime) -> TrackedRequest:
    """`tracked`, due again after a jittered backoff that doubles with each retry of the
    same change (5 s, 10 s … up to 10 minutes)."""
    attempts = (event.obs.previous.attempts if event.obs.previous else 0) + 1
    if event.change is not Change.RETRY:
        attempts = 1
    ceiling = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** (attempts - 1))
    delay = random.uniform(ceiling / 2, ceiling)
    log.info("Some Slack effects of %s will be retried in %.0f s", event.obs.key, delay)
    return replace(tracked, retry_at=now + timedelta(seconds=delay), attempts=attempts)
