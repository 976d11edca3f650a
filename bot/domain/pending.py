"""The undo window's rules (pure): which pending decision a request's cards show, how
long it has left, and when one is too old to be made.

A decision inside its window is stored (bot.store.records.PendingDecision) and made when
the window ends (bot.people.undo). While it waits, every card of its request shows
"Approving as alice in 10 s" with an Undo button instead of Approve and Reject, as long
as the request is still where the click saw it; a request that moved on meanwhile shows
what it is now, and the pending decision is refused when its time comes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Final

from bot.cflow.models import Request
from bot.domain.refs import RequestRef, updated_mark
from bot.store.records import PendingDecision

# A decision whose window ended longer ago than this (the bot was down) is not made.
LATE_GRACE: Final = timedelta(seconds=60)
ACTIVE = {"approve": "Approving", "reject": "Rejecting"}
NOUNS = {"approve": "approval", "reject": "rejection"}


def moved_on(request: Request, ref: RequestRef) -> bool:
    """Whether the request is no longer where the clicked card showed it.

    The stage alone is not enough (a request can loop back to a stage, and two stages
    can share a name): where the card knew Cflow's `updatedAt`, any change since counts.
    """
    if not request.is_pending or request.current_stage != ref.stage:
        return True
    return ref.updated is not None and ref.updated != updated_mark(request.updated_at)


def waiting(pending: Iterable[PendingDecision], request: Request) -> PendingDecision | None:
    """The decision that still waits out its window on `request` as it is now: unclaimed
    (one being made shows as the decision does), and clicked on this very version."""
    for candidate in pending:
        ref = RequestRef.decode(candidate.ref)
        if candidate.claimed_by is None and ref is not None and not moved_on(request, ref):
            return candidate
    return None


def seconds_left(due_at: datetime, now: datetime) -> int:
    return max(0, math.ceil((due_at - now).total_seconds()))


def window_line(pending: PendingDecision, now: datetime) -> str:
    """ "Approving as alice in 10 s" (plain text: the caller escapes it)."""
    who = f" as {pending.cflow_username}" if pending.cflow_username else ""
    return f"{ACTIVE.get(pending.verb, 'Deciding')}{who} in {seconds_left(pending.due_at, now)} s"


def too_late(pending: PendingDecision, now: datetime) -> bool:
    """Whether its window ended more than a minute ago: the bot was down then, and a
    decision made now would surprise the person who clicked."""
    return pending.due_at < now - LATE_GRACE


def noun(verb: str) -> str:
    return NOUNS.get(verb, "decision")
