"""What a request card shows (`CardView`), and the decisions it tells of (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.blocks.names import person
from bot.blocks.text import aware
from bot.cflow.models import DRAFT, Request, Stage, Workflow
from bot.store.records import Decision

STATUS_LINES = {"approved": "✅ Approved", "completed": "✔️ Completed", DRAFT: "📝 Draft"}


ALL_DONE = frozenset({"approved", "completed"})


@dataclass(frozen=True)
class CardView:
    """Everything a request card shows; `notice` is bot-written mrkdwn and not escaped."""

    request: Request
    workflow: Workflow
    now: datetime
    decisions: Sequence[Decision] = ()
    cflow_url: str | None = None
    busy: str | None = None
    invite_to_link: bool = False
    invite_to_relink: bool = False  # their linked key stopped working: no buttons, relink
    notice: str | None = None
    actionable: bool = True  # False on a DM whose reader is not a reviewer of this stage
    away: Sequence[tuple[str, str]] = ()  # (reviewer's Cflow username, back when, as text)
    undo: str | None = None  # a decision in its undo window: the Undo button's value


def matches(decision: Decision, stage: Stage) -> bool:
    """Decisions name a stage by id or by name, as Cflow's `currentStage` does."""
    ref = decision.stage
    if not ref:
        return False
    return ref == stage.id or ref.casefold() == (stage.name or "").casefold()


def latest(
    decisions: Iterable[Decision], actions: Iterable[str], stage: Stage | None = None
) -> Decision | None:
    """The newest decision of one of `actions` (at `stage`, when given)."""
    wanted = set(actions)
    found = [d for d in decisions if d.action in wanted and (stage is None or matches(d, stage))]
    return max(found, key=lambda d: aware(d.at), default=None)


def by_line(decision: Decision) -> str:
    return f" by {person(decision.cflow_username)}" if decision.cflow_username else ""
